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
import math

import torch
from vit_lessons.exercises import (check_block_params, check_drop_path, check_gelu, check_layer_norm,
                                   check_pre_norm_block)

# %% [markdown]
# ## Exercise 04.1 · LayerNorm by hand
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
# ## Exercise 04.2 · GELU
#
# $\Phi(x) = \tfrac12\left(1 + \mathrm{erf}(x/\sqrt2)\right)$ is the standard normal CDF.

# %%
def my_gelu(x):
    """Exact GELU, x * Phi(x)."""
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


ok = check_gelu(my_gelu)

# %% [markdown]
# ## Exercise 04.3 · The pre-norm block
#
# Two residual updates; each branch reads a normalised copy of the stream, the stream itself is
# never normalised.

# %%
def my_block_forward(block, x):
    """Paper Eq. 2-3: (B, N + 1, D) -> (B, N + 1, D)."""
    x = x + block.attn(block.norm1(x))  # z' = MSA(LN(z)) + z
    x = x + block.mlp(block.norm2(x))  # z = MLP(LN(z')) + z'
    return x


ok = check_pre_norm_block(my_block_forward)

# %% [markdown]
# ## Exercise 04.4 · Parameters of a block
#
# Two LayerNorms ($2D$ each), qkv ($3D^2 + 3D$), the output projection ($D^2 + D$), and the MLP
# ($DH + H$ and $HD + D$ with $H$ hidden units). With $H = 4D$ that is $12D^2 + 13D$.

# %%
def my_block_params(dim, mlp_ratio=4.0):
    """Parameters of one pre-norm encoder block."""
    hidden = int(dim * mlp_ratio)
    norms = 2 * (2 * dim)
    attn = (3 * dim * dim + 3 * dim) + (dim * dim + dim)
    mlp = (dim * hidden + hidden) + (hidden * dim + dim)
    return norms + attn + mlp


ok = check_block_params(my_block_params)
assert my_block_params(768) == 12 * 768**2 + 13 * 768 == 7_087_872

# %% [markdown]
# ## Exercise 04.5 · Stochastic depth for any residual branch
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
