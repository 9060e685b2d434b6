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
# # 01 · Solutions to lesson 01
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/01_patches.ipynb)
#
# Worked solutions to the exercises of [lesson 01](../01_patches.ipynb). Try them yourself first:
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
from torch import nn
import torch.nn.functional as F
from einops import rearrange
from vit_lessons.exercises import (check_linear_to_conv, check_num_tokens, check_overlapping_patches, check_patchify,
                                   check_unpatchify)

# %% [markdown]
# ## Exercise 01.1 · Patchify by hand
#
# Split each spatial axis into (grid, patch), bring the two grid axes to the front and the two patch
# axes plus the channels to the back, then flatten both groups.

# %%
def my_patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C), patches row by row, each flattened as (p1 p2 c)."""
    B, C, H, W = x.shape
    P = patch_size
    x = x.reshape(B, C, H // P, P, W // P, P)  # (B, C, H/P, p1, W/P, p2)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, H/P, W/P, p1, p2, C)
    return x.reshape(B, (H // P) * (W // P), P * P * C)  # (B, N, P*P*C)


ok = check_patchify(my_patchify)

# %% [markdown]
# ## Exercise 01.2 · Count the tokens
#
# $N = \frac{H}{P}\cdot\frac{W}{P}$ patches, plus one class token when the model has one.

# %%
def my_num_tokens(img_size: int, patch_size: int, class_token: bool = True) -> int:
    """Sequence length N for a square image: patches plus the class token."""
    grid = img_size // patch_size  # patches per side
    return grid * grid + int(class_token)


ok = check_num_tokens(my_num_tokens)

# %% [markdown]
# ## Exercise 01.3 · Unpatchify
#
# The same steps as `my_patchify`, backwards: unflatten, invert the permutation, merge.

# %%
def my_unpatchify(patches: torch.Tensor, patch_size: int, channels: int, height: int, width: int) -> torch.Tensor:
    """(B, N, P*P*C) -> (B, C, H, W), the inverse of my_patchify."""
    B = patches.shape[0]
    P, C = patch_size, channels
    x = patches.reshape(B, height // P, width // P, P, P, C)  # (B, H/P, W/P, p1, p2, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, H/P, p1, W/P, p2)
    return x.reshape(B, C, height, width)  # (B, C, H, W)


ok = check_unpatchify(my_unpatchify)

# %% [markdown]
# ## Exercise 01.4 · A Linear layer as a Conv2d
#
# The Linear weight is (D, P·P·C) with inputs ordered (p1 p2 c); a Conv2d kernel is (D, C, P, P).
# Unflatten to (D, P, P, C), then move C to the front.

# %%
def my_linear_to_conv(linear: nn.Linear, patch_size: int, in_chans: int) -> nn.Conv2d:
    """A Conv2d (kernel = stride = P) that computes linear(patchify(x)) for every patch."""
    D, P, C = linear.out_features, patch_size, in_chans
    conv = nn.Conv2d(C, D, kernel_size=P, stride=P)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(D, P, P, C).permute(0, 3, 1, 2))  # (D, C, P, P)
        conv.bias.copy_(linear.bias)
    return conv


ok = check_linear_to_conv(my_linear_to_conv)

# %% [markdown]
# ## Exercise 01.5 · Overlapping patches
#
# `F.unfold` already slides a window with any stride; with stride $S < P$ neighbouring windows
# share pixels and there are $((H-P)/S + 1)\cdot((W-P)/S + 1)$ of them. What is left is lesson 01's
# way 3: windows first, each reordered from `(c p1 p2)` to `(p1 p2 c)`. (Overlapping patches are one
# of the "locality" ideas lesson 09 tries for small datasets.)

# %%
def my_overlapping_patches(x: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): P x P windows every `stride` pixels, row by row, each (p1 p2 c)."""
    cols = F.unfold(x, kernel_size=patch_size, stride=stride)  # (B, C*P*P, N)
    cols = cols.transpose(1, 2)  # (B, N, C*P*P), each window still (c p1 p2)
    return rearrange(cols, "b n (c p1 p2) -> b n (p1 p2 c)", p1=patch_size, p2=patch_size)  # (B, N, P*P*C)


ok = check_overlapping_patches(my_overlapping_patches)
