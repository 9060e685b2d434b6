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
import matplotlib.pyplot as plt
import torch.nn.functional as F
from vit_lessons.exercises import check_masked_attention, check_scaled_dot_product, check_window_cost, check_windowed_attention

# %% [markdown]
# ## Exercise 03.1 · Scaled dot-product attention (warm-up)
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
# ## Exercise 03.2 · Attention with a padding mask
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

# %% [markdown]
# ## Exercise 03.3 · Attention inside windows (Swin)
#
# Patch $i$ sits at row $r = i \,//\, g$ and column $c = i \bmod g$ of the $g \times g$ grid, so its window is
# $(r \,//\, w,\ c \,//\, w)$, one number per window. Two patches may attend to each other exactly when those
# numbers agree: that is the (N, N) mask, and the rest is exercise 03.2's masking with $-\infty$.

# %%
def window_mask(grid_size, window):
    """(N, N) bool: True where patches i and j lie in the same window x window window; raster order."""
    n = grid_size * grid_size
    row, col = torch.arange(n) // grid_size, torch.arange(n) % grid_size  # (N,) each
    win = (row // window) * (grid_size // window) + col // window  # (N,): which window each patch is in
    return win[:, None] == win[None, :]  # (N, N)


def my_windowed_attention(q, k, v, grid_size, window):
    """q, k: (B, N, d), v: (B, N, d_v), patches in raster order -> (B, N, d_v), attention inside windows only."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, N, N)
    scores = scores.masked_fill(~window_mask(grid_size, window), float("-inf"))  # other windows' keys: weight 0
    return scores.softmax(dim=-1) @ v  # (B, N, d_v)


ok = check_windowed_attention(my_windowed_attention)

# %% [markdown]
# The mask of a 4×4 grid in 2×2 windows, next to the grid itself: in raster order the four patches of a window
# are not neighbours in the sequence (0, 1, 4, 5 form the first window), which is why the mask is a chequered
# pattern and not four blocks on the diagonal. The masked version still computes all N × N scores and throws
# most away; Swin cuts the grid into its windows and attends inside each one (`tiles` below), which gives the
# same output and computes only the scores it keeps. That is the saving exercise 03.4 counts.

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.5, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
cells = torch.arange(16).view(4, 4)  # patch numbers on the 4x4 grid
a1.imshow((cells // 4 // 2) * 2 + cells % 4 // 2, cmap="Pastel1", vmin=0, vmax=8)  # one colour per window
for i in range(16):
    a1.text(i % 4, i // 4, str(i), ha="center", va="center")
a1.set(title="4×4 grid, 2×2 windows", xticks=[], yticks=[])
a2.imshow(window_mask(4, 2), cmap="Greys")
a2.set(title="may attend (black): query i, key j", xlabel="key patch j", ylabel="query patch i")
fig.tight_layout()


def tiles(t, grid_size, window):
    """(B, N, d) in raster order -> (B, windows, window², d): each window's patches together."""
    b, n, d = t.shape
    m = grid_size // window  # windows per side
    return t.view(b, m, window, m, window, d).transpose(2, 3).reshape(b, m * m, window * window, d)


q, k, v = torch.randn(3, 2, 36, 8).unbind(0)  # 3 x (B, N, d): a 6x6 grid
out_tiles = F.scaled_dot_product_attention(tiles(q, 6, 3), tiles(k, 6, 3), tiles(v, 6, 3))  # (B, 4, 9, d)
out_tiles = out_tiles.view(2, 2, 2, 3, 3, 8).transpose(2, 3).reshape(2, 36, 8)  # back to raster order
torch.testing.assert_close(out_tiles, my_windowed_attention(q, k, v, 6, 3), atol=1e-5, rtol=1e-5)
print("masked full attention == attention inside each tile")

# %% [markdown]
# ## Exercise 03.4 · What windows save, predicted then counted
#
# Every head has $n = g^2$ queries, and inside windows each query meets the $w^2$ keys of its own window, so
# there are $h \cdot n \cdot w^2$ weights instead of $h \cdot n^2$. Each of the two products costs one multiply-add
# per weight and per feature of its head; over all heads that is $n w^2 D$ multiply-adds, $2 n w^2 D$ FLOPs, and
# $4 n w^2 D$ for the two. This is section 3.6's $4n^2D$ with $n$ keys per query replaced by $w^2$, and twice
# the attention term of Swin's Eq. (2), $2M^2hwC$, which counts multiply-adds.

# %%
def my_window_cost(grid_size, window, dim, num_heads):
    """(attention weights, FLOPs of q k^T and weights @ v) for one image in window x window windows."""
    n, m2 = grid_size**2, window**2  # queries, keys per query
    return num_heads * n * m2, 4 * n * m2 * dim


ok = check_window_cost(my_window_cost)

# %% [markdown]
# The same prediction at ViT-B/16's width for growing images, against full attention: with 7×7 windows the
# count grows like $n$, full attention like $n^2$, and their ratio is $n / w^2$, the number of windows.

# %%
print(f"{'image':>7} {'grid':>6} {'n':>5} {'full attention':>16} {'7x7 windows':>13} {'ratio':>6}")
for size in (224, 448, 896):
    g = size // 16
    full, windowed = 4 * g**4 * 768, my_window_cost(g, 7, 768, 12)[1]
    print(f"{size:5d}px {g:3d}x{g:<2d} {g * g:5d} {full / 1e9:11.2f} GFLOP {windowed / 1e9:8.2f} GFLOP "
          f"{full / windowed:5.0f}x")
    assert full / windowed == g * g / 49
