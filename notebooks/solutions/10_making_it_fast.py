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
# # 10 · Solutions to lesson 10
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/10_making_it_fast.ipynb)
#
# Worked solutions to the exercises of [lesson 10](../10_making_it_fast.ipynb). Try them yourself first:
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
from vit_lessons.lesson import setup, pick
device = setup(seed=0)

import statistics

import torch

from vit_lessons import ViTConfig, VisionTransformer
from vit_lessons.bench import contestants
from vit_lessons.exercises import check_attention_memory, check_paired_ratio, check_step_flops

# %% [markdown]
# ## Exercise 10.1 · FLOPs of a step
#
# Every term is a matrix product, $2abc$ FLOPs for an $(a\times b)(b\times c)$ product. The blocks see
# $n = N + 1$ tokens, the class token included; the patch embedding sees the $N$ patches only. The
# backward pass doubles every product except the patch embedding's, whose input (the images) needs no
# gradient.


# %%
def my_step_flops(cfg, train):
    n, D, M, L = cfg.num_tokens, cfg.embed_dim, cfg.mlp_hidden_dim, cfg.depth  # n = N + 1 tokens
    patch_embed = 2 * cfg.num_patches * cfg.patch_size**2 * cfg.in_chans * D  # the N patches only
    block = 2 * n * D * 3 * D + 2 * n * n * D + 2 * n * n * D + 2 * n * D * D + 2 * (2 * n * D * M)
    forward = patch_embed + L * block + 2 * D * cfg.num_classes
    return 3 * forward - patch_embed if train else forward


ok = check_step_flops(my_step_flops)

# %% [markdown]
# ## Exercise 10.2 · A ratio measured in turns
#
# A's speed over B's is B's seconds over A's. Dividing within a round compares the two under the same
# load; the median then ignores the odd round.


# %%
def my_paired_ratio(seconds_a, seconds_b):
    return statistics.median(b / a for a, b in zip(seconds_a, seconds_b))


ok = check_paired_ratio(my_paired_ratio)

# %% [markdown]
# ## Exercise 10.3 · Memory that attention keeps
#
# Each of the $L$ blocks keeps a $(B, h, N + 1, N + 1)$ tensor of probabilities, the class token included.


# %%
def my_attention_memory(cfg, batch, bytes_per_number):
    n = cfg.num_tokens  # N + 1
    return cfg.depth * batch * cfg.num_heads * n * n * bytes_per_number


ok = check_attention_memory(my_attention_memory)

# %% [markdown]
# Compared with a measurement: the explicit path's peak minus the SDPA path's peak, for one training step
# of the Fashion-MNIST model with 4-pixel patches (50 tokens), should be close to the probabilities alone
# (SDPA keeps a little of its own, and the two paths differ in a few smaller temporaries).

# %%
def make_train_step(model, x, y):
    """One training step on a fixed batch as a function of nothing: forward, cross-entropy, backward, AdamW."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)

    def step():
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step, opt


cfg = ViTConfig.fashion_mnist_cpu(patch_size=4)
peaks = {}
for fused in (False, True):
    torch.manual_seed(0)
    m = VisionTransformer(cfg, fused_attn=fused)
    x, y = contestants.batch_for(cfg, 64, "cpu")
    step, opt = make_train_step(m, x, y)
    step()
    peaks[fused] = contestants.peak_memory(step, m, opt, (x, y), "cpu")
predicted = my_attention_memory(cfg, 64, 4) / 2**20
measured = peaks[False] - peaks[True]
print(f"predicted {predicted:.1f} MB of probabilities; measured difference of the peaks {measured:.1f} MB")
assert 0.5 * predicted < measured < 1.5 * predicted
