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
# # 02 · Solutions to lesson 02
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/02_embeddings.ipynb)
#
# Worked solutions to the exercises of [lesson 02](../02_embeddings.ipynb). Try them yourself first:
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
import torch.nn.functional as F
from vit_lessons.exercises import check_prepend_class_token, check_resize_pos_embed, check_sincos_1d, check_sincos_2d

# %% [markdown]
# ## Exercise 02.1 · Prepend the class token
#
# One learnable (1, 1, D) token, shared by every image: `expand` makes a broadcast view (no copy),
# so the gradient from all B images flows back into the one parameter.

# %%
def my_prepend_class_token(tokens: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """(B, N, D) patch tokens and a (1, 1, D) class token -> (B, N + 1, D), class token at index 0."""
    B = tokens.shape[0]
    return torch.cat([cls.expand(B, -1, -1), tokens], dim=1)  # (B, N + 1, D)


ok = check_prepend_class_token(my_prepend_class_token)

# %% [markdown]
# ## Exercise 02.2 · The 1-D sin-cos table
#
# $\omega_i = 10000^{-i/(D/2)}$ for $i = 0,\dots,D/2-1$; row $p$ is
# $[\sin(p\,\omega_0), \dots, \sin(p\,\omega_{D/2-1}), \cos(p\,\omega_0), \dots, \cos(p\,\omega_{D/2-1})]$.

# %%
def my_sincos_1d(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim): sines of all D/2 frequencies, then their cosines."""
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (N, 1)
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))  # (D/2,)
    angles = pos * omega  # (N, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (N, D)


ok = check_sincos_1d(my_sincos_1d)

# %% [markdown]
# ## Exercise 02.3 · Resize a position grid
#
# Keep the class token aside, lay the patch embeddings out as a (1, D, g, g) image, interpolate it
# to the new grid, and flatten it back.

# %%
def my_resize_pos_embed(pos_embed: torch.Tensor, new_grid: int) -> torch.Tensor:
    """(1, 1 + g*g, D) -> (1, 1 + new_grid**2, D), bicubic, the class token kept as it is."""
    cls, grid = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, g*g, D)
    D = grid.shape[-1]
    g = int(grid.shape[1] ** 0.5)
    grid = grid.reshape(1, g, g, D).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False)  # (1, D, g', g')
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, D)  # (1, g'*g', D)
    return torch.cat([cls, grid], dim=1)  # (1, 1 + g'*g', D)


ok = check_resize_pos_embed(my_resize_pos_embed)

# %% [markdown]
# ## Exercise 02.4 · 2-D sin-cos from the 1-D table
#
# Each half of the dims is a 1-D code of width $D/2$: the first codes the row, the second the column.
# Give every cell of the grid its row's code and its column's code (broadcasting does the
# repeating), then flatten the grid row by row, the order of the patches.

# %%
def my_sincos_2d(grid_h: int, grid_w: int, dim: int) -> torch.Tensor:
    """(grid_h * grid_w, dim): row code (width dim/2), then column code, cells row-major."""
    rows = my_sincos_1d(grid_h, dim // 2)  # (gh, D/2)
    cols = my_sincos_1d(grid_w, dim // 2)  # (gw, D/2)
    grid = torch.cat([rows[:, None, :].expand(grid_h, grid_w, -1),
                      cols[None, :, :].expand(grid_h, grid_w, -1)], dim=-1)  # (gh, gw, D)
    return grid.reshape(grid_h * grid_w, dim)  # (N, D)


ok = check_sincos_2d(my_sincos_2d)
