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
# # 00 · Solutions to lesson 00
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/00_setup_and_data.ipynb)
#
# Worked solutions to the exercises of [lesson 00](../00_setup_and_data.ipynb). Try them yourself first:
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
import numpy as np
import torch
from vit_lessons.exercises import check_channel_stats, check_normalize, check_streaming_stats, check_to_tensor

# %% [markdown]
# ## Exercise 00.1 · Per-channel statistics
#
# Scale to $[0, 1]$ first, then reduce over every dim except the channels: batch, height and width.
# `Tensor.std` is the sample standard deviation (divides by $n-1$); with millions of pixels the
# difference from the population value is negligible, and the check accepts both.

# %%
def my_channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (B, C, H, W) -> (mean, std), each (C,), in [0, 1] units."""
    x = images.float() / 255  # (B, C, H, W) in [0, 1]
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))  # (C,), (C,)


ok = check_channel_stats(my_channel_stats)

# %% [markdown]
# ## Exercise 00.2 · Normalise a batch
#
# `mean` and `std` have one value per channel; shaped `(C, 1, 1)` they broadcast over height and width.
# Left as `(C,)` they would line up with the *last* dim, the width, which only goes unnoticed when
# $W = C$ (the check uses such a batch on purpose).

# %%
def my_normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float (B, C, H, W), (x / 255 - mean) / std per channel."""
    m = torch.tensor(mean).view(-1, 1, 1)  # (C, 1, 1)
    s = torch.tensor(std).view(-1, 1, 1)  # (C, 1, 1)
    return (images.float() / 255 - m) / s  # (B, C, H, W)


ok = check_normalize(my_normalize)

# %% [markdown]
# ## Exercise 00.3 · Your own ToTensor
#
# `permute` moves axes; `reshape` would keep the memory order and scramble the colours across pixels.

# %%
def my_to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) array -> float (C, H, W) tensor in [0, 1], like torchvision's ToTensor."""
    t = torch.from_numpy(array)  # (H, W, C)
    return t.permute(2, 0, 1).float() / 255  # (C, H, W)


ok = check_to_tensor(my_to_tensor)

# %% [markdown]
# ## Exercise 00.4 · Statistics of a dataset too big for memory
#
# Keep three running totals per channel while the batches stream past: the count $n$, the sum
# $\sum x$ and the sum of squares $\sum x^2$. Then $\mu = \sum x / n$ and
# $\sigma^2 = (\sum x^2 - n\mu^2)/(n - 1)$. Float64 keeps the subtraction accurate over millions
# of pixels. Averaging the batches' standard deviations would miss how far the batch means lie apart.

# %%
def my_streaming_stats(batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Iterable of uint8 (B, C, H, W) batches -> (mean, std), each (C,), in [0, 1] units, in one pass."""
    n, s, s2 = 0, 0.0, 0.0
    for x in batches:
        x = x.double() / 255  # (B, C, H, W) in [0, 1]
        n += x.numel() // x.shape[1]  # values per channel in this batch
        s = s + x.sum(dim=(0, 2, 3))  # (C,)
        s2 = s2 + (x * x).sum(dim=(0, 2, 3))  # (C,)
    mean = s / n
    std = ((s2 - n * mean * mean) / (n - 1)).sqrt()
    return mean.float(), std.float()


ok = check_streaming_stats(my_streaming_stats)
