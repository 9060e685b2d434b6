# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Solutions to lesson 03
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/03_attention.ipynb)
#
# Worked solutions to the exercises of [lesson 03](../03_attention.ipynb). Try them yourself first:
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
import math

import torch
import torch.nn.functional as F
from vit_lessons.exercises import (check_masked_attention, check_merge_heads, check_multi_head_attention,
                                   check_scaled_dot_product, check_split_heads)

# %% [markdown]
# ## Exercise 03.1 · Scaled dot-product attention
#
# Scores against every key, scaled by $1/\sqrt d$ where $d$ is the width of q and k; softmax along
# the keys (the last dim) so each query's weights sum to 1; then the weighted sum of the values.

# %%
def my_attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v; q, k: (B, N + 1, d), v: (B, N + 1, d_v) -> (B, N + 1, d_v)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, N + 1, N + 1)
    return scores.softmax(dim=-1) @ v  # (B, N + 1, d_v)


ok = check_scaled_dot_product(my_attention)

# %% [markdown]
# ## Exercise 03.2 · Split the heads
#
# Head $i$ owns features $i\cdot d$ to $(i+1)\cdot d - 1$, so the feature dim unflattens as (h, d),
# h first. Then the head dim moves in front of the tokens.

# %%
def my_split_heads(x, num_heads):
    """(B, N + 1, D) -> (B, h, N + 1, d)."""
    B, n, D = x.shape
    return x.view(B, n, num_heads, D // num_heads).transpose(1, 2)  # (B, N + 1, h, d) -> (B, h, N + 1, d)


ok = check_split_heads(my_split_heads)

# %% [markdown]
# ## Exercise 03.3 · Merge the heads
#
# The inverse: tokens back in front of the heads, then (h, d) flattened into D. `transpose` makes
# the tensor non-contiguous, so use `reshape` (or `.contiguous().view`).

# %%
def my_merge_heads(x):
    """(B, h, N + 1, d) -> (B, N + 1, D)."""
    B, h, n, d = x.shape
    return x.transpose(1, 2).reshape(B, n, h * d)  # (B, N + 1, h, d) -> (B, N + 1, D)


ok = check_merge_heads(my_merge_heads)

# %% [markdown]
# ## Exercise 03.4 · Multi-head self-attention as a function
#
# One linear layer gives (B, N + 1, 3D), laid out as (3, h, d); each head is scaled by its own width
# $d = D/h$.

# %%
def my_multi_head_attention(x, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads):
    """Fused-qkv multi-head self-attention: (B, N + 1, D) -> (B, N + 1, D)."""
    B, n, D = x.shape
    d = D // num_heads
    qkv = F.linear(x, qkv_weight, qkv_bias).view(B, n, 3, num_heads, d)  # (B, N + 1, 3, h, d)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, h, N + 1, d)
    out = (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(-1) @ v  # (B, h, N + 1, d)
    out = out.transpose(1, 2).reshape(B, n, D)  # (B, N + 1, D)
    return F.linear(out, proj_weight, proj_bias)  # (B, N + 1, D)


ok = check_multi_head_attention(my_multi_head_attention)

# %% [markdown]
# ## Exercise 03.5 · Attention with a padding mask
#
# A padded key must get weight 0 and the real keys' weights must still sum to 1. Setting its score
# to $-\infty$ before the softmax does both ($e^{-\infty} = 0$, and the softmax renormalises over
# what is left). The mask is per key, so it is broadcast over the rows: `(B, 1, n)`. Zeroing the
# weights after the softmax instead leaves rows that no longer sum to 1.

# %%
def my_masked_attention(q, k, v, key_padding_mask):
    """q, k: (B, n, d), v: (B, n, d_v), key_padding_mask: (B, n) True = padding -> (B, n, d_v)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, n, n)
    scores = scores.masked_fill(key_padding_mask[:, None, :], float("-inf"))  # (B, n, n): padded keys' columns
    return scores.softmax(dim=-1) @ v  # (B, n, d_v)


ok = check_masked_attention(my_masked_attention)
