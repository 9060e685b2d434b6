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
# # 02 · Embeddings
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/02_embeddings.ipynb)
#
# Lesson 01 turned an image into a sequence of patch vectors. This lesson builds the rest of the ViT's
# input, the paper's Eq. 1. You will:
#
# - project patches to tokens of width $D$ and prepend a learnable **class token**,
# - build **position embeddings** three ways (learned, 1-D sin-cos, 2-D sin-cos) and check them against
#   `vit_lessons.embeddings`,
# - prove that without position embeddings a Transformer cannot tell a shuffled image from the real one,
# - draw the cosine-similarity map of position embeddings (the paper's Fig. 7, centre),
# - resize a grid of position embeddings for a new image size, the way fine-tuning at higher resolution
#   does, and compare with timm,
# - load your own embedding layer into the package's `VisionTransformer`.

# %%
# Colab: install the course package and what the lessons import (no Jupyter or test tools);
# elsewhere `make lab` already did.
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vit-lessons @ git+https://github.com/vit-from-scratch/vit-from-scratch"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
import warnings
from tqdm import TqdmWarning
warnings.filterwarnings("ignore", category=TqdmWarning)  # tqdm.auto warns without ipywidgets; no bars are drawn here
from vit_lessons.lesson import setup, pick
device = setup(seed=0)
import copy
import math
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange
from timm.layers import resample_abs_pos_embed
from torch import nn
from vit_lessons import ViTConfig, VisionTransformer
from vit_lessons.data import load_dataset, normalize_batch
from vit_lessons.embeddings import pos_embed_similarity, resize_pos_embed, sincos_1d, sincos_2d
from vit_lessons.patches import PatchEmbed, patchify, unpatchify
from vit_lessons.shapes import check_shape
from vit_lessons.viz import similarity_grid

# %% [markdown]
# ## 2.1 From patches to tokens
#
# The paper writes the whole input of the encoder in one line (Dosovitskiy et al. 2021, Eq. 1):
#
# $$\mathbf{z}_0 = [\,\mathbf{x}_\text{class};\; \mathbf{x}_p^1\mathbf{E};\; \mathbf{x}_p^2\mathbf{E};\; \dots;\;
# \mathbf{x}_p^{N}\mathbf{E}\,] + \mathbf{E}_{pos}, \qquad
# \mathbf{E} \in \mathbb{R}^{(P^2 C)\times D},\; \mathbf{E}_{pos} \in \mathbb{R}^{(N+1)\times D}$$
#
# The first part, $\mathbf{x}_p^i\mathbf{E}$, is lesson 01's patch embedding: a Linear on flattened
# patches, which `PatchEmbed` computes as a strided Conv2d. This lesson cuts 28×28 grey images into
# 4×4-pixel patches with $D = 96$ (the preset `fashion_mnist_p4`): 49 patches on a 7×7 grid, a finer
# cut than the course's model (`fashion_mnist_cpu`: $P = 7$, 16 patches on a 4×4 grid, $D = 64$),
# because position embeddings show their structure better on a 7×7 grid than on a 4×4 one.

# %%
cfg = ViTConfig.fashion_mnist_p4()
D, P = cfg.embed_dim, cfg.patch_size
data = load_dataset("fashion-mnist")
x = normalize_batch(data.test_x[:8], data.info.mean, data.info.std)  # (B, 1, 28, 28), normalised as in lesson 00
B = x.shape[0]

torch.manual_seed(0)
patch_embed = PatchEmbed(cfg.img_size, P, cfg.in_chans, D)
tokens = patch_embed(x)  # (B, N, D): N = 49 patches
check_shape(tokens, (B, cfg.num_patches, D), "patch tokens")
print(f"{B} images -> {tuple(tokens.shape)}: {cfg.num_patches} patch tokens of width {D} each")

# %% [markdown]
# ## 2.2 The class token
#
# > "Similar to BERT's `[class]` token, we prepend a learnable embedding to the sequence of embedded
# > patches ($\mathbf{z}_0^0 = \mathbf{x}_\text{class}$), whose state at the output of the Transformer
# > encoder ($\mathbf{z}_L^0$) serves as the image representation $\mathbf{y}$" — Sec. 3.1
#
# Why an extra token? Every patch token stands for one place in the image. The class token stands for
# no place: it starts as the same learned vector for every image, and in every layer it attends to all
# patches and collects what the classifier needs. At the end the head reads just this one vector,
# whatever the number of patches. (Averaging all patch tokens instead also works; the paper's
# Appendix D.3 finds the two equally good once the learning rate is tuned, and `ViTConfig(pool="mean")`
# offers it.) BERT (Devlin et al. 2019, Sec. 3) introduced the idea for sentences.

# %%
cls_token = nn.Parameter(torch.zeros(1, 1, D))  # one vector, shared by all images
nn.init.normal_(cls_token, std=0.02)

z = torch.cat([cls_token.expand(B, -1, -1), tokens], dim=1)  # (B, N + 1, D): 49 patches + the class token
check_shape(z, (B, cfg.num_tokens, D), "tokens with class token")
assert torch.equal(z[:, 1:], tokens)  # the patches, unchanged, behind it
assert torch.equal(z[:, 0], cls_token[0].expand(B, -1))  # position 0: the same vector in every image
print("sequence:", tuple(z.shape), "| token 0 is the class token, tokens 1..49 the patches")

# %% [markdown]
# `expand` makes a view, not a copy: the gradient from all $B$ images flows back into the one
# parameter, and the class token is learned like any weight.

# %% [markdown]
# ## 2.3 Position embeddings
#
# Self-attention treats its input as a *set*: nothing in it knows which token came from where (2.4
# proves it). The position must be written into the tokens themselves, by adding a vector that depends
# only on the position:
#
# > "Position embeddings are added to the patch embeddings to retain positional information. We use
# > standard learnable 1D position embeddings, since we have not observed significant performance gains
# > from using more advanced 2D-aware position embeddings" — Sec. 3.1
#
# **Learned.** One free $D$-vector per position, class token included, initialised small and random
# (timm uses a truncated normal with std 0.02), trained with the rest. Before training it carries no
# structure at all; lesson 07 looks at what a trained model has learned.

# %%
pos_learned = nn.Parameter(torch.zeros(1, cfg.num_tokens, D))  # (1, N + 1, D)
nn.init.trunc_normal_(pos_learned, std=0.02)
z_learned = z + pos_learned  # (B, N + 1, D): the same (1, N + 1, D) table added to every image
check_shape(z_learned, (B, 50, D), "embedded tokens")
print("z_0 = [class token; patch tokens] + E_pos:", tuple(z_learned.shape))

# %% [markdown]
# **1-D sin-cos.** The original Transformer (Vaswani et al. 2017, Sec. 3.5) uses fixed waves of
# geometrically spaced frequencies $\omega_i = 10000^{-i/(D/2)}$, $i = 0, \dots, D/2-1$:
#
# $$PE(p, i) = \sin(p\,\omega_i), \qquad PE(p, D/2 + i) = \cos(p\,\omega_i).$$
#
# (Vaswani et al. interleave sines and cosines in even and odd dims; the course, like MAE and timm,
# puts all sines first. That is only a fixed reordering of the dims, which the next Linear layer
# absorbs; the cell checks it.) We write it for any positions, whole or fractional — 2.6 needs that.

# %%
def sincos_at(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(len(positions), dim): sin(p * w_i) for all i, then cos(p * w_i)."""
    pos = positions.double()[:, None]  # (len(positions), 1)
    omega = temperature ** (-torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))  # (D/2,)
    angles = pos * omega  # (len(positions), D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (len(positions), D)


pe_1d = sincos_at(torch.arange(cfg.num_tokens), D)  # (N + 1, D) = (50, 96)
torch.testing.assert_close(pe_1d, sincos_1d(cfg.num_tokens, D), atol=1e-6, rtol=0)

interleaved = torch.stack([pe_1d[:, : D // 2], pe_1d[:, D // 2:]], dim=-1).reshape(cfg.num_tokens, D)  # sin, cos, sin, cos…
reorder = torch.cat([torch.arange(0, D, 2), torch.arange(1, D, 2)])  # even dims, then odd dims
assert torch.equal(interleaved[:, reorder], pe_1d)
print("sincos_at == vit_lessons.embeddings.sincos_1d; the interleaved layout is a reordering of the same dims")

# %% [markdown]
# **2-D sin-cos.** An image position is a (row, column) pair. The code of MoCo v3 (Chen et al. 2021;
# `build_2d_sincos_position_embedding` in its `vits.py`) and of MAE (He et al. 2022; `util/pos_embed.py`)
# gives half of the dims to a 1-D sin-cos code of one coordinate and half to the other; the course puts
# the row first. The patches are numbered row by row, so token $k$ sits at row $k\,//\,g$, column
# $k\,\%\,g$ on a $g \times g$ grid.

# %%
def sincos_grid(rows: torch.Tensor, cols: torch.Tensor, dim: int) -> torch.Tensor:
    """(len(rows) * len(cols), dim): row code in the first half of the dims, column code in the second."""
    r = sincos_at(rows, dim // 2)  # (gh, D/2)
    c = sincos_at(cols, dim // 2)  # (gw, D/2)
    gh, gw = len(rows), len(cols)
    grid = torch.cat([r[:, None, :].expand(gh, gw, -1), c[None, :, :].expand(gh, gw, -1)], dim=-1)  # (gh, gw, D)
    return grid.reshape(gh * gw, dim)  # (N, D), row-major like the patches


g = cfg.grid_size  # 7
pe_2d = sincos_grid(torch.arange(g), torch.arange(g), D)  # (N, D) = (49, 96): patches only
torch.testing.assert_close(pe_2d, sincos_2d(g, D), atol=1e-6, rtol=0)
k = 10  # row 1, column 3
torch.testing.assert_close(pe_2d[k], torch.cat([sincos_1d(g, D // 2)[k // g], sincos_1d(g, D // 2)[k % g]]), atol=1e-6, rtol=0)
print("sincos_grid == vit_lessons.embeddings.sincos_2d")

# %% [markdown]
# The three tables side by side. Each row is the vector added to one token. Sin-cos rows change
# smoothly from position to position: the fast waves on the left tell neighbours apart, the slow ones on
# the right move so little over 50 positions that they are nearly constant. In the 2-D table the row
# half changes only every 7 tokens (a new grid row), the column half cycles within each row.

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for ax, table, title, lim in [(axes[0], pos_learned[0].detach(), "learned, at initialisation (note the scale)", 0.05),
                              (axes[1], pe_1d, "1-D sin-cos", 1),
                              (axes[2], pe_2d, "2-D sin-cos: row half | column half", 1)]:
    im = ax.imshow(table, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("dimension")
    ax.set_ylabel("token position" if table is not pe_2d else "patch position (row-major)")
    fig.colorbar(im, ax=ax, pad=0.02)
axes[2].axvline(D / 2 - 0.5, color="gold", lw=3)  # a colour the red-blue map never uses
for x0, name in ((D / 4, "row code"), (3 * D / 4, "column code")):
    axes[2].text(x0, 1, name, ha="center", va="top", fontsize=9, color="k",
                 bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="gold"))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2.4 What happens without them
#
# Self-attention and the MLP treat every token the same way, and a softmax-weighted sum over tokens does
# not depend on their order. So if we shuffle the patches, a Transformer encoder shuffles its patch
# outputs the same way and gives the class token *exactly* the same output: for it, the two images
# below are the same input.

# %%
torch.manual_seed(0)
encoder = nn.TransformerEncoder(
    nn.TransformerEncoderLayer(D, nhead=cfg.num_heads, dim_feedforward=2 * D, dropout=0.0,
                               batch_first=True, norm_first=True),
    num_layers=2, enable_nested_tensor=False).eval()  # a small pre-norm encoder from torch; lesson 04 builds one

perm = torch.randperm(cfg.num_patches, generator=torch.Generator().manual_seed(1))
z_shuffled = torch.cat([z[:, :1], z[:, 1:][:, perm]], dim=1)  # (B, N + 1, D): same class token, patches shuffled

shuffled_img = unpatchify(patchify(x, P)[:, perm], P, 1)  # (B, 1, 28, 28): what the shuffled tokens show
fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
for ax, img, title in [(axes[0], x[0, 0], "image"), (axes[1], shuffled_img[0, 0], "patches shuffled")]:
    ax.imshow(img, cmap="gray_r")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
with torch.no_grad():
    out = encoder(z)  # (B, N + 1, D)
    out_shuffled = encoder(z_shuffled)  # (B, N + 1, D)
torch.testing.assert_close(out_shuffled[:, 0], out[:, 0], atol=1e-5, rtol=1e-5)  # class token: identical
torch.testing.assert_close(out_shuffled[:, 1:], out[:, 1:][:, perm], atol=1e-5, rtol=1e-5)  # patches: shuffled along
print("no position embeddings: class-token output unchanged by the shuffle; patch outputs shuffled the same way")

# %% [markdown]
# Add position embeddings *after* shuffling — position $k$ keeps its vector, whichever patch lands there —
# and the two inputs differ, so the outputs do. Both kinds of embedding break the symmetry:

# %%
pos_2d = torch.cat([torch.zeros(1, D), pe_2d])[None]  # (1, N + 1, D): the class token gets zeros, as in the package
with torch.no_grad():
    for name, pos in [("2-D sin-cos", pos_2d), ("learned (random init)", pos_learned)]:
        a = encoder(z + pos)[:, 0]  # (B, D)
        b = encoder(z_shuffled + pos)[:, 0]  # (B, D)
        diff = (a - b).abs().max().item()
        assert diff > 1e-3
        print(f"with {name:22s}: class-token outputs of image and shuffled image differ by up to {diff:.3f}")

# %% [markdown]
# ## 2.5 Which positions look alike?
#
# The paper's Fig. 7 (centre) shows, for each patch position, the cosine similarity of its position
# embedding with those of all other positions: a $g \times g$ grid of $g \times g$ heat maps. From the
# trained ViT-L/32 embeddings drawn there, Sec. 4.5 reads two things: closer patches have more similar
# embeddings, and "patches in the same row/column have similar embeddings". Here is the same picture for
# the 2-D sin-cos table of our 7×7 grid. First the computation, checked against the package:

# %%
def similarity(pos_patches: torch.Tensor) -> torch.Tensor:
    """(g*g, D) position embeddings of the patches -> (g, g, g, g) cosine similarities."""
    e = F.normalize(pos_patches, dim=-1)  # (N, D), unit length
    g = math.isqrt(e.shape[0])
    return (e @ e.T).reshape(g, g, g, g)  # sim[i, j, k, l]: patch (i, j) vs patch (k, l)


sim = similarity(pe_2d)
torch.testing.assert_close(sim, pos_embed_similarity(pe_2d), atol=1e-6, rtol=0)
torch.testing.assert_close(sim[2, 3, 2, 3], torch.tensor(1.0), atol=1e-6, rtol=0)  # each position with itself
print(f"similarity of (0, 0) with (0, 1): {sim[0, 0, 0, 1]:.3f}, with (6, 6): {sim[0, 0, 6, 6]:.3f}; "
      f"all 2,401 pairs between {sim.min():.3f} and {sim.max():.3f}, mean {sim.mean():.3f}")

# %% [markdown]
# Every pair of positions is more similar than 0.73, so on the full cosine scale from -1 to 1 the whole
# map would be one colour. The reason is in the frequencies: of the 24 per coordinate, most are so slow
# that they barely change across 7 patches, and they dominate the dot product. To see the shape, the grid
# below is drawn minus the mean similarity, on a colour scale symmetric around that mean:

# %%
def on_symmetric_scale(fig, lim: float, label: str):
    """similarity_grid colours each figure by its own data range; give all tiles the scale [-lim, lim]."""
    for ax in fig.axes[:-1]:  # the tiles; the last axes is the colour bar, which follows the tiles' scale
        ax.images[0].set(cmap="RdBu_r", clim=(-lim, lim))
    fig.axes[-1].set_ylabel(label)
    return fig


centred = sim - sim.mean()
fig = similarity_grid(centred, title="2-D sin-cos position embeddings, 7x7 grid, D=96: cosine similarity minus its mean")
on_symmetric_scale(fig, centred.abs().max().item(), f"cosine similarity - {sim.mean():.3f}")
plt.show()

# %% [markdown]
# Each tile has a round core around its own patch and, beyond two or three patches, a soft cross: the
# patch's own row and column stay above the mean all the way to the edge of the tile, while the corners off
# both fall well below it. The construction says why. The row half and the column half each hold $D/4$
# (sine, cosine) pairs, and $\sin a \sin b + \cos a \cos b = \cos(a - b)$, so the similarity of two
# positions is the average of a row term and a column term that depend only on the distances:
#
# $$\operatorname{sim}\big((i, j), (k, l)\big) = \tfrac{1}{2}\big(S(i - k) + S(j - l)\big), \qquad
# S(\Delta) = \frac{1}{D/4}\sum_{f} \cos(\Delta\,\omega_f).$$
#
# Sharing a row makes the row term $S(0) = 1$, so a patch in the same row keeps at least
# $(1 + \min S)/2$ however far away it is; how strongly the cross shows depends on how far $S$ falls. The
# cell checks the formula and prints $S$:

# %%
omega = 10000 ** (-torch.arange(D // 4, dtype=torch.float64) / (D // 4))  # the D/4 frequencies of one half
S = torch.stack([torch.cos(d * omega).mean() for d in range(g)])  # (g,): S(0), ..., S(6)
dist = torch.arange(g)
formula = 0.5 * (S[(dist[:, None] - dist[None, :]).abs()][:, None, :, None]
                 + S[(dist[:, None] - dist[None, :]).abs()][None, :, None, :])  # (g, g, g, g)
torch.testing.assert_close(sim, formula.float(), atol=1e-5, rtol=0)
print("S(distance) for distance 0..6:", " ".join(f"{v:.3f}" for v in S.tolist()))
print(f"from patch (3, 3): one step along its row {sim[3, 3, 3, 4]:.3f}, one diagonal step {sim[3, 3, 4, 4]:.3f}, "
      f"two steps along its row {sim[3, 3, 3, 5]:.3f}")
print(f"from patch (0, 0): six steps along its row {sim[0, 0, 0, 6]:.3f}, five steps diagonally "
      f"{sim[0, 0, 5, 5]:.3f} (the smallest similarity of all)")

# %% [markdown]
# Near its own patch the order follows the straight-line distance: one diagonal step (0.963) lies between
# one step (0.982) and two steps (0.938) along the row. That is the round core. Farther out $S$ stops
# falling: it drops from 1 to 0.79 over the first three steps and stays near 0.74 from four to six. So a
# patch's own row and column never drop below about $(1 + 0.74)/2 = 0.87$ (0.869 six steps along the row
# of patch (0, 0)), while positions off both fall to 0.73 (0.734 five steps diagonally): that is the cross.
# All of it spans 0.73 to 1, small differences on a similarity that is high everywhere.
#
# The learned embeddings at initialisation, on the full cosine scale from -1 to 1: every tile is 1 at its
# own patch and close to 0 everywhere else (between -0.29 and 0.31 with a spread of 0.10, about
# $1/\sqrt{D}$, as the cell prints), because independent random vectors in 96 dimensions are nearly
# orthogonal. There is no notion of distance yet, no core and no cross; in the paper's words, "the
# position embeddings at initialization time carry no information about the 2D positions of the patches"
# (Sec. 3.1). Lesson 07 (§7.7) draws them after training, to compare with both pictures.

# %%
sim_learned = similarity(pos_learned[0, 1:].detach())  # (g, g, g, g)
off = sim_learned[~torch.eye(g * g, dtype=torch.bool).reshape(g, g, g, g)]  # every pair of two different patches
print(f"learned, at initialisation: each patch with itself 1.000; with the other patches between {off.min():.2f} "
      f"and {off.max():.2f} (std {off.std():.3f}; 1/sqrt(D) = {1 / math.sqrt(D):.3f})")
fig = similarity_grid(sim_learned, title="learned position embeddings at initialisation: cosine similarity")
on_symmetric_scale(fig, 1.0, "cosine similarity")
plt.show()

# %% [markdown]
# ## 2.6 A new image size: resizing the position grid
#
# Fine-tuning at a higher resolution than pre-training (the paper pre-trains at 224 px, Table 3, and
# fine-tunes at 384 px unless it says otherwise, Appendix B.1.1) keeps the patch size, so there are more
# patches (Sec. 3.2): a 14×14 grid becomes
# 24×24, and the learned table has no rows for the new positions. The fix:
#
# > "We therefore perform 2D interpolation of the pre-trained position embeddings, according to their
# > location in the original image." — Sec. 3.2
#
# Lay the patch embeddings out as a $D$-channel $g \times g$ image, resize it like an image, flatten it
# back; the class token has no place in the grid and is kept as it is.

# %%
def resize_grid(pos_embed: torch.Tensor, new_grid: int, mode: str = "bicubic") -> torch.Tensor:
    """(1, 1 + g*g, D) -> (1, 1 + new_grid**2, D), interpolating the patch positions in 2-D."""
    cls, grid = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, g*g, D)
    g, D = math.isqrt(grid.shape[1]), grid.shape[2]
    grid = grid.reshape(1, g, g, D).permute(0, 3, 1, 2)  # (1, D, g, g): an image with D channels
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode=mode, antialias=True, align_corners=False)  # (1, D, g', g')
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, D)  # (1, g'*g', D)
    return torch.cat([cls, grid], dim=1)  # (1, 1 + g'*g', D)


torch.manual_seed(0)
pe_b16 = torch.randn(1, 1 + 14 * 14, 768) * 0.02  # a ViT-B/16-shaped table (224 px)
for old, new in [(14, 24), (14, 7)]:  # 224 px -> 384 px, and 224 px -> 112 px
    pe = pe_b16
    ours = resize_grid(pe, new)
    check_shape(ours, (1, 1 + new * new, 768), "resized pos_embed")
    torch.testing.assert_close(ours, resize_pos_embed(pe, new), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours, resample_abs_pos_embed(pe, [new, new], num_prefix_tokens=1,
                                                            interpolation="bicubic", antialias=True), atol=1e-6, rtol=0)
    assert torch.equal(ours[:, 0], pe[:, 0])  # the class token's embedding is untouched
    print(f"{old}x{old} -> {new}x{new}: resize_grid == vit_lessons resize_pos_embed == timm resample_abs_pos_embed")

# %% [markdown]
# **Resizing sin-cos.** A sin-cos table is a formula, so we can ask how close interpolation comes to
# evaluating the formula. Interpolation keeps the *old* units: new patch $i$ (of $g'$) covers the
# place that old position $p_i = (i + \tfrac12)\,g/g' - \tfrac12$ covered (pixel centres,
# `align_corners=False`). So compare the interpolated 7×7 → 14×14 table with sin-cos evaluated at those
# fractional positions — and, for contrast, with `sincos_2d(14)`, the table built fresh for a 14×14
# grid, which counts positions in *new* patches:

# %%
old, new = 7, 14
table = torch.cat([torch.zeros(1, D), sincos_2d(old, D)])[None]  # (1, 1 + 49, D)
interpolated = resize_grid(table, new)[0, 1:]  # (196, D)
p = (torch.arange(new) + 0.5) * old / new - 0.5  # old-grid coordinates of the new patch centres
at_new_centres = sincos_grid(p, p, D)  # (196, D): the formula, evaluated where the new patches are
fresh = sincos_2d(new, D)  # (196, D): positions 0..13, one unit per new patch

for name, ref in [("sin-cos at the new patch centres (old units)", at_new_centres),
                  ("sincos_2d(14), recomputed in new units", fresh)]:
    err = (interpolated - ref).abs()
    cos = F.cosine_similarity(interpolated, ref, dim=-1)
    print(f"interpolated vs {name}:\n    mean |diff| {err.mean():.4f}, max |diff| {err.max():.3f}, "
          f"smallest cosine similarity of a row {cos.min():.4f}")
torch.testing.assert_close(interpolated, at_new_centres, atol=0.2, rtol=0)
assert (interpolated - at_new_centres).abs().mean() < 0.01 < (interpolated - fresh).abs().mean()

# %% [markdown]
# Bicubic interpolation reproduces the formula closely: a mean error of about 0.004 on values in
# $[-1, 1]$, every row above 0.998 cosine similarity. The largest errors sit in the fastest waves, one
# radian per old patch, where 7 samples per row are few for a cubic, and at the border, where the new
# centres lie outside the old grid. The freshly computed `sincos_2d(14)` is a different table: it spaces
# positions twice as far apart in angle, which is why a model with fixed sin-cos embeddings that
# rebuilds its table for a new size (`VisionTransformer.set_img_size` does) sees its positions at a new
# scale. The plot shows one row-frequency dim of each kind:

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
rows_old = torch.arange(old)
for ax, i in zip(axes, (0, 6)):  # the fastest wave (1 rad per old patch) and a slower one
    w = 10000 ** (-i / (D // 4))  # frequency of row dim i (the row half is a 1-D code of width D/2)
    fine = torch.linspace(-0.5, old - 0.5, 300)
    ax.plot(fine, torch.sin(fine * w), color="0.7", lw=1, label="sin(p·ω), the formula")
    ax.plot(rows_old, sincos_2d(old, D).reshape(old, old, D)[:, 0, i], "ko", label="7x7 table (old grid)")
    ax.plot(p, interpolated.reshape(new, new, D)[:, 0, i], "x", color="tab:red", ms=7, label="interpolated to 14x14")
    ax.set_title(f"row dim {i}: ω = {w:.3f} rad per old patch", fontsize=10)
    ax.set_xlabel("row position, in old patches")
    ax.set_ylabel(f"value of dim {i} of the table")
axes[0].legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2.7 Parity: our embedding layer in the package's model
#
# Everything of Eq. 1 in one module, with timm's parameter names (`patch_embed.proj`, `cls_token`,
# `pos_embed`), so its state dict loads straight into `VisionTransformer`, whose `embed` method does the
# same three steps.

# %%
class Embedding(nn.Module):
    """(B, C, H, W) -> (B, N + 1, D): patch embedding, class token in front, position embeddings added."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.embed_dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.num_tokens, cfg.embed_dim) * 0.02)

    def forward(self, x):
        x = self.patch_embed(x)  # (B, N, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, N + 1, D)
        return x + self.pos_embed  # (B, N + 1, D)


torch.manual_seed(0)
mine = Embedding(cfg)
model = VisionTransformer(cfg).eval()
result = model.load_state_dict(mine.state_dict(), strict=False)
assert not result.unexpected_keys and all(k.startswith(("blocks.", "norm.", "head.")) for k in result.missing_keys)
with torch.no_grad():
    ours, theirs = mine(x), model.embed(x)  # (B, N + 1, D) each
check_shape(theirs, (B, 50, 96), "embedded tokens")
torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)
print("Embedding == VisionTransformer(cfg).embed:", tuple(ours.shape))

# %% [markdown]
# And with fixed 2-D sin-cos position embeddings (`pos_embed="sincos2d"`), the model's table is exactly
# `[zeros for the class token; sincos_2d(grid)]`, the one we built in 2.3:

# %%
fixed = VisionTransformer(cfg.replace(pos_embed="sincos2d"))
torch.testing.assert_close(fixed.pos_embed, pos_2d, atol=1e-6, rtol=0)
print("pos_embed='sincos2d' is a buffer, not a parameter:", "pos_embed" not in dict(fixed.named_parameters()))

# %% [markdown]
# ## Summary
#
# - The encoder input is $\mathbf{z}_0 = [\mathbf{x}_\text{class}; \mathbf{x}_p^1\mathbf{E}; \dots] +
#   \mathbf{E}_{pos}$: patch tokens, one learned class token in front (index 0), plus one position vector
#   per token. Shape `(B, N + 1, D)`: $N = HW/P^2$ patches and the class token.
# - Without position embeddings a Transformer encoder is blind to the arrangement of patches: shuffling
#   them leaves the class-token output unchanged, which we asserted.
# - Position embeddings can be learned (the paper), or fixed sin-cos in 1-D or 2-D; the 2-D version splits
#   the dims between row and column. Its similarity map has a round core around each patch and, farther
#   out, a soft cross along the patch's own row and column, all between 0.73 and 1 on the 7×7 grid;
#   learned embeddings start with no similarity structure at all.
# - For a new image size, position grids are interpolated in 2-D (bicubic), the class token kept; ours,
#   the package's and timm's agree. For sin-cos, interpolation stays within about 0.004 (mean) of the
#   formula at the new positions.
#
# Next, [lesson 03](03_attention.ipynb) builds the operation that mixes these tokens: attention.

# %% [markdown]
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("02.1")` prints a nudge for
# exercise 02.1, `hint("02.1", 2)` the key line. Worked solutions are in
# [solutions/02_embeddings.ipynb](solutions/02_embeddings.ipynb).

# %%
from vit_lessons.exercises import check_at_new_size, check_rope_2d, check_sincos_1d, check_sincos_2d, hint

# %% [markdown]
# **Exercise 02.1 · Warm-up: the 1-D sin-cos table.** Return the `(num_positions, dim)` table of 2.3 for
# positions $0, 1, \dots$: sines of the $D/2$ frequencies $\omega_i = 10000^{-i/(D/2)}$ first, then their
# cosines.

# %%
def my_sincos_1d(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) sin-cos position table."""
    raise NotImplementedError("your code here")


ok = check_sincos_1d(my_sincos_1d)

# %% [markdown]
# **Exercise 02.2 · 2-D sin-cos for a rectangular grid.** Section 2.3 built the 2-D table for a square grid
# with the lesson's own helpers. Build it now for any `grid_h × grid_w` grid (a 224×320 image with 16-pixel
# patches gives a 14×20 grid) from `my_sincos_1d` of exercise 02.1 alone: the row's 1-D code in the first
# $D/2$ dims, the column's in the second, cells numbered row by row like the patches.

# %%
def my_sincos_2d(grid_h: int, grid_w: int, dim: int) -> torch.Tensor:
    """(grid_h * grid_w, dim): row code (width dim/2), then column code, cells row-major."""
    raise NotImplementedError("your code here")


ok = check_sincos_2d(my_sincos_2d)

# %% [markdown]
# **Exercise 02.3 · A trained model at a new image size.** The course's model (`fashion_mnist_cpu`,
# `assets/checkpoints/fashion_mnist_vit.pt`) was trained on 28 px images: 7 px patches on a 4×4 grid, with
# fixed 2-D sin-cos positions. Shown the same garments at 35 px, it sees a 5×5 grid. Write
# `my_at_new_size(model, img_size)`: a copy of the model for `img_size` images whose position table is the
# *trained* table interpolated to the new grid, as in 2.6 (bicubic, the class token's row kept), for learned
# and sin-cos tables alike, leaving the model passed in unchanged. `model.set_img_size` is half the answer:
# it makes the model accept the new size, but it rebuilds a sin-cos table in new units.
#
# Predict before you measure: will the model be as accurate at 35 px as at 28 px? Which table will do
# better at 35 px, the interpolated one or the rebuilt one? The cell after the check measures both on
# test images once your function passes.

# %%
def my_at_new_size(model: VisionTransformer, img_size: int) -> VisionTransformer:
    """A copy of model for img_size images, its position table interpolated (bicubic) to the new grid."""
    raise NotImplementedError("your code here")


ok = check_at_new_size(my_at_new_size)

# %%
if ok:  # measured only once my_at_new_size passes
    from vit_lessons.assets import asset_path
    from vit_lessons.transfer import load_backbone, resize_batch

    course = load_backbone(str(asset_path("checkpoints/fashion_mnist_vit.pt"))).eval()
    n = pick(ci=300, default=2000, full=10_000)
    images, labels = data.test_x[:n].float() / 255, data.test_y[:n]  # (n, 1, 28, 28) in [0, 1]
    big = resize_batch(images, 35)  # (n, 1, 35, 35), bilinear
    norm = lambda im: (im - data.info.mean[0]) / data.info.std[0]  # noqa: E731
    with torch.no_grad():
        for name, m, im in [("28 px", course, images), ("35 px, table interpolated", my_at_new_size(course, 35), big),
                            ("35 px, sin-cos rebuilt", copy.deepcopy(course).set_img_size(35), big)]:
            print(f"{name:26s} accuracy {(m(norm(im)).argmax(1) == labels).float().mean():.1%} on {n} test images")

# %% [markdown]
# **Exercise 02.4 · Rotary position embeddings in 2-D.** Section 2.4 showed that a Transformer needs
# positions; 2.3 *added* them to the tokens. Rotary embeddings (RoPE; Su et al. 2021, Sec. 3.2) instead
# *turn* the queries and keys of every attention layer: each pair of dims $(a, b)$ is rotated by an angle
# $\theta$ that grows with the position, $a' = a\cos\theta - b\sin\theta$, $b' = a\sin\theta + b\cos\theta$.
# A rotation keeps lengths, and the score of a query turned by $\theta_1$ with a key turned by $\theta_2$
# depends only on $\theta_1 - \theta_2$: attention sees how far apart two tokens are, not where they are.
#
# Write the 2-D version `my_rope_2d(x, rows, cols)` for queries or keys `x` of shape `(..., N, d)` and
# the grid position of each token, `rows` and `cols` of shape `(N,)`: the first half of the dims turns with
# the row, the second half with the column, the split of 2.3's 2-D table. Within a half (width $d/2$), dim
# $i$ pairs with dim $i + d/4$, and pair $i$ turns by $\text{position}\cdot\omega_i$ with
# $\omega_i = 10000^{-i/(d/4)}$: exactly the angles of `my_sincos_1d(..., d // 2)`, sines first. The check
# also measures the point of it all, that moving a query and a key by the same shift leaves their score
# unchanged.

# %%
def my_rope_2d(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(..., N, d) queries or keys -> the same, first half turned by row angles, second half by column angles."""
    raise NotImplementedError("your code here")


ok = check_rope_2d(my_rope_2d)
