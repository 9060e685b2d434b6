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
# # 07 · Solutions to lesson 07
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/07_looking_inside.ipynb)
#
# Worked solutions to the exercises of [lesson 07](../07_looking_inside.ipynb). Try them yourself first:
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
from vit_lessons.lesson import setup
device = setup(seed=0)

import torch

from vit_lessons.data import load_dataset, normalize_batch
from vit_lessons.exercises import (check_cls_attention_map, check_deletion_curve, check_mean_distance, check_rollout,
                                   check_window_attention)
from vit_lessons.faithfulness import bootstrap_ci, curve_auc, perturbation_curve
from vit_lessons.fig7 import mean_attention_distance, patch_distances
from vit_lessons.train import load_model
from vit_lessons.assets import asset_path

# %% [markdown]
# ## Exercise 07.1 · Warm-up: the class token's attention map
#
# Average the heads, take the class token's row, drop its own column, lay the rest out on the grid.

# %%
def my_cls_attention_map(attn, grid_size):
    row = attn.mean(dim=1)[:, 0, 1:]  # (B, N): heads averaged, class token as the query, patches as keys
    return row.reshape(attn.shape[0], grid_size, grid_size)  # (B, gh, gw)


ok = check_cls_attention_map(my_cls_attention_map)

# %% [markdown]
# ## Exercise 07.2 · Attention rollout
#
# Identity for the residual path, rows renormalised, the later block on the left.

# %%
def my_rollout(attentions):
    B, _, n, _ = attentions[0].shape  # n = N + 1 tokens
    eye = torch.eye(n, dtype=attentions[0].dtype)
    result = eye.expand(B, n, n)  # (B, N + 1, N + 1)
    for a in attentions:
        m = a.mean(dim=1) + eye  # (B, N + 1, N + 1)
        m = m / m.sum(dim=-1, keepdim=True)
        result = m @ result  # (B, N + 1, N + 1)
    return result


ok = check_rollout(my_rollout)

# %% [markdown]
# ## Exercise 07.3 · Mean attention distance
#
# Patch-to-patch weights, renormalised per query, times the distances between patch centres in pixels.

# %%
def my_mean_distance(attn, grid_size, patch_size):
    w = attn[..., 1:, 1:]  # (B, h, N, N): the class token has no place in the image
    w = w / w.sum(dim=-1, keepdim=True)
    d = patch_distances(grid_size, patch_size).to(w.dtype)  # (N, N) pixels
    return (w * d).sum(dim=-1).mean(dim=(0, 2))  # (h,)


ok = check_mean_distance(my_mean_distance)

# %% [markdown]
# ## Exercise 07.4 · A head with a locality prior
#
# A square window of Chebyshev radius `radius` around each patch, itself included, uniform inside.

# %%
def my_window_attention(grid_size, radius):
    r, c = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    pos = torch.stack([r.flatten(), c.flatten()], dim=1)  # (N, 2): row-major, as patchify orders them
    near = ((pos[:, None] - pos[None]).abs().amax(dim=-1) <= radius).float()  # (N, N)
    return near / near.sum(dim=-1, keepdim=True)


ok = check_window_attention(my_window_attention)
grid, patch = 4, 7  # the lesson's model: 28x28 images in 7x7 patches
uniform = float(patch_distances(grid, patch).mean())
for radius in (1, 2):
    w = my_window_attention(grid, radius)  # (N, N)
    d = mean_attention_distance([w[None, None]], grid, patch)  # (1, 1)
    print(f"window radius {radius}: mean attention distance {float(d):.2f} px (uniform: {uniform:.2f} px)")

# %% [markdown]
# A radius-1 window (a 3×3 neighbourhood, like a 3×3 convolution on the patch grid) keeps the distance well
# below uniform attention's; with radius 2 the window already covers most of a 4×4 grid, and the distance
# comes close to uniform. Compare both with the trained heads of lesson 07: the most local trained head
# (block 1 of the learned-position model) looks closer than a radius-1 window.

# %% [markdown]
# ## Exercise 07.5 · The deletion test for a map of your own
#
# Rank the patches once, most relevant first; follow the class predicted for the untouched image; paint the
# first k patches of the ranking with 0, the dataset mean after normalisation, for k = 0, 1, ..., N. `labels`,
# `mean` and `std` are not needed: the label is not what the model decided, and the mean is 0 in these units.

# %%
def my_deletion_curve(model, images, relevance, labels, mean, std):
    B, C, H, W = images.shape
    gh, gw = relevance.shape[-2:]
    P, N = H // gh, gh * gw
    order = relevance.reshape(B, N).argsort(dim=1, descending=True)  # (B, N): patch indices, most relevant first
    probs = []
    with torch.no_grad():
        target = model(images).argmax(dim=-1)  # (B,): the predicted class of the untouched image
        for k in range(N + 1):
            gone = torch.zeros(B, N, dtype=torch.bool, device=images.device).scatter(1, order[:, :k], True)  # (B, N)
            mask = gone.view(B, 1, gh, 1, gw, 1).expand(B, C, gh, P, gw, P).reshape(B, C, H, W)  # (B, C, H, W)
            logits = model(images.masked_fill(mask, 0.0))  # (B, K): a painted copy, the images stay as they are
            probs.append(logits.softmax(dim=-1).gather(1, target[:, None])[:, 0])  # (B,)
    return torch.stack(probs, dim=1)  # (B, N + 1)


ok = check_deletion_curve(my_deletion_curve)

# %% [markdown]
# The transfer: on the lesson's model and 300 of its test images, a map of our own — the brightness of each
# patch, the sum of its raw pixel values (0 to 255) — against a random map. Blank background patches tie in
# brightness, and a sort breaks ties by position; adding a random number in [0, 1) breaks them at random
# instead and leaves the order of unequal sums alone (they differ by at least 1), so the removal order is
# defined, and the same as `perturbation_curve`'s. The smaller the area under the deletion curve, the faster the
# predicted class's probability falls as the map's top patches go.

# %%
data = load_dataset("fashion-mnist")
model, _ = load_model(asset_path("checkpoints/fashion_mnist_vit.pt"))
cfg = model.config
x = normalize_batch(data.test_x[:2000], data.info.mean, data.info.std)  # (B, 1, 28, 28), as in the lesson
y = data.test_y[:2000]

n, g, p = 300, cfg.grid_size, cfg.patch_size
xe, ye = x[:n], y[:n]
gen = torch.Generator().manual_seed(0)
pixels = data.test_x[:n].float()  # (n, 1, 28, 28), 0 to 255
brightness = pixels.reshape(n, 1, g, p, g, p).sum(dim=(1, 3, 5))  # (n, gh, gw): each patch's pixel sum
brightness = brightness + torch.rand(n, g, g, generator=gen)  # ties broken at random
random_map = torch.rand(n, g, g, generator=gen)  # (n, gh, gw)
auc, curves = {}, {}
for name, m in (("brightness", brightness), ("random", random_map)):
    curves[name] = my_deletion_curve(model, xe, m, ye, data.info.mean, data.info.std)  # (n, N + 1)
    auc[name] = curve_auc(curves[name])  # (n,)
    print(f"{name:>10}: deletion area {auc[name].mean():.3f}")
diff, lo, hi = bootstrap_ci(auc["brightness"] - auc["random"], generator=torch.Generator().manual_seed(1))
print(f"brightness - random: {diff:+.3f} (95% bootstrap interval {lo:+.3f} to {hi:+.3f}, paired over {n} images)")
torch.testing.assert_close(curves["brightness"][:50], perturbation_curve(model, xe[:50], brightness[:50]))

# %% [markdown]
# Brightness does no better than a random order: the two areas are a few hundredths apart, and the 95%
# interval of the paired difference includes 0. (A single random order per image is itself noisy: another
# random map moves its area by about as much.) The bright patches (high pixel values, drawn dark in the course's
# pictures) are the garment, so this says that the
# garment's brightest squares, painted grey, are not what the prediction hangs on most.
#
# And the opposite idea, the darkest patches first (the lowest pixel sums: background):

# %%
auc["darkness"] = curve_auc(my_deletion_curve(model, xe, -brightness, ye, data.info.mean, data.info.std))
diff, lo, hi = bootstrap_ci(auc["darkness"] - auc["random"], generator=torch.Generator().manual_seed(1))
print(f"  darkness: deletion area {auc['darkness'].mean():.3f}; darkness - random: {diff:+.3f} "
      f"(95% bootstrap interval {lo:+.3f} to {hi:+.3f})")

# %% [markdown]
# The darkest patches first beat the random order clearly. With the mean fill a "removed" background patch
# is not neutral: black (pixel 0) becomes grey, and a grey square where the background was changes the garment's
# outline — a sign that this model reads the outline against the black background. It is the mirror image of
# the black fill's problem in lesson 07: whatever the fill, the test scores a map *together with* its fill, so
# compare maps under the same fill and against the random baseline, as the lesson's table does.
