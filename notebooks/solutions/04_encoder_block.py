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
# # 04 · Solutions to lesson 04
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/04_encoder_block.ipynb)
#
# Worked solutions to the exercises of [lesson 04](../04_encoder_block.ipynb). Try them yourself first:
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

import torch
from torch.utils.flop_counter import FlopCounterMode

from vit_lessons.blocks import Block
from vit_lessons.exercises import check_block_cost, check_drop_path, check_layer_norm, check_layerscale_block

# %% [markdown]
# ## Exercise 04.1 · LayerNorm by hand (warm-up)
#
# Mean and *biased* variance over the last dim, $\epsilon$ inside the square root, then the learned
# scale and shift.

# %%
def my_layer_norm(x, weight, bias, eps=1e-6):
    """(..., D) -> (..., D), normalised per token."""
    mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), divides by D
    return (x - mu) / torch.sqrt(var + eps) * weight + bias


ok = check_layer_norm(my_layer_norm)

# %% [markdown]
# ## Exercise 04.2 · A block's parameters and FLOPs, predicted
#
# Parameters: two LayerNorms ($2D$ each), qkv ($3D^2 + 3D$), the output projection ($D^2 + D$), the MLP
# ($DH + H$ and $HD + D$ with $H$ hidden units); with $H = 4D$ that is lesson 04's $12D^2 + 13D$.
#
# FLOPs on $n$ tokens: a Linear from $a$ to $b$ is $n \cdot a \cdot b$ multiply-adds, $2nab$ FLOPs, so qkv, proj,
# fc1 and fc2 cost $2n(3D^2 + D^2 + 2DH)$; attention's two $n \times n$ products cost $2n^2D$ each, all heads
# together (lesson 03, §3.6). The number of heads appears nowhere: the heads split $D$, they add nothing.

# %%
def my_block_cost(dim, num_heads, mlp_ratio, tokens):
    """(parameters, FLOPs of one forward on one sequence) of a pre-norm block; num_heads does not matter."""
    D, H, n = dim, int(dim * mlp_ratio), tokens
    params = 2 * (2 * D) + (3 * D * D + 3 * D) + (D * D + D) + (D * H + H) + (H * D + D)
    flops = 2 * n * (3 * D * D + D * D + 2 * D * H) + 2 * (2 * n * n * D)  # linear layers + the two n x n products
    return params, flops


ok = check_block_cost(my_block_cost)

# %% [markdown]
# How the share of the $n^2$ products grows with the sequence, for ViT-B/16's block (predicted), and one
# point counted by PyTorch's FLOP counter on the meta device (shapes only, no memory):

# %%
for n in (50, 197, 577, 1025):  # ViT-B at 224 px with P = 32 and 16, and at 384 px and 512 px with P = 16
    params, flops = my_block_cost(768, 12, 4.0, n)
    share = 4 * n * n * 768 / flops  # attention's two n x n products
    print(f"n = {n:5d}: {flops / 1e9:6.2f} GFLOPs per block, {share:4.0%} in attention's n x n products")
with torch.device("meta"):
    blk, x = Block(768, 12, 4.0, fused_attn=False), torch.zeros(1, 577, 768)
with FlopCounterMode(display=False) as counter, torch.no_grad():
    blk(x)
assert counter.get_total_flops() == my_block_cost(768, 12, 4.0, 577)[1]
print("counted at n = 577:", f"{counter.get_total_flops() / 1e9:.2f} GFLOPs")

# %% [markdown]
# ## Exercise 04.3 · LayerScale (CaiT)
#
# Only the branches change: each one's output is multiplied, channel by channel, by its own learned vector before
# the "+". Multiplying by a (D,) vector is multiplying by the diagonal matrix $\mathrm{diag}(\gamma)$ of
# CaiT's equations; the stream and the branches' inputs are untouched.

# %%
def my_layerscale_block(block, x, gamma1, gamma2):
    """x + diag(gamma1) attn(norm1(x)), then x + diag(gamma2) mlp(norm2(x)); gammas (D,)."""
    x = x + gamma1 * block.attn(block.norm1(x))  # (B, N + 1, D)
    return x + gamma2 * block.mlp(block.norm2(x))  # (B, N + 1, D)


ok = check_layerscale_block(my_layerscale_block)

# %% [markdown]
# Started at a small $\gamma$, a deep stack begins close to the identity: a stack of 24 blocks with
# PyTorch's default initialisation changes its input by far less with $\gamma = 10^{-5}$ (CaiT's start at
# depth 24) than without LayerScale.

# %%
torch.manual_seed(0)
stack = [Block(64, 4).eval() for _ in range(24)]
x0 = torch.randn(2, 17, 64)  # (B, N + 1, D)
with torch.no_grad():
    for gamma in (1.0, 1e-1, 1e-5):
        x = x0
        for blk in stack:
            x = my_layerscale_block(blk, x, torch.full((64,), gamma), torch.full((64,), gamma))
        print(f"gamma {gamma:g}: 24 blocks change the input by {(x - x0).norm() / x0.norm():.2e} of its size")

# %% [markdown]
# ## Exercise 04.4 · Stochastic depth for any residual branch
#
# One keep-or-drop decision per sample: the mask has the batch dimension and a 1 for every other
# dimension, so it broadcasts over tokens and features, or over channels, height and width. Keeping with
# probability $1 - p$ and dividing by $1 - p$ leaves the expected output equal to `x`, which is why
# nothing changes at test time.

# %%
def my_drop_path(x, p, training):
    """Zero the whole branch of each sample with probability p; (B, ...) -> (B, ...)."""
    if not training or p == 0:
        return x
    mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # (B, 1, ..., 1): one decision per sample
    keep = (torch.rand(mask_shape, device=x.device) >= p).to(x.dtype)  # (B, 1, ..., 1)
    return x * keep / (1 - p)  # same shape as x


ok = check_drop_path(my_drop_path)
