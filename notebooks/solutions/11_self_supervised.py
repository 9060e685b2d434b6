# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.0
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Solutions to lesson 11
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/11_self_supervised.ipynb)
#
# Worked solutions to the exercises of [lesson 11](../11_self_supervised.ipynb). Try them yourself first:
# each check below says what is wrong when an answer is not right yet.

# %%
# Colab: install the course package and what the lessons import (no Jupyter or test tools);
# elsewhere `make lab` already did.
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vit-lessons @ git+https://github.com/vit-from-scratch/vit-from-scratch"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
from vit_lessons.lesson import setup
device = setup(seed=0)

import torch
import torch.nn.functional as F

from vit_lessons.exercises import check_encoder_flops, check_grid_masking, check_knn_predict, check_random_masking

# %% [markdown]
# ## Exercise 11.1 · Random masking (warm-up)
#
# One uniform number per patch decides the order; the first $K$ patches of that order stay visible. The mask
# is written in the shuffled order (zeros first) and then put back into patch order with `ids_restore`.

# %%
def my_random_masking(batch, num_patches, mask_ratio, generator):
    k = round(num_patches * (1 - mask_ratio))  # patches each image keeps
    noise = torch.rand(batch, num_patches, generator=generator)  # (B, N)
    shuffle = noise.argsort(dim=1)  # (B, N): kept patches first
    restore = shuffle.argsort(dim=1)  # undoes the shuffle
    mask = torch.ones(batch, num_patches)
    mask[:, :k] = 0
    return shuffle[:, :k], mask.gather(1, restore), restore


ok = check_random_masking(my_random_masking)

# %% [markdown]
# ## Exercise 11.2 · Grid masking
#
# The paper's grid-wise sampling (He et al. 2021, Table 1f, drawn in its Fig. 6) keeps one patch of every 2×2
# block. Written in the package's conventions — kept indices, a mask with 1 for removed patches, and the
# argsort of an order that lists the kept patches first — it plugs into `MaskedAutoencoder.encode` and
# `forward_decoder` unchanged. The paper found it easier to reconstruct than random masking and worse for
# representations (fine-tuning 84.0% against 84.9%, linear probing 66.0% against 73.5%): a regular grid lets
# the decoder interpolate from neighbours, so the encoder learns less.

# %%
def my_grid_masking(batch, grid_size):
    g = grid_size
    keep = [r * g + c for r in range(0, g, 2) for c in range(0, g, 2)]  # top-left of every 2x2 block
    order = keep + [i for i in range(g * g) if i not in keep]  # kept first, then the removed ones
    shuffle = torch.tensor(order).repeat(batch, 1)  # (B, N): the same pattern for every image
    restore = shuffle.argsort(dim=1)
    mask = torch.ones(batch, g * g)
    mask[:, keep] = 0
    return shuffle[:, :len(keep)], mask, restore


ok = check_grid_masking(my_grid_masking)

# %% [markdown]
# ## Exercise 11.3 · The encoder's share of the compute
#
# **The prediction, reasoned.** The course model's encoder sees $n = 17$ tokens unmasked and $n = 5$ at 75%
# masking. Per block, the linear layers cost $n(4D^2 + 2 D \cdot 2D) = 8nD^2$ multiply-adds ($D = 64$, an MLP
# $2D$ wide) and attention's two products $2n^2 D$. With $D = 64$ the linear part dominates
# ($8D = 512 \gg 2n = 34$), so the cut is about $17/5 = 3.4$, a little more because the $n^2$ part shrinks by
# $(17/5)^2$: about 3.56.

# %%
my_flops_prediction = 3.5  # 17 tokens -> 5, mostly per-token work, reasoned above


def my_encoder_flops(cfg, mask_ratio):
    N = (cfg.img_size // cfg.patch_size) ** 2  # patches
    n = (N if mask_ratio == 0 else round(N * (1 - mask_ratio))) + 1  # visible patches and the class token
    D, h = cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio)
    return cfg.depth * (n * (4 * D * D + 2 * D * h) + 2 * n * n * D)


ok = check_encoder_flops(my_encoder_flops)

# %% [markdown]
# ## Exercise 11.4 · A k-nearest-neighbour probe
#
# A probe with nothing to fit: each test vector looks up its $k$ most similar training vectors (cosine
# similarity, so only the direction counts) and they vote for their labels, each with its similarity.

# %%
def my_knn_predict(train_feats, train_labels, test_feats, k, num_classes):
    a, b = F.normalize(train_feats, dim=1), F.normalize(test_feats, dim=1)
    sim, idx = (b @ a.T).topk(k, dim=1)  # (T, k): the nearest training vectors
    votes = torch.zeros(len(test_feats), num_classes, dtype=sim.dtype)
    votes.scatter_add_(1, train_labels[idx], sim)  # each neighbour votes with its similarity
    return votes.argmax(dim=1)


ok = check_knn_predict(my_knn_predict)
