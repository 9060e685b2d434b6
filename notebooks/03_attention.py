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
# # 03 · Attention
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/03_attention.ipynb)
#
# Attention is the only place in a Vision Transformer where patches exchange information. In this
# lesson you will build it from its equation and then make it fast:
#
# - **scaled dot-product attention**, $\mathrm{softmax}(QK^\top/\sqrt{d})\,V$, on numbers small enough to
#   follow by hand, and an experiment that shows why the $\sqrt{d}$ is there;
# - one attention head on the patches of a real Fashion-MNIST image, as a heat map;
# - **multi-head self-attention four ways** (a loop over heads, all heads batched, one fused qkv
#   projection, PyTorch's fused kernel), all proven equal, and equal to `torch.nn.MultiheadAttention`
#   and to `vit_lessons.attention.Attention`;
# - why images need **no causal mask**;
# - what attention **costs**: time and memory grow with the square of the number of tokens, which
#   makes the patch size a trade-off.

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
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.testing import assert_close

from vit_lessons.attention import Attention
from vit_lessons.data import load_dataset
from vit_lessons.patches import patchify
from vit_lessons.shapes import check_shape

# %% [markdown]
# ## 3.1 Scaled dot-product attention
#
# Vaswani et al. (2017, Sec. 3.2.1) describe attention as mapping a *query* and a set of *key–value*
# pairs to an output: the output is a weighted sum of the values, and each weight says how well the
# query matches that value's key. With the $n$ queries, keys and values of a sequence of $n$ tokens
# stacked as rows of matrices $Q, K \in \mathbb{R}^{n\times d}$ and $V \in \mathbb{R}^{n\times d_v}$:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right) V$$
#
# Three steps, one line each: **scores** (every query against every key), **softmax** along each row
# (each query's weights are positive and sum to 1), **weighted sum** of the value rows.
#
# Attention works on a sequence of any length $n$. In a ViT the sequence is the $N + 1$ tokens of
# lesson 02 ($N$ patches and the class token), so $n = N + 1$: the shape comments write `N + 1`, the code
# and the cost formulas of 3.6 write `n`. (Vaswani et al. call the length $n$ too; their $N$ is the
# number of layers, Sec. 3.1.)

# %%
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """softmax(q k^T / sqrt(d)) v for q, k: (..., N + 1, d), v: (..., N + 1, d_v); returns (output, weights)."""
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., N + 1, N + 1): query i against key j
    weights = scores.softmax(dim=-1)  # (..., N + 1, N + 1): each row sums to 1
    return weights @ v, weights  # (..., N + 1, d_v), (..., N + 1, N + 1)


# %% [markdown]
# **A worked example you can follow by hand.** Three tokens, $d = 2$. Token 0's query points the same
# way as token 1's key, so token 0 should mostly read token 1's value.

# %%
Q = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (3 tokens, d=2)
K = torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])  # (3, 2)
V = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # (3, 2)


def show(name, t):
    """Print a small matrix with two decimals."""
    rows = ["  [" + "  ".join(f"{v:6.2f}" for v in row) + " ]" for row in t.tolist()]
    print(f"{name} {tuple(t.shape)}:\n" + "\n".join(rows))


scores = Q @ K.T / math.sqrt(2)  # (3, 3)
weights = scores.softmax(dim=-1)  # (3, 3)
out = weights @ V  # (3, 2)
show("scores = Q K^T / sqrt(2)", scores)
show("weights = softmax(scores) row by row", weights)
show("output = weights V", out)

# %% [markdown]
# Check row 0 with a pencil: its scores are $(0, 4, 2)/\sqrt2 = (0, 2.83, 1.41)$; the softmax is
# $e^{s_j}/\sum_k e^{s_k}$, which gives weights $(0.05, 0.77, 0.19)$; the output is
# $0.05\,v_0 + 0.77\,v_1 + 0.19\,v_2 = (0.14, 0.86)$, mostly token 1's value, as designed.

# %%
s0 = [0 / math.sqrt(2), 4 / math.sqrt(2), 2 / math.sqrt(2)]
w0 = [math.exp(s) / sum(math.exp(t) for t in s0) for s in s0]
by_hand = [sum(w * V[j, c].item() for j, w in enumerate(w0)) for c in range(2)]
assert_close(weights[0], torch.tensor(w0), atol=1e-6, rtol=0)
assert_close(out[0], torch.tensor(by_hand), atol=1e-6, rtol=0)
assert_close(weights.sum(-1), torch.ones(3), atol=1e-6, rtol=0)  # every row is a distribution
assert_close(attention(Q, K, V)[0], out, atol=0, rtol=0)  # the function does the same three steps
assert_close(F.scaled_dot_product_attention(Q[None], K[None], V[None])[0], out, atol=1e-6, rtol=1e-6)
print("by hand == matrix form == attention() == F.scaled_dot_product_attention")

# %% [markdown]
# ## 3.2 Why divide by $\sqrt{d}$
#
# Vaswani et al. suspect that "for large values of $d_k$, the dot products grow large in magnitude,
# pushing the softmax function into regions where it has extremely small gradients" (Sec. 3.2.1; their
# footnote 4 gives the argument that follows). If the entries of $q$ and $k$ are independent with mean 0 and
# variance 1, then
# $q\cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of $d$ terms of variance 1, so
# $\mathrm{Var}(q\cdot k) = d$. Dividing by $\sqrt d$ brings the variance back to 1 for every $d$.
# Let's measure it, and measure what it does to the softmax: the largest weight in a row of 16 keys
# (1/16 = 0.06 would be perfectly even, 1.0 means the row is one-hot, "saturated").

# %%
g = torch.Generator().manual_seed(0)
dims = [4, 16, 64, 256, 1024]
rows = []
for d in dims:
    q = torch.randn(512, 16, d, generator=g)  # (samples, 16 keys per query, d)
    k = torch.randn(512, 16, d, generator=g)
    dots = (q[:, :1] * k).sum(-1)  # (512, 16): one query against 16 keys
    scaled = dots / math.sqrt(d)
    rows.append((d, dots.var().item(), scaled.var().item(),
                 dots.softmax(-1).max(-1).values.mean().item(), scaled.softmax(-1).max(-1).values.mean().item()))
print(f"{'d':>5} {'Var(q.k)':>9} {'Var(q.k/sqrt d)':>16} {'max weight, unscaled':>21} {'max weight, scaled':>19}")
for d, v_raw, v_sc, m_raw, m_sc in rows:
    print(f"{d:5d} {v_raw:9.1f} {v_sc:16.2f} {m_raw:21.2f} {m_sc:19.2f}")

# %%
for d, v_raw, v_sc, _, m_sc in rows:
    assert 0.85 * d < v_raw < 1.15 * d, "Var(q.k) grows like d"
    assert 0.85 < v_sc < 1.15, "after the scale it stays near 1"
    assert 0.2 < m_sc < 0.5, "scaled rows stay spread over several keys"
assert rows[-1][3] > 0.9, "unscaled at d=1024 the softmax is almost one-hot"
assert rows[2][3] > 0.7, "already at d=64 (ViT-B's head size) most of the weight is on one key"

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.3))
a1.loglog(dims, [r[1] for r in rows], "o-", label="q·k")
a1.loglog(dims, [r[2] for r in rows], "s-", label="q·k / √d")
a1.loglog(dims, dims, "k:", lw=1, label="= d")
a1.set(xlabel="head dim d", ylabel="variance of the score", title="Scores grow with d unless scaled")
a1.legend()
a2.semilogx(dims, [r[3] for r in rows], "o-", label="softmax(q·k)")
a2.semilogx(dims, [r[4] for r in rows], "s-", label="softmax(q·k / √d)")
a2.axhline(1 / 16, color="k", ls=":", lw=1, label="uniform, 1/16")
a2.set(xlabel="head dim d", ylabel="mean largest weight (16 keys)", ylim=(0, 1.05),
       title="Without the scale the softmax saturates")
a2.legend(loc="center right")
fig.tight_layout()

# %% [markdown]
# A saturated softmax is a problem for learning, not just for looks: where one weight is ≈ 1 and
# the rest ≈ 0, the softmax's Jacobian $\mathrm{diag}(p) - pp^\top$ is ≈ 0, so almost no gradient
# reaches the queries and keys. Measured on the same kind of scores:

# %%
def score_grad_norm(d, scale):
    """Gradient norm reaching the scores through a softmax, for one query against 16 keys."""
    g = torch.Generator().manual_seed(1)
    s = ((torch.randn(256, 1, d, generator=g) * torch.randn(256, 16, d, generator=g)).sum(-1)
         / (math.sqrt(d) if scale else 1.0)).requires_grad_()  # (256, 16)
    w = torch.randn(256, 16, generator=g)  # a fixed random "loss" direction
    (s.softmax(-1) * w).sum().backward()
    return s.grad.norm().item()


grads = {d: (score_grad_norm(d, False), score_grad_norm(d, True)) for d in (16, 256, 1024)}
for d, (raw, sc) in grads.items():
    print(f"d={d:5d}: gradient norm at the scores, unscaled {raw:6.2f}, scaled {sc:6.2f}")
assert grads[16][0] > grads[256][0] > grads[1024][0], "unscaled: the larger d, the less gradient gets through"
assert grads[1024][0] < 0.5 * grads[1024][1], "at d=1024 less than half of what the scaled version passes"

# %% [markdown]
# ## 3.3 One head on a real image
#
# Self-attention means $Q$, $K$ and $V$ all come from the *same* tokens, through three learned
# projections $W_Q, W_K, W_V$. Before anything is learned we can still look at what attention does
# with the simplest projections of all, the identity: each patch of a Fashion-MNIST image (4×4
# pixels, 49 patches, lesson 01), normalised with the dataset's mean and std (lesson 00), is its own
# query, key and value. Then the score of patch $i$ against patch $j$ is large when the two patches look
# alike and both lie far from the dataset's average grey, on the same side: two bright patches, or two black
# ones.

# %%
data = load_dataset("fashion-mnist")
img = data.train_x[0].float() / 255  # (1, 28, 28)
label = data.info.classes[int(data.train_y[0])]
mean, std = data.info.mean[0], data.info.std[0]
tokens = patchify((img[None] - mean) / std, 4)[0]  # (N, P*P) = (49, 16): the patches, no class token here
_, attn_map = attention(tokens, tokens, tokens)  # (49, 49)
check_shape(attn_map, (49, 49), "attention of one head")
assert_close(attn_map.sum(-1), torch.ones(49), atol=1e-5, rtol=0)

# %%
query = 3 * 7 + 3  # the centre patch (row 3, column 3 of the 7x7 grid)
row = attn_map[query]  # (49,): the query's weights over the 49 key patches


def query_box():
    """The query patch, outlined on a 28x28 image."""
    return plt.Rectangle((3 * 4 - 0.5, 3 * 4 - 0.5), 4, 4, fill=False, ec="tab:red", lw=2)


fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
axes[0].imshow(img[0], cmap="gray", vmin=0, vmax=1)  # bright pixels light, as in lesson 00
axes[0].add_patch(query_box())
axes[0].set_title(f"{label}: query patch {query} in red", fontsize=10)
im_all = axes[1].imshow(attn_map, cmap="magma", vmin=0)
axes[1].set(xlabel="key patch j", ylabel="query patch i")
axes[1].set_title("attention weights, all 49 x 49", fontsize=10)
fig.colorbar(im_all, ax=axes[1], fraction=0.046, pad=0.03, label="weight")
im_row = axes[2].imshow(row.reshape(7, 7), cmap="inferno", vmin=0, vmax=row.max().item(),
                        extent=(-0.5, 27.5, 27.5, -0.5))  # 7x7 patches stretched over the 28x28 pixels
axes[2].contour(img[0], levels=[0.15], colors="cyan", linewidths=1.2)  # the boot's outline
axes[2].add_patch(query_box())
axes[2].set_title(f"row {query}: where patch {query} looks (boot outlined)", fontsize=10)
fig.colorbar(im_row, ax=axes[2], fraction=0.046, pad=0.03, label=f"weight of query {query} (its own scale)")
for ax in (axes[0], axes[2]):
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The same row in numbers, with a background patch's row for comparison (patch brightness is the mean pixel
# value of the patch, 0 black to 1 white):

# %%
brightness = patchify(img[None], 4)[0].mean(-1)  # (49,): mean pixel value of each patch
background = brightness < 0.02  # (49,): the black patches around the boot
top = row.topk(6)
print(f"query {query} (brightness {brightness[query]:.2f}): its 6 largest weights go to patches {top.indices.tolist()}")
print("  weights:   ", " ".join(f"{w:.3f}" for w in top.values.tolist()), f"(uniform would be 1/49 = {1 / 49:.3f})")
print("  brightness:", " ".join(f"{b:.3f}" for b in brightness[top.indices].tolist()))
print(f"  the 6 brightest patches of the image: {brightness.topk(6).indices.tolist()}")
print(f"  all {int(background.sum())} background patches together: {row[background].sum():.1e}")
bg_row = attn_map[0]  # patch 0, the top-left corner, is background
print(f"query 0 (background): each background patch gets {bg_row[background].min():.3f} to "
      f"{bg_row[background].max():.3f} (an even share would be 1/{int(background.sum())} = "
      f"{1 / background.sum():.3f}); the boot's patches {bg_row[~background].sum():.2f} together")
assert set(top.indices.tolist()[1:]) <= set(brightness.topk(7).indices.tolist()) and top.indices[0] == query
assert row[background].sum() < 1e-3 and bg_row[background].max() < 2 * bg_row[background].min()

# %% [markdown]
# Each row of the middle matrix is one query's distribution over the 49 keys; the right panel draws row 24 on
# the image, on a colour scale fitted to that row. The query, a bright patch in the middle of the boot, keeps
# the largest weight for itself and gives most of the rest to the other brightest patches of the boot, wherever
# they lie; the black background gets almost nothing (the numbers above). A background query does the
# opposite: it spreads its weight nearly evenly over the other background patches, which all look the same.
# Nothing in the computation knows where a patch is, only what it contains: attention has no notion of
# distance (position information must come from the position embeddings of lesson 02). A trained ViT learns
# $W_Q, W_K, W_V$ so that the matches become useful for the task; lesson 07 looks at trained attention maps.
#
# ## 3.4 Multi-head self-attention, four ways
#
# One head compares tokens in one way. The ViT paper (Appendix A, Eq. 5–8) runs $h$ heads side by
# side, each with its own projections to $d = D/h$ dimensions, concatenates their outputs and mixes
# them with one more projection $U_{msa}$ (timm calls it `proj`):
#
# $$\mathrm{MSA}(z) = [\mathrm{SA}_1(z); \mathrm{SA}_2(z); \ldots; \mathrm{SA}_h(z)]\,U_{msa}, \qquad
#   \mathrm{SA}_i(z) = \mathrm{softmax}\!\left(\frac{q_i k_i^\top}{\sqrt{d}}\right)v_i,\quad
#   [q_i, k_i, v_i] = z\,U_{qkv}^{(i)}$$
#
# The same computation can be written four ways, from the most literal to the fastest. We build all
# four, copy one set of weights into each, and assert they agree.
#
# **Way 1: one head at a time.** A head is a module with its own query, key and value `Linear`s; the
# multi-head module loops over its heads and concatenates. This is how
# [tintn/vision-transformer-from-scratch](https://github.com/tintn/vision-transformer-from-scratch), a
# short from-scratch ViT in PyTorch (we call it *tintn* after its author's GitHub name; lesson 06 races
# the course's training recipe against it), builds its first version, and it reads exactly like the
# equation.

# %%
class AttentionHead(nn.Module):
    """One head: its own q, k, v projections D -> d, then scaled dot-product attention."""

    def __init__(self, dim, head_dim, bias=True):
        super().__init__()
        self.q = nn.Linear(dim, head_dim, bias=bias)
        self.k = nn.Linear(dim, head_dim, bias=bias)
        self.v = nn.Linear(dim, head_dim, bias=bias)

    def forward(self, x):  # x: (B, N + 1, D)
        out, weights = attention(self.q(x), self.k(x), self.v(x))  # (B, N + 1, d), (B, N + 1, N + 1)
        return out, weights


class LoopMSA(nn.Module):
    """Way 1: h separate heads in a Python loop, outputs concatenated, then the output projection."""

    def __init__(self, dim, num_heads, bias=True):
        super().__init__()
        self.heads = nn.ModuleList([AttentionHead(dim, dim // num_heads, bias) for _ in range(num_heads)])
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x: (B, N + 1, D)
        outs = [head(x)[0] for head in self.heads]  # h x (B, N + 1, d)
        return self.proj(torch.cat(outs, dim=-1))  # (B, N + 1, h*d) = (B, N + 1, D) -> (B, N + 1, D)


# %% [markdown]
# **Way 2: all heads batched.** The $h$ query projections $D\to d$ stacked on top of each other are one
# projection $D \to hd = D$. Compute it once, then *split* the last dimension into heads and move the
# head dimension next to the batch, so one batched matrix product handles every head.

# %%
def split_heads(t, num_heads):
    """(B, N + 1, D) -> (B, h, N + 1, d)."""
    B, n, D = t.shape
    return t.view(B, n, num_heads, D // num_heads).transpose(1, 2)  # (B, N + 1, h, d) -> (B, h, N + 1, d)


def merge_heads(t):
    """(B, h, N + 1, d) -> (B, N + 1, D): the concatenation of the heads."""
    B, h, n, d = t.shape
    return t.transpose(1, 2).reshape(B, n, h * d)  # (B, N + 1, h, d) -> (B, N + 1, D)


class BatchedMSA(nn.Module):
    """Way 2: one q, one k, one v projection D -> D; heads split off and run as a batch."""

    def __init__(self, dim, num_heads, bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=bias) for _ in range(3))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x: (B, N + 1, D)
        q, k, v = (split_heads(f(x), self.num_heads) for f in (self.q, self.k, self.v))  # 3 x (B, h, N + 1, d)
        out, _ = attention(q, k, v)  # (B, h, N + 1, d)
        return self.proj(merge_heads(out))  # (B, N + 1, D)


# %% [markdown]
# **Way 3: one fused qkv projection.** Stack the three projections once more: a single `Linear(D, 3D)`
# gives queries, keys and values in one matrix product (tintn's "faster attention"; timm and our
# package do the same, the layer is called `qkv`). The output is split as `(3, h, d)`: first all
# queries, then all keys, then all values, each head a contiguous block of $d$ columns.
#
# **Way 4: PyTorch's kernel.** `F.scaled_dot_product_attention(q, k, v)` computes step 3.1 in one
# call and picks a fused, memory-saving implementation where it can (FlashAttention on suitable
# GPUs); it never returns the weights, which is why the package keeps the explicit path for
# attention maps.

# %%
class FusedMSA(nn.Module):
    """Way 3 (explicit softmax) and way 4 (sdpa=True): one Linear(D, 3D) for q, k and v."""

    def __init__(self, dim, num_heads, bias=True, sdpa=False):
        super().__init__()
        self.num_heads, self.head_dim, self.sdpa = num_heads, dim // num_heads, sdpa
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # x: (B, N + 1, D)
        B, n, D = x.shape
        qkv = self.qkv(x).view(B, n, 3, self.num_heads, self.head_dim)  # (B, N + 1, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, h, N + 1, d)
        if self.sdpa:
            out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N + 1, d)
        else:
            out, _ = attention(q, k, v)  # (B, h, N + 1, d)
        return self.proj(merge_heads(out))  # (B, N + 1, D)


# %% [markdown]
# The view/permute split reads better as one einops pattern; both give the same tensors:

# %%
x_demo = torch.randn(2, 5, 3 * 12)  # (B, N + 1, 3D) with h=3, d=4
B_, N_, h_, d_ = 2, 5, 3, 4
by_view = x_demo.view(B_, N_, 3, h_, d_).permute(2, 0, 3, 1, 4)  # (3, B, h, N + 1, d)
by_einops = rearrange(x_demo, "b n (three h d) -> three b h n d", three=3, h=h_)  # (3, B, h, N + 1, d)
assert_close(by_view, by_einops, atol=0, rtol=0)

# %% [markdown]
# Now one set of weights, copied into every version. Going from way 1 to way 2 stacks the heads'
# weights row-wise (head 0's rows first); going to way 3 stacks q, k and v.

# %%
torch.manual_seed(0)
B, n, D, h = 2, 50, 64, 4  # a Fashion-MNIST-sized sequence: n = N + 1 = 49 patches + the class token
x = torch.randn(B, n, D)  # (B, N + 1, D)

loop = LoopMSA(D, h)
batched, fused, fused_sdpa = BatchedMSA(D, h), FusedMSA(D, h), FusedMSA(D, h, sdpa=True)
with torch.no_grad():
    for name in ("q", "k", "v"):  # heads stacked row-wise: (h*d, D) = (D, D)
        getattr(batched, name).weight.copy_(torch.cat([getattr(hd, name).weight for hd in loop.heads]))
        getattr(batched, name).bias.copy_(torch.cat([getattr(hd, name).bias for hd in loop.heads]))
    for m in (fused, fused_sdpa):  # q, k, v stacked row-wise: (3D, D)
        m.qkv.weight.copy_(torch.cat([batched.q.weight, batched.k.weight, batched.v.weight]))
        m.qkv.bias.copy_(torch.cat([batched.q.bias, batched.k.bias, batched.v.bias]))
    for m in (batched, fused, fused_sdpa):
        m.proj.load_state_dict(loop.proj.state_dict())

with torch.no_grad():
    y1, y2, y3, y4 = loop(x), batched(x), fused(x), fused_sdpa(x)  # each (B, N + 1, D)
check_shape(y1, (B, n, D), "multi-head attention output")
assert_close(y2, y1, atol=1e-6, rtol=1e-5)
assert_close(y3, y1, atol=1e-6, rtol=1e-5)
assert_close(y4, y1, atol=1e-5, rtol=1e-5)
print("loop == batched == fused qkv == F.scaled_dot_product_attention; largest difference "
      f"{max((y - y1).abs().max().item() for y in (y2, y3, y4)):.0e}")

# %% [markdown]
# **PyTorch's own module.** `nn.MultiheadAttention` stores the fused projection as `in_proj_weight`
# (q, k, v stacked row-wise, like our `qkv.weight`) and the output projection as `out_proj`. With
# `batch_first=True` it takes (B, N + 1, D); self-attention passes the same tensor as query, key and
# value. It can also return the per-head weights.

# %%
mha = nn.MultiheadAttention(D, h, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(fused.qkv.weight)
    mha.in_proj_bias.copy_(fused.qkv.bias)
    mha.out_proj.weight.copy_(fused.proj.weight)
    mha.out_proj.bias.copy_(fused.proj.bias)
    y_mha, w_mha = mha(x, x, x, need_weights=True, average_attn_weights=False)  # (B, N + 1, D), (B, h, N + 1, N + 1)
    q_, k_, _ = fused.qkv(x).view(B, n, 3, h, D // h).permute(2, 0, 3, 1, 4)  # 3 x (B, h, N + 1, d)
    _, w_ours = attention(q_, k_, k_)  # (B, h, N + 1, N + 1)
assert_close(y_mha, y1, atol=1e-5, rtol=1e-5)
assert_close(w_mha, w_ours, atol=1e-6, rtol=1e-5)
print("nn.MultiheadAttention gives the same output and the same per-head weights", tuple(w_mha.shape))

# %% [markdown]
# **Parity with the package.** `vit_lessons.attention.Attention` is way 3/4 with timm's names
# (`qkv`, `proj`), so the fused module's state dict loads into it as it is. Its explicit path also
# returns the (B, h, N + 1, N + 1) probabilities that lessons 05 and 07 turn into attention maps.

# %%
pkg = Attention(D, h)
pkg.load_state_dict(fused.state_dict())
with torch.no_grad():
    y_pkg = pkg(x)  # (B, N + 1, D), fused kernel
    y_pkg_explicit, w_pkg = pkg(x, return_attn=True)  # (B, N + 1, D), (B, h, N + 1, N + 1)
assert_close(y_pkg, y1, atol=1e-5, rtol=1e-5)
assert_close(y_pkg_explicit, y3, atol=1e-6, rtol=1e-5)
assert_close(w_pkg, w_ours, atol=1e-6, rtol=1e-5)
print("inline FusedMSA == vit_lessons.attention.Attention:", sorted(fused.state_dict()))

# %% [markdown]
# ## 3.5 No causal mask for images
#
# A language model predicts the next word, so token $i$ must not see tokens after it: a *causal mask*
# sets the scores above the diagonal to $-\infty$ before the softmax. An image has no "later":
# patch 30 is not the future of patch 29, and every patch may use every other. ViT's encoder, like
# BERT's (Devlin et al. 2019, Sec. 3: "bidirectional self-attention"), uses **no mask**.
#
# A causal mask would also break the classifier. The class token sits at position 0, and ViT reads
# the prediction from it alone (lesson 05). Under a causal mask row 0 may only attend to position 0,
# itself, so the class token never sees a single patch:

# %%
q, k, v = (split_heads(t, h) for t in torch.randn(3, B, n, D).unbind(0))  # 3 x (B, h, N + 1, d)
causal = torch.ones(n, n, dtype=torch.bool).tril()  # (N + 1, N + 1): True where attending is allowed
scores_c = (q @ k.transpose(-2, -1) / math.sqrt(D // h)).masked_fill(~causal, float("-inf"))  # (B, h, N + 1, N + 1)
w_causal = scores_c.softmax(-1)
print("class token's weights with a causal mask (head 0, first 6 keys):", w_causal[0, 0, 0, :6].tolist())
print("... and without a mask (rounded):", [round(t, 3) for t in attention(q, k, v)[1][0, 0, 0, :6].tolist()])

out_causal = w_causal @ v  # (B, h, N + 1, d)
assert_close(out_causal[:, :, 0], v[:, :, 0], atol=0, rtol=0)  # the class token just copies its own value
assert_close(F.scaled_dot_product_attention(q, k, v, is_causal=True), out_causal, atol=1e-5, rtol=1e-5)
v_other = v.clone()
v_other[:, :, 1:] = torch.randn_like(v_other[:, :, 1:])  # a completely different image
assert_close((w_causal @ v_other)[:, :, 0], out_causal[:, :, 0], atol=0, rtol=0)
print("with a causal mask the class token's output does not depend on the image at all")

# %% [markdown]
# ## 3.6 What attention costs
#
# Every query meets every key. Write $n = N + 1$ for the sequence length. One head stores an
# $n \times n$ matrix and spends $n^2 d$ multiply-adds on $QK^\top$ — that is $2n^2d$ FLOPs, counting a
# multiply and an add as two floating-point operations, the convention of this course — and as many
# on the weighted sum. Double the tokens and that part costs four times as much. First the memory: the
# weight matrix of a batch of 8 with 4 heads is $B\cdot h\cdot n^2$ floats of 4 bytes.

# %%
def attn_matrix_bytes(batch, heads, tokens, bytes_per_float=4):
    """Memory of the (B, h, N + 1, N + 1) attention weights, for a sequence of `tokens` = N + 1."""
    return batch * heads * tokens * tokens * bytes_per_float


Ns = [16, 32, 64, 128, 256, 512, 1024]
mem = [attn_matrix_bytes(8, 4, n) for n in Ns]
for n, m in zip(Ns, mem):
    print(f"n = {n:5d}: attention weights of a batch of 8 take {m / 2**20:8.2f} MiB")
assert mem[-1] == 8 * 4 * 1024 * 1024 * 4 == 128 * 2**20  # 128 MiB at n = 1024
assert all(b == 4 * a for a, b in zip(mem, mem[1:]))  # doubling n quadruples the memory

# %% [markdown]
# **Counted FLOPs.** For our multi-head module with width $D$ on one sequence of $n$ tokens, the
# matrix products cost, in FLOPs: $2 \cdot n \cdot D \cdot 3D$ for `qkv`, $2n^2D$ for $QK^\top$
# (all $h$ heads together: $h \cdot 2n^2d$), $2n^2D$ for the weighted sum, and $2nD^2$ for `proj`:
#
# $$\text{FLOPs}(n) = \underbrace{8nD^2}_{\text{projections}} + \underbrace{4n^2D}_{\text{attention}}$$
#
# per sequence (softmax and bias additions are a few $n^2$ and $nD$ more, which we leave out, like
# PyTorch's counter). The count is exact, and PyTorch's `FlopCounterMode` agrees. The attention part
# overtakes the projections where $4n^2D > 8nD^2$, at $n = 2D$: 128 tokens for $D = 64$.

# %%
from torch.utils.flop_counter import FlopCounterMode

def msa_flops(n, dim, batch=1):
    """FLOPs of the matrix products of one multi-head self-attention forward: (projections, attention)."""
    return batch * 8 * n * dim**2, batch * 4 * n**2 * dim


mod = FusedMSA(64, 4).eval()
Ns = pick(ci=[16, 32, 64, 128, 256, 512, 1024], default=[16, 32, 64, 128, 256, 512, 1024, 2048])
for n in (50, 300):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        mod(torch.randn(8, n, 64))  # (B, N + 1, D)
    assert counter.get_total_flops() == sum(msa_flops(n, 64, batch=8)), "the formula counts every matmul"
lin, quad = zip(*(msa_flops(n, 64, batch=8) for n in Ns))
assert msa_flops(128, 64)[0] == msa_flops(128, 64)[1]  # the crossover, n = 2D
print(f"{'n':>5} {'projection GFLOP':>17} {'attention GFLOP':>16} {'attention share':>16}")
for n, a, b in zip(Ns, lin, quad):
    print(f"{n:5d} {a / 1e9:17.4f} {b / 1e9:16.4f} {b / (a + b):16.0%}")

# %% [markdown]
# **Measured time.** Now the same forward, timed on this machine on one thread (the cell prints which
# CPU it was and how busy). A timing is the best of 3 runs, because other programs only ever make a run
# slower. The printed slope between the last two sizes tells you which regime the measurement reached:
# about 1 where the projections dominate, approaching 2 where attention does. (Small sizes are mostly
# fixed overhead; the committed output comes from `ci` mode, up to $n = 1024$; `default` mode goes to
# 2048.)

# %%
# NBVAL_IGNORE_OUTPUT
from vit_lessons.machine import loadavg, machine

threads = torch.get_num_threads()
torch.set_num_threads(1)  # one core: steadier on a shared machine, and the FLOPs/s stay comparable
times = []
with torch.no_grad():
    for n in Ns:
        xs = torch.randn(8, n, 64)  # (B, N + 1, D)
        mod(xs)  # warm-up
        reps = max(1, 512 // n)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                mod(xs)
            best = min(best, (time.perf_counter() - t0) / reps)
        times.append(best)
torch.set_num_threads(threads)
m = machine()
print(f"machine: {m['cpu']}, {m['cpu_count']} cores, timed on 1 thread; load average {loadavg()}")
for n, t, a, b in zip(Ns, times, lin, quad):
    print(f"n = {n:5d}: {t * 1e3:8.2f} ms per forward, {(a + b) / t / 1e9:6.2f} GFLOP/s")
slope = math.log(times[-1] / times[-2]) / math.log(Ns[-1] / Ns[-2])
print(f"measured slope between n = {Ns[-2]} and {Ns[-1]}: time grows like n^{slope:.2f}")

# %%
fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(13, 3.5))
total = [a + b for a, b in zip(lin, quad)]
a1.loglog(Ns, total, "o-", color="k", label="total")
a1.loglog(Ns, lin, "--", color="tab:blue", label="projections, 8nD²")
a1.loglog(Ns, quad, "--", color="tab:red", label="attention, 4n²D")
a1.axvline(128, color="0.6", ls=":", lw=1)
a1.set(xlabel="tokens n", ylabel="FLOPs per forward (B=8)", title="Counted (exact)")
a1.legend(fontsize=8)
a2.loglog(Ns, [t * 1e3 for t in times], "o-", color="k", label="measured")
a2.loglog(Ns, [times[-1] * 1e3 * f / total[-1] for f in total], ":", color="tab:green",
          label="∝ counted FLOPs (through the last point)")
a2.axvline(128, color="0.6", ls=":", lw=1)
a2.set(xlabel="tokens n", ylabel="ms per forward (B=8, 1 thread)", title="Measured on this machine")
a2.legend(fontsize=8)
a3.loglog(Ns, [attn_matrix_bytes(8, 4, n) / 2**20 for n in Ns], "o-", color="tab:red", label="(B, h, n, n) weights")
a3.set(xlabel="tokens n", ylabel="MiB", title="Memory of the attention weights")
a3.legend(fontsize=8)
for ax in (a1, a2, a3):
    ax.grid(alpha=0.3, which="both")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Why time is not FLOPs.** The count is exact, yet the GFLOP/s column above is not constant: time is
# not only multiply-adds. The $n^2$ part of a forward *writes* the (B, h, n, n) score matrix, runs a
# softmax over it (a few operations per entry, which the count leaves out) and *reads* it again for the
# weighted sum. While that matrix is small enough for the core's own fast caches these passes are cheap;
# once it outgrows them (the memory table above: 8 MiB at $n = 256$, 32 MiB at 512, 128 MiB at 1024 for this
# batch), every pass waits on slower memory. Timing the three steps on their own, at a small size (2 MiB, at
# $n = 128$) and at the largest size above, shows where the time goes (one thread again; the first line prints
# this CPU's caches, on Linux; a large L3 is shared by all the cores of the machine, so one core only gets a
# part of it):

# %%
# NBVAL_IGNORE_OUTPUT
from pathlib import Path


def best_time(fn, *args, reps):
    """Seconds per call of fn(*args): the best of 3 rounds of `reps` calls, after one warm-up call."""
    fn(*args)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


caches = [c for c in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"))
          if (c / "type").read_text().strip() != "Instruction"]  # Linux's description of the CPU caches
print("CPU caches:", ", ".join(f"L{(c / 'level').read_text().strip()} {(c / 'size').read_text().strip()}"
                               for c in caches) or "not listed on this system")
torch.set_num_threads(1)
print(f"{'n':>5} {'matrix':>9} {'q @ k^T':>23} {'softmax':>10} {'weights @ v':>23}")
with torch.no_grad():
    for n in (128, Ns[-1]):
        q_n, k_n, v_n = torch.randn(3, 8, 4, n, 16).unbind(0)  # 3 x (B, h, N + 1, d): B = 8, h = 4, d = 16
        k_t = k_n.transpose(-2, -1)  # (B, h, d, N + 1)
        scores_n = q_n @ k_t  # (B, h, N + 1, N + 1)
        weights_n = scores_n.softmax(-1)  # (B, h, N + 1, N + 1)
        flops = 2 * 8 * 4 * n * n * 16  # each of the two products
        reps = max(1, 2048 // n)
        t_qk = best_time(torch.matmul, q_n, k_t, reps=reps)
        t_sm = best_time(torch.softmax, scores_n, -1, reps=reps)
        t_wv = best_time(torch.matmul, weights_n, v_n, reps=reps)
        print(f"{n:5d} {scores_n.numel() * 4 / 2**20:5.1f} MiB {t_qk * 1e3:7.2f} ms {flops / t_qk / 1e9:4.0f} GFLOP/s "
              f"{t_sm * 1e3:7.2f} ms {t_wv * 1e3:7.2f} ms {flops / t_wv / 1e9:4.0f} GFLOP/s")
torch.set_num_threads(threads)

# %% [markdown]
# Read the two lines side by side. At the large size the softmax, which the FLOP count ignores, takes about
# as long as a matrix product, and the product that *writes* the large matrix, q @ kᵀ, runs at a fraction of
# its small-size rate. So between the sizes whose matrix is small and the sizes whose matrix is large, the
# measured time climbs faster than the count (the GFLOP/s of the forward drop between $n = 256$ and 512);
# past that point the rate settles again (compare the GFLOP/s at 512 and 1024), and the time grows about as
# fast as the count. Counted FLOPs say how much work there is; how long it takes also depends on
# how many bytes move, which is what memory-saving kernels (the end of this section) attack.

# %% [markdown]
# **What it means for the patch size.** For a 224 px image the number of tokens is
# $N + 1 = (224/P)^2 + 1$. Halving the patch side quadruples $N$ and multiplies the attention matrices
# by about 16. Below, the memory of ViT-B's attention weights for one image over all 12 layers (12 heads
# each), and the share of the encoder's FLOPs spent in the two $n^2$ products (the rest is the
# $n\cdot D^2$ of the qkv, projection and MLP layers: $24nD^2$ FLOPs per block, with the MLP 4 times as
# wide as $D$, against $4n^2D$; $n = N + 1$).

# %%
D_b, heads_b, layers_b = 768, 12, 12
print(f"{'patch':>5} {'grid':>7} {'N + 1':>6} {'weights, 12 layers':>19} {'attention share of FLOPs':>25}")
table = {}
for P in (32, 16, 14, 8, 4):
    n = (224 // P) ** 2 + 1
    mib = layers_b * attn_matrix_bytes(1, heads_b, n) / 2**20
    share = 4 * n * n * D_b / (4 * n * n * D_b + 24 * n * D_b**2)
    table[P] = (n, mib, share)
    print(f"{P:5d} {224 // P:3d}x{224 // P:<3d} {n:6d} {mib:15.1f} MiB {share:24.0%}")
assert table[16][0] == 197 and table[14][0] == 257
assert table[8][1] > 14 * table[16][1]  # half the patch side: ~16x the attention memory

# %% [markdown]
# With 16×16 patches (ViT-B/16) attention is a small part of the work; with 4×4 patches
# on a 224 px image it would need gigabytes per image just for the weights. This is why ViT cuts
# images into fairly large patches, why small-image courses like this one use small images, and why
# the paper notes that smaller patches are more expensive (Sec. 4.1: the sequence length is
# inversely proportional to the square of the patch size). Fused kernels such as FlashAttention avoid
# *storing* the $n\times n$ matrix, and with it most of the memory traffic measured above, but they still
# do the $n^2$ work.

# %% [markdown]
# ## Summary
#
# - Attention is $\mathrm{softmax}(QK^\top/\sqrt d)V$: scores, a row-wise softmax, a weighted sum.
# - The $1/\sqrt d$ keeps the scores' variance near 1; without it the softmax saturates as $d$ grows
#   and its gradient vanishes.
# - Multi-head attention runs $h$ heads of width $d = D/h$ in parallel and mixes their concatenation
#   with a projection. A loop over heads, batched heads, one fused `qkv` projection and
#   `F.scaled_dot_product_attention` compute the same thing, and so do `nn.MultiheadAttention` and
#   `vit_lessons.attention.Attention` with the same weights.
# - Images use no causal mask: patches have no time order, and the class token must see all of them.
# - Attention's own work is $4n^2D$ FLOPs ($2n^2D$ multiply-adds) per layer against $8nD^2$ FLOPs for the
#   projections, so it dominates from $n = 2D$ tokens on; its memory grows like $n^2$ ($n = N + 1$), so
#   the patch size trades detail for cost. Measured time also pays for moving the $n \times n$ matrix
#   through memory (at large $n$ the softmax costs as much as a product), so it outgrows the FLOP count
#   where that matrix outgrows the fast caches.
#
# Next, lesson 04 wraps attention with LayerNorm, an MLP and residual connections into the encoder
# block.

# %% [markdown]
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("03.1")` prints a nudge for
# exercise 03.1, `hint("03.1", 2)` the key line. Worked solutions are in
# [solutions/03_attention.ipynb](solutions/03_attention.ipynb).

# %%
from vit_lessons.exercises import (check_masked_attention, check_scaled_dot_product, check_window_cost,
                                   check_windowed_attention, hint)

# %% [markdown]
# **Exercise 03.1 · Scaled dot-product attention (warm-up).** `my_attention(q, k, v)` takes q, k of shape
# (B, n, d) and v of shape (B, n, d_v), for sequences of n tokens ($n = N + 1$ in a ViT), and returns
# softmax(q kᵀ / √d) v, shape (B, n, d_v).

# %%
def my_attention(q, k, v):
    raise NotImplementedError("your code here")


ok = check_scaled_dot_product(my_attention)

# %% [markdown]
# **Exercise 03.2 · Attention with a padding mask.** A ViT's sequences all have the same length, but
# a batch of images of *different* sizes (or sentences of different lengths) is padded to one length,
# and no query may read the padding. Write `my_masked_attention(q, k, v, key_padding_mask)`: like
# `my_attention`, with `key_padding_mask` of shape (B, n), True where a token is padding; padded keys must
# get weight 0 and each query's weights must still sum to 1. (Section 3.5's causal mask is the tool.)

# %%
def my_masked_attention(q, k, v, key_padding_mask):
    raise NotImplementedError("your code here")


ok = check_masked_attention(my_masked_attention)

# %% [markdown]
# **Exercise 03.3 · Attention inside windows (Swin).** Section 3.6 showed attention's $n^2$ cost. The Swin
# Transformer (Liu et al. 2021, Sec. 3.2, "Self-attention in non-overlapped windows") avoids it by cutting the
# grid of patches into non-overlapping windows of $w \times w$ patches and letting each patch attend only to the
# patches of its own window. Write `my_windowed_attention(q, k, v, grid_size, window)`: q, k of shape (B, N, d)
# and v of shape (B, N, d_v) hold the $N$ = `grid_size`² patches of a `grid_size` × `grid_size` grid in raster
# order (row by row, no class token); return (B, N, d_v), each patch attending only inside its `window` ×
# `window` window. For a 4×4 grid with 2×2 windows, patches 0, 1, 4 and 5 form the first window.

# %%
def my_windowed_attention(q, k, v, grid_size, window):
    raise NotImplementedError("your code here")


ok = check_windowed_attention(my_windowed_attention)

# %% [markdown]
# **Exercise 03.4 · What windows save, predicted then counted.** Before you run anything, predict the cost of
# exercise 03.3's windowed attention when it is computed window by window (as Swin does, never forming the
# $n \times n$ scores): `my_window_cost(grid_size, window, dim, num_heads)` returns two numbers for one image,
# the number of attention weights over all heads and the FLOPs of the two products $qk^\top$ and weights · v
# (a multiply-add counts 2, as in §3.6). Write them from the sizes alone; the check then builds the windows,
# runs them under PyTorch's FLOP counter, and compares. Swin's Eq. (1) and (2) state the same saving for a whole
# attention module, counted in multiply-adds.

# %%
def my_window_cost(grid_size, window, dim, num_heads):
    raise NotImplementedError("your code here")


ok = check_window_cost(my_window_cost)
