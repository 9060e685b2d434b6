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
# # 07 · Solutions to lesson 07
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/07_looking_inside.ipynb)
#
# Worked solutions to the exercises of [lesson 07](../07_looking_inside.ipynb). Try them yourself first:
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

from vit_lessons.exercises import check_cls_attention_map, check_mean_distance, check_rollout, check_window_attention
from vit_lessons.fig7 import mean_attention_distance, patch_distances

# %% [markdown]
# ## Exercise 07.1 · The class token's attention map
#
# Average the heads, take the class token's row, drop its own column, lay the rest out on the grid.

# %%
def my_cls_attention_map(attn, grid_size):
    row = attn.mean(dim=1)[:, 0, 1:]  # (B, N): heads averaged, class token as the query, patches as keys
    return row.reshape(attn.shape[0], grid_size, grid_size)  # (B, gh, gw)


ok = check_cls_attention_map(my_cls_attention_map)

# %% [markdown]
# ## Exercise 07.2 · Attention rollout
#
# Identity for the residual path, rows renormalised, the later block on the left.

# %%
def my_rollout(attentions):
    B, _, n, _ = attentions[0].shape  # n = N + 1 tokens
    eye = torch.eye(n, dtype=attentions[0].dtype)
    result = eye.expand(B, n, n)  # (B, N + 1, N + 1)
    for a in attentions:
        m = a.mean(dim=1) + eye  # (B, N + 1, N + 1)
        m = m / m.sum(dim=-1, keepdim=True)
        result = m @ result  # (B, N + 1, N + 1)
    return result


ok = check_rollout(my_rollout)

# %% [markdown]
# ## Exercise 07.3 · Mean attention distance
#
# Patch-to-patch weights, renormalised per query, times the distances between patch centres in pixels.

# %%
def my_mean_distance(attn, grid_size, patch_size):
    w = attn[..., 1:, 1:]  # (B, h, N, N): the class token has no place in the image
    w = w / w.sum(dim=-1, keepdim=True)
    d = patch_distances(grid_size, patch_size).to(w.dtype)  # (N, N) pixels
    return (w * d).sum(dim=-1).mean(dim=(0, 2))  # (h,)


ok = check_mean_distance(my_mean_distance)

# %% [markdown]
# ## Exercise 07.4 · A head with a locality prior
#
# A square window of Chebyshev radius `radius` around each patch, itself included, uniform inside.

# %%
def my_window_attention(grid_size, radius):
    r, c = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    pos = torch.stack([r.flatten(), c.flatten()], dim=1)  # (N, 2): row-major, as patchify orders them
    near = ((pos[:, None] - pos[None]).abs().amax(dim=-1) <= radius).float()  # (N, N)
    return near / near.sum(dim=-1, keepdim=True)


ok = check_window_attention(my_window_attention)
grid, patch = 4, 7  # the lesson's model: 28x28 images in 7x7 patches
uniform = float(patch_distances(grid, patch).mean())
for radius in (1, 2):
    w = my_window_attention(grid, radius)  # (N, N)
    d = mean_attention_distance([w[None, None]], grid, patch)  # (1, 1)
    print(f"window radius {radius}: mean attention distance {float(d):.2f} px (uniform: {uniform:.2f} px)")

# %% [markdown]
# A radius-1 window (a 3×3 neighbourhood, like a 3×3 convolution on the patch grid) keeps the distance well
# below uniform attention's; with radius 2 the window already covers most of a 4×4 grid, and the distance
# comes close to uniform. Compare both with the trained heads of lesson 07: the most local trained head
# (block 1 of the learned-position model) looks closer than a radius-1 window.
