# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.0
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Solutions to lesson 09
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/09_small_data.ipynb)
#
# Worked solutions to the exercises of [lesson 09](../09_small_data.ipynb). Try them yourself first:
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

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from vit_lessons.config import ViTConfig
from vit_lessons.exercises import check_distill_gradient, check_shift_stack, check_spt_view
from vit_lessons.locality import ShiftedPatchEmbed
from vit_lessons.model import VisionTransformer

# %% [markdown]
# ## Exercise 09.1 · Distillation at a high temperature
#
# **The prediction, reasoned.** Write $q = \text{softmax}(s/\tau)$ and $p = \text{softmax}(t/\tau)$. The gradient
# of $\text{KL}(p\,\|\,q)$ with respect to $s$ is $(q - p)/\tau$, so the soft term's is $\tau (q - p)$ (Hinton et
# al. 2015, §2.1). At $\tau = 100$, $p_0 = \text{softmax}(0.02, 0)_0 \approx 0.505$ and $q_0 = 0.5$: the
# difference is tiny, about $-0.005$, but it is multiplied by $\tau = 100$, giving about $-0.5$. For large
# $\tau$, $\text{softmax}(z/\tau) \approx (1 + z/\tau)/K$ and $\tau(q - p) \to \big((s - \bar s) - (t - \bar t)\big)/K$
# $= (0 - 1)/2$: the soft term becomes logit matching, and its gradient does not fade.

# %%
my_gradient_prediction = -0.5  # tau (q - p) -> ((s - mean s) - (t - mean t)) / K = -1 / 2, reasoned above


def my_distill_gradient(student_logits, teacher_logits, tau):
    s = student_logits.detach().clone().requires_grad_(True)
    p = F.softmax(teacher_logits / tau, dim=-1)  # (B, K) the teacher, softened
    log_q = F.log_softmax(s / tau, dim=-1)  # (B, K) the student, softened
    loss = (p * (p.log() - log_q)).sum(-1).mean() * tau**2  # the soft term of lesson 09, §9.3
    loss.backward()
    return s.grad  # (B, K)


ok = check_distill_gradient(my_distill_gradient)

# %% [markdown]
# The same example over a range of temperatures, with and without the $\tau^2$: with it, the gradient on the
# student's logit 0 settles at $-1/2$, the logit-matching limit; without it, it fades like $1/\tau^2$, and a hot
# teacher would teach nothing.

# %%
s0, t0 = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[2.0, 0.0]], dtype=torch.float64)  # (1, K)
taus = [0.5, 1, 2, 4, 8, 16, 32, 64, 128]
with_sq = [my_distill_gradient(s0, t0, tau)[0, 0].item() for tau in taus]
without = [g / tau**2 for g, tau in zip(with_sq, taus)]
for tau, a, b in zip(taus, with_sq, without):
    print(f"tau {tau:6.1f}: gradient on logit 0 with tau^2 {a:+.4f}, without {b:+.6f}")
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.semilogx(taus, with_sq, "o-", label="tau^2 KL (lesson 09)")
ax.semilogx(taus, without, "s--", label="KL alone")
ax.axhline(-0.5, color="0.5", ls=":", label="logit matching: (s - t) / K, centred")
ax.set(xlabel="temperature tau", ylabel="d loss / d s_0", title="one image, K = 2, s = (0, 0), t = (2, 0)")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## Exercise 09.2 · The shifted patch stack
#
# Pad with `s` zeros on every side: the image then starts at row and column `s` of the padded one. The
# window starting at `(s + dy, s + dx)` holds, at pixel $(i, j)$, the value $x_{i+dy,\,j+dx}$ — with
# `dy = dx = -s` each pixel sees its neighbour up-left, and zeros come in from beyond the border.


# %%
def my_shift_stack(x, shift):
    s = shift
    H, W = x.shape[-2:]
    xp = F.pad(x, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    moved = [xp[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in ((-s, -s), (-s, s), (s, -s), (s, s))]
    return torch.cat([x, *moved], dim=1)  # (B, 5C, H, W)


ok = check_shift_stack(my_shift_stack)

# %% [markdown]
# ## Exercise 09.3 · What a shifted-patch token sees
#
# **The prediction, reasoned.** Token 5 is the patch in grid row 1, column 1: pixels 7–13 in both directions. Its
# up-left copy holds, at those positions, the pixels 3 rows up and 3 columns left: rows and columns 4–10. The
# other three copies bring the windows 4–10 × 10–16, 10–16 × 4–10 and 10–16 × 10–16. The four windows overlap
# the patch and each other, and together cover rows and columns 4–16: a 13×13 square, 169 pixels. The vector's
# 245 values count many pixels twice.


# %%
my_view_prediction = 169  # the 13 x 13 square from 3 pixels before the patch to 3 after it, reasoned above


def my_spt_view(img_size, patch_size, shift, token):
    g = img_size // patch_size
    r, c = divmod(token, g)  # the token's row and column on the patch grid
    x = torch.ones(1, 1, img_size, img_size, requires_grad=True)
    stacked = my_shift_stack(x, shift)  # (1, 5, H, W)
    rows, cols = slice(r * patch_size, (r + 1) * patch_size), slice(c * patch_size, (c + 1) * patch_size)
    stacked[0, :, rows, cols].sum().backward()  # every value the token's vector holds
    return x.grad[0, 0] != 0  # (H, W): the pixels those values came from


ok = check_spt_view(my_spt_view)

# %% [markdown]
# The same count through the package's `ShiftedPatchEmbed` (its LayerNorm and projection mix the 245 values,
# but bring in no new pixels), beside the plain and the hybrid patch embeddings of lesson 09, §9.5; and token 0,
# in the corner, where the shifted copies reach beyond the image and bring in only padding:

# %%
def pixels_seen(embed, token):
    """(28, 28) bool: the input pixels whose change moves patch token ``token`` of ``embed``."""
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    embed(x)[0, token].abs().sum().backward()
    return x.grad[0, 0] != 0


torch.manual_seed(0)
embeds = {"plain ViT": VisionTransformer(ViTConfig.fashion_mnist_cpu()).patch_embed,
          "hybrid": VisionTransformer(ViTConfig.fashion_mnist_hybrid()).patch_embed.eval(),  # BatchNorm: eval mode
          "SPT": ShiftedPatchEmbed(28, 7, 1, 64)}
seen = {name: pixels_seen(e, 5) for name, e in embeds.items()}
assert torch.equal(seen["SPT"], my_spt_view(28, 7, 3, 5))
corner = pixels_seen(embeds["SPT"], 0)
assert torch.equal(corner, my_spt_view(28, 7, 3, 0))
print(", ".join(f"{name}: {int(m.sum())} pixels" for name, m in seen.items()),
      f"reach token 5; SPT's corner token 0: {int(corner.sum())} pixels")
fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
for ax, (title, m) in zip(axes, [*seen.items(), ("SPT, token 0", corner)]):
    ax.imshow(m.numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks(range(-1, 28, 7))
    ax.set_yticks(range(-1, 28, 7))
    ax.grid(color="tab:red", linewidth=0.6)
    ax.tick_params(labelbottom=False, labelleft=False)
    ax.set_title(f"{title}: {int(m.sum())} px", fontsize=9)
fig.suptitle("input pixels that reach a patch token (dark), on the 7x7 patch grid (red)", fontsize=9)
fig.tight_layout()

# %% [markdown]
# Three ways to give a token more than its own patch, at the first layer: the hybrid's two convolutions reach 2
# pixels beyond the patch through learned, shared filters; SPT reaches 3 pixels beyond it with no filters at
# all, by copying the neighbouring pixels into the token's vector. In the corner, where the shifted copies look
# beyond the image, token 0 sees 10×10 = 100 pixels and gets padding for the rest: the grey bands of lesson 09's
# shifted views.
