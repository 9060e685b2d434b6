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
import copy
import torch
from torch import nn
from vit_lessons.assets import asset_path
from vit_lessons.data import load_dataset
from vit_lessons.embeddings import resize_pos_embed
from vit_lessons.exercises import check_at_new_size, check_rope_2d, check_sincos_1d, check_sincos_2d
from vit_lessons.model import VisionTransformer
from vit_lessons.transfer import load_backbone, resize_batch

# %% [markdown]
# ## Exercise 02.1 · Warm-up: the 1-D sin-cos table
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
# ## Exercise 02.2 · 2-D sin-cos for a rectangular grid
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

# %% [markdown]
# ## Exercise 02.3 · A trained model at a new image size
#
# Copy the model, let `set_img_size` make the copy accept the new size, then replace whatever table it
# made with the trained table interpolated to the new grid (`resize_pos_embed`, the package's version of
# 2.6's `resize_grid`). A learned table stays a trainable `nn.Parameter`; a sin-cos table stays a buffer.

# %%
def my_at_new_size(model: VisionTransformer, img_size: int) -> VisionTransformer:
    """A copy of model for img_size images, its position table interpolated (bicubic) to the new grid."""
    new = copy.deepcopy(model).set_img_size(img_size)  # accepts img_size; a sin-cos table is rebuilt here
    grid = img_size // model.config.patch_size
    table = resize_pos_embed(model.pos_embed.detach(), grid)  # (1, 1 + grid**2, D), class token's row kept
    new.pos_embed = nn.Parameter(table) if isinstance(new.pos_embed, nn.Parameter) else table
    return new


ok = check_at_new_size(my_at_new_size)

# %% [markdown]
# The measurement, on both course checkpoints: the sin-cos model the course trains, and the
# learned-position one of lesson 07 (§7.7). The test images are enlarged from 28 to 35 px (bilinear), so
# each garment covers 25% more pixels in each direction and each 7 px patch a smaller part of it.

# %%
data = load_dataset("fashion-mnist")
n = pick(ci=300, default=2000, full=10_000)
images, labels = data.test_x[:n].float() / 255, data.test_y[:n]  # (n, 1, 28, 28) in [0, 1]
big = resize_batch(images, 35)  # (n, 1, 35, 35)
norm = lambda im: (im - data.info.mean[0]) / data.info.std[0]  # noqa: E731


def accuracy(model, im):
    with torch.no_grad():
        return (model(norm(im)).argmax(1) == labels).float().mean().item()


for ckpt in ("fashion_mnist_vit.pt", "fashion_mnist_vit_learned_pos.pt"):
    model = load_backbone(str(asset_path(f"checkpoints/{ckpt}"))).eval()
    rows = [("28 px", accuracy(model, images)),
            ("35 px, table interpolated", accuracy(my_at_new_size(model, 35), big))]
    if model.config.pos_embed != "learned":  # set_img_size interpolates a learned table itself
        rows.append(("35 px, sin-cos rebuilt", accuracy(copy.deepcopy(model).set_img_size(35), big)))
    print(f"{ckpt} ({model.config.pos_embed}), {n} test images: "
          + "; ".join(f"{name} {acc:.1%}" for name, acc in rows))

# %% [markdown]
# Both models lose about a third of their accuracy at 35 px. Interpolating the sin-cos model's table keeps
# each position's code where training put it and scores about ten points more than rebuilding the table in
# new units, which moves every code; for the learned model the two are the same thing (`set_img_size`
# interpolates a learned table). Even the interpolated tables leave the models far below their 28 px
# accuracy: the models never saw garments this large in their 7 px patches. That is why the paper
# fine-tunes at the new resolution after interpolating (Sec. 3.2), as lesson 08 does. On all 10,000 test
# images (`VIT_LESSONS_MODE=full`) the sin-cos model scores 88.8% at 28 px, 62.5% with the interpolated
# table and 52.7% with the rebuilt one; the learned-position model 89.0% and 59.3%.

# %% [markdown]
# ## Exercise 02.4 · Rotary position embeddings in 2-D
#
# The angles of pair $i$ at position $p$ are $p\,\omega_i$, $\omega_i = 10000^{-i/(d/4)}$, which is row $p$
# of a 1-D sin-cos table of width $d/2$: its first $d/4$ columns are the sines, the last $d/4$ the cosines.
# So 02.1's table, indexed by the positions, gives every sine and cosine RoPE needs.

# %%
def my_rope_2d(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(..., N, d) queries or keys -> the same, first half turned by row angles, second half by column angles."""
    d = x.shape[-1]
    q = d // 4  # pairs per half

    def turn(h, pos):  # h: (..., N, d/2), pos: (N,) non-negative ints
        table = my_sincos_1d(int(pos.max()) + 1, 2 * q)[pos].to(h.dtype)  # (N, d/2): sin(p w_i), then cos(p w_i)
        sin, cos = table[:, :q], table[:, q:]  # (N, d/4) each
        a, b = h[..., :q], h[..., q:]  # pair i is (a_i, b_i) = (dim i, dim i + d/4)
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)  # (..., N, d/2)

    return torch.cat([turn(x[..., : d // 2], rows), turn(x[..., d // 2:], cols)], dim=-1)  # (..., N, d)


ok = check_rope_2d(my_rope_2d)

# %% [markdown]
# On the course's 4×4 grid with its head width $d = 16$: the 16×16 score matrix of one head, queries and
# keys turned by their positions. Every pair of patches with the same offset gets the same score when
# the query and key vectors are the same, wherever the pair sits on the grid; with 2.3's additive table
# instead, the scores of those pairs differ:

# %%
g, d = 4, 16
rows, cols = torch.arange(g).repeat_interleave(g), torch.arange(g).repeat(g)  # (16,) each, row-major
q, k = torch.randn(d), torch.randn(d)  # one query and one key vector, placed at every patch
qs, ks = q.expand(g * g, d), k.expand(g * g, d)  # (N, d)
rope_scores = my_rope_2d(qs, rows, cols) @ my_rope_2d(ks, rows, cols).T  # (N, N)
table = my_sincos_2d(g, g, d)  # (N, d): 2.3's additive code
added_scores = (qs + table) @ (ks + table).T  # (N, N)
offset = (rows[:, None] - rows[None, :]) * 10 + (cols[:, None] - cols[None, :])  # one id per (row, column) offset
for name, scores in (("RoPE", rope_scores), ("added sin-cos", added_scores)):
    spread = max((scores[offset == o].max() - scores[offset == o].min()).item() for o in offset.unique())
    print(f"{name:14s}: largest spread of the scores among pairs with the same offset {spread:.2e}")
