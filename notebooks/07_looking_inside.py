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
# # 07 · Looking inside a trained ViT
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/07_looking_inside.ipynb)
#
# Lesson 06 trained a ViT to 89% on Fashion-MNIST. This lesson opens it up. You will
#
# - read its **attention maps**, block by block and head by head, and the class token's attention laid
#   over the image;
# - compute three explanations of a prediction side by side — **attention rollout** (Abnar & Zuidema
#   2020), **gradient-weighted rollout** (after Chefer et al. 2021) and **Grad-CAM** (Selvaraju et al.
#   2017) — and test them against the model itself by covering patches up;
# - find, by a search over the test images, where these methods **disagree**, and see why attention is not
#   an explanation;
# - redraw the three panels of the ViT paper's **Fig. 7** for our model: the patch-embedding filters, the
#   position-embedding similarity and how far each head looks at each depth — and compare the untrained model;
# - look at the **learned position embeddings** of a second trained model (lesson 02's promise).
#
# Everything here comes from `vit_lessons.explain` (maps, rollout, Grad-CAM), `vit_lessons.fig7` (the
# paper's Fig. 7) and `vit_lessons.overlay` (maps drawn over images with a stated colour scale).

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

import json
import math

import matplotlib.pyplot as plt
import torch

from vit_lessons.data import load_dataset, normalize_batch
from vit_lessons.explain import (attention_maps, attention_rollout, grad_cam, grad_rollout, pooled_row,
                                 to_patch_grid)
from vit_lessons.fig7 import mean_attention_distance, patch_distances, patch_embedding_components, position_similarity
from vit_lessons.overlay import cls_heatmap, overlay, shared_limits
from vit_lessons.shapes import check_shape
from vit_lessons.train import Trainer, default_setup, evaluate, load_model, read_metrics
from vit_lessons.viz import asset_path, similarity_grid

# %% [markdown]
# ## 7.1 The trained model and the images we look at
#
# The committed checkpoint is the median of three 10-minute CPU runs in lesson 06. We load it through the
# package's asset helper (so the lesson also runs from an installed package, on Colab) and re-evaluate it
# on all 10,000 test images: the count must equal the one recorded beside the weights.

# %%
data = load_dataset("fashion-mnist")
classes = data.info.classes
ckpt = asset_path("checkpoints/fashion_mnist_vit.pt")
model, ck = load_model(ckpt)
record = json.loads(ckpt.with_suffix(".json").read_text())
res = evaluate(model, data.test_x, data.test_y, data.info.mean, data.info.std)
assert res["correct"] == record["test_correct"], (res["correct"], record["test_correct"])
cfg = model.config
print(f"{ckpt.name}: {model.num_params:,} parameters, test accuracy {res['acc']:.2%} "
      f"({res['correct']:,}/10,000, as recorded)")
print(f"patch {cfg.patch_size}: a {cfg.grid_size}x{cfg.grid_size} grid of patches + the class token = "
      f"{cfg.num_tokens} tokens; {cfg.depth} blocks x {cfg.num_heads} heads; positions: {cfg.pos_embed}")

# %% [markdown]
# Seven-pixel patches make a 4×4 grid: every map in this lesson has 16 cells, one per patch, and a map
# stretched over the 28×28 image shows as 16 flat blocks. That is coarse — it is also exactly what the
# model sees.
#
# The statistics below use the first 2,000 test images (in every mode: a few seconds of work); the
# pictures use one example of a few classes.

# %%
n_stats = 2000
x = normalize_batch(data.test_x[:n_stats], data.info.mean, data.info.std)  # (B, 1, 28, 28)
y = data.test_y[:n_stats]
pred = res["pred"][:n_stats]
show_classes = ["Ankle boot", "Trouser", "Shirt", "Sandal", "Bag", "Pullover"]
show = torch.stack([(y == classes.index(c)).nonzero()[0, 0] for c in show_classes])  # first of each class
xs, ys = x[show], y[show]  # (6, 1, 28, 28), (6,)
raw = data.test_x[show]  # (6, 1, 28, 28) uint8: what we draw under the maps
print("test images shown:", ", ".join(f"#{int(i)} {classes[int(c)]} (predicted {classes[int(pred[i])]})"
                                       for i, c in zip(show, ys)))

# %% [markdown]
# ## 7.2 Attention, block by block and head by head
#
# `attention_maps(model, images)` returns one (B, h, N + 1, N + 1) tensor of attention probabilities per
# block: row $i$ of head $k$ is how token $i$ spreads its attention over all $N + 1 = 17$ tokens ($N = 16$
# patches and the class token), and sums to 1. The
# classifier reads only the class token's final state, so row 0 — where the class token looks — is the
# natural row to draw. Its 16 patch entries go on the grid; its weight on itself has no place in the
# picture, so we print how large it is.

# %%
attn = attention_maps(model, x)  # L x (B, h, N + 1, N + 1)
check_shape(attn[0], (n_stats, cfg.num_heads, cfg.num_tokens, cfg.num_tokens), "block 1's attention")
torch.testing.assert_close(attn[3].sum(-1), torch.ones(n_stats, cfg.num_heads, cfg.num_tokens), atol=1e-5, rtol=0)
cls_rows = torch.stack([a[:, :, 0, :] for a in attn], dim=1)  # (B, L, h, N + 1): the class token's rows
self_share = cls_rows[..., 0].mean(dim=0)  # (L, h): weight the class token keeps on itself
for l, row in enumerate(self_share):
    print(f"block {l + 1}: class token's weight on itself per head", " ".join(f"{v:.2f}" for v in row))

# %%
def layer_head_grid(i):
    """One test image's class-token attention: blocks down, heads across, one colour scale."""
    maps = to_patch_grid(cls_rows[show[i]], model)  # (L, h, 4, 4)
    return cls_heatmap(raw[i], maps, titles=[f"head {k + 1}" for _ in range(cfg.depth) for k in range(cfg.num_heads)],
                       row_labels=[f"block {l + 1}" for l in range(cfg.depth)], size=1.45,
                       label="class token's attention weight",
                       suptitle=f"test image #{int(show[i])} ({classes[int(ys[i])]}): where the class token looks")


fig = layer_head_grid(0)

# %%
fig = layer_head_grid(2)

# %% [markdown]
# **How to read these grids.** Each panel is one head of one block; the brighter a patch, the larger the
# share of the class token's attention it gets, on one scale for all 24 panels (the colour bar). A panel
# whose patches are all dark is a head in which the class token mostly attends to *itself* (the weights
# printed above). Three things stand out:
#
# - heads differ: in the same block one head puts most of its weight on one patch, another spreads it;
# - in block 1 the class token gives (almost) nothing to itself and all to the patches, often to
#   *background* patches; in block 3 two or three heads keep half or more on itself (the printed weights);
# - what a head reads in a late block is not a patch any more but a token that has already mixed with the
#   others in every block below — which is why a single late map can mislead, and why rollout (7.3) exists.
#
# Averaged over the heads, the class token's attention in each block, for six test images:

# %%
per_block = to_patch_grid(cls_rows[show].mean(dim=2), model)  # (6, L, 4, 4): heads averaged
fig = cls_heatmap(raw[:, None].expand(-1, cfg.depth, -1, -1, -1), per_block,
                  titles=[f"block {l + 1}" if i == 0 else "" for i in range(6) for l in range(cfg.depth)],
                  row_labels=[classes[int(c)] for c in ys], size=1.45, label="class token's attention weight",
                  suptitle="class token's attention, heads averaged (one scale for all panels)")

# %% [markdown]
# ## 7.3 Attention rollout
#
# A token in block $l$ is already a mixture of the tokens below it, and the residual connection adds the
# token to what attention gives it: $x_{l} = x_{l-1} + \mathrm{Attn}(x_{l-1}) + \dots$. Abnar & Zuidema
# (2020) follow the mixing through the blocks with a simple model of both: average the heads of block
# $l$ into $\bar A_l$, add the identity for the residual path, renormalise the rows, and multiply,
#
# $$\tilde A_l = \mathrm{rownorm}(\bar A_l + I), \qquad R = \tilde A_L\,\tilde A_{L-1}\cdots\tilde A_1 .$$
#
# Row 0 of $R$ says how much of the class token's final state comes from each *input* token, under the
# assumption that attention alone moves information between tokens (the MLPs and the values' content are
# ignored). Every row of $R$ sums to 1.

# %%
roll = attention_rollout(attn)  # (B, N + 1, N + 1)
torch.testing.assert_close(roll.sum(-1), torch.ones(n_stats, cfg.num_tokens), atol=1e-5, rtol=0)
roll_map = to_patch_grid(pooled_row(roll, model), model)  # (B, 4, 4): the class token's row over the patches
print(f"rollout: share of the class token's final state from the 16 patches {roll_map.sum((1, 2)).mean():.2f}, "
      f"from the class token itself {pooled_row(roll, model)[:, 0].mean():.2f} (mean of {n_stats} images)")

# %% [markdown]
# ## 7.4 Three explanations and a test: rollout, grad-rollout, Grad-CAM, occlusion
#
# Rollout does not know which class it explains: it is the same for "sandal" and "sneaker". Two methods
# bring the class in through gradients:
#
# - **gradient-weighted rollout** (`grad_rollout`): each block's attention is multiplied by the gradient of
#   the class's logit with respect to it, the positive part kept and the heads averaged, then rolled out as
#   above (the weighting of Chefer et al. 2021);
# - **Grad-CAM** (`grad_cam`, Selvaraju et al. 2017): the patch tokens entering the last block's attention
#   are weighted, channel by channel, by the gradient of the class's logit averaged over the patches; the
#   positive part of the sum is the map, scaled to [0, 1].
#
# None of them is the truth. One direct test of what the model *uses* is to cover a patch up and see how
# much the class's logit drops — **occlusion**. We paint each patch, in turn, with the background (pixel
# value 0) and record the drop of the predicted class's logit: 16 forward passes per image, one per patch.

# %%
def occlusion(model, raw_images, target):
    """(B, gh, gw) drop of the target logit when each patch is painted with the background (pixel 0)."""
    p, g = cfg.patch_size, cfg.grid_size
    with torch.no_grad():
        base = model(normalize_batch(raw_images, data.info.mean, data.info.std)).gather(1, target[:, None])  # (B, 1)
        drops = []
        for k in range(g * g):
            covered = raw_images.clone()
            r, c = divmod(k, g)
            covered[:, :, r * p:(r + 1) * p, c * p:(c + 1) * p] = 0
            logit = model(normalize_batch(covered, data.info.mean, data.info.std)).gather(1, target[:, None])
            drops.append((base - logit)[:, 0])  # (B,)
    return torch.stack(drops, dim=1).reshape(-1, g, g)  # (B, gh, gw)


groll_map = to_patch_grid(pooled_row(grad_rollout(model, x, target=pred), model), model)  # (B, 4, 4)
cam = grad_cam(model, x, target=pred)  # (B, 4, 4) in [0, 1]
occ = occlusion(model, data.test_x[:n_stats], pred)  # (B, 4, 4): logit drop
methods = {"rollout": roll_map, "grad-rollout": groll_map, "Grad-CAM": cam, "occlusion": occ}
for name, m in methods.items():
    check_shape(m, (n_stats, cfg.grid_size, cfg.grid_size), name)
print(f"Grad-CAM is zero everywhere (no patch with a positive weighted sum) for "
      f"{(cam.flatten(1).amax(1) == 0).float().mean():.1%} of the images")

# %%
def method_grid(rows, title):
    """Images down; the image, then each method's map over it; one colour scale per column, stated below it."""
    cols = list(methods)
    fig, axes = plt.subplots(len(rows), len(cols) + 1, figsize=(2.0 * (len(cols) + 1), 1.9 * len(rows) + 1.0),
                             squeeze=False, layout="constrained")
    for j, name in enumerate(cols):
        lo, hi = shared_limits(methods[name][rows])
        for i, b in enumerate(rows):
            overlay(data.test_x[b], methods[name][b], axes[i, j + 1], vmin=lo, vmax=hi, colorbar=False)
            if i == 0:
                axes[i, j + 1].set_title(name, fontsize=9)
        unit = {"occlusion": "logit drop", "Grad-CAM": "Grad-CAM, 0 to 1"}.get(name, "share of\nclass token")
        bar = fig.colorbar(axes[-1, j + 1].images[-1], ax=axes[:, j + 1], location="bottom", fraction=0.04, pad=0.02)
        bar.set_label(unit, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    for i, b in enumerate(rows):
        axes[i, 0].imshow(data.test_x[b, 0], cmap="gray")
        axes[i, 0].set_title(f"#{int(b)} {classes[int(y[b])]}\npredicted {classes[int(pred[b])]}", fontsize=8)
        axes[i, 0].axis("off")
    fig.suptitle(f"{title}\n(one colour scale per column, its bar below it)", fontsize=10)
    return fig


fig = method_grid(show.tolist(), "three explanations of the predicted class, and occlusion")

# %% [markdown]
# **How to read it.** Each column has its own unit and one scale for all its rows (the colour bars below
# the columns): rollout and grad-rollout are shares of the class token's final state (the 16 patch cells
# plus the class token's own share sum to 1), Grad-CAM is scaled to [0, 1] per image, occlusion is the drop
# of the predicted class's logit when that patch is covered (negative: covering it *helps* the class).
# Compare where each column is brightest, not the colours across columns.
#
# How well does each method agree with occlusion, over all 2,000 images? For each image we rank the 16
# patches by each map and compute the rank correlation (Spearman's $\rho$) with the occlusion ranking: 1
# is the same order, 0 unrelated, −1 reversed. We also count how often the method's top patch is the patch
# whose occlusion hurts most.

# %%
def spearman(a, b):
    """(B,) rank correlation between two (B, ...) sets of maps (ties broken by position)."""
    ra = a.flatten(1).argsort(1).argsort(1).float()
    rb = b.flatten(1).argsort(1).argsort(1).float()
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))


occ_top = occ.flatten(1).argmax(1)  # (B,)
rho = {}
for name in ("rollout", "grad-rollout", "Grad-CAM"):
    rho[name] = spearman(methods[name], occ)
    hit = (methods[name].flatten(1).argmax(1) == occ_top).float().mean()
    print(f"{name:>12} vs occlusion: median rho {rho[name].median():+.2f}, rho < 0 for {(rho[name] < 0).float().mean():5.1%}"
          f" of images; same top patch {hit:5.1%} (chance: {1 / cfg.num_patches:.1%})")
rho_rc = spearman(roll_map, cam)
print(f"     rollout vs Grad-CAM: median rho {rho_rc.median():+.2f}, rho < 0 for {(rho_rc < 0).float().mean():.1%} of images")

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
bins = torch.linspace(-1, 1, 41)
for name, r in rho.items():
    ax.hist(r.numpy(), bins=bins.numpy(), histtype="step", lw=1.6, label=f"{name} vs occlusion")
ax.hist(rho_rc.numpy(), bins=bins.numpy(), histtype="step", lw=1.2, ls="--", color="0.3", label="rollout vs Grad-CAM")
ax.axvline(0, color="0.6", lw=0.8)
ax.set(xlabel="Spearman rank correlation over the 16 patches", ylabel=f"test images (of {n_stats})",
       title="how often do two maps rank the patches alike?")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()

# %% [markdown]
# Read the printed lines and the histogram together: **none of the three agrees well with occlusion**.
# The median rank correlations are small and positive, a large share of the images has a negative one,
# and each method's top patch is the one whose occlusion hurts most only a little more often than chance
# (1 in 16). Bringing the class in through gradients does not help on this model: grad-rollout and
# Grad-CAM do no better than plain rollout by these measures. And rollout and Grad-CAM rank the patches
# in unrelated orders for the typical image (median correlation about 0), in opposite orders for half of them.
#
# ## 7.5 Where rollout and Grad-CAM disagree
#
# The strongest disagreement is easy to find: among the correctly classified images, take the one whose
# rollout and Grad-CAM maps have the most negative rank correlation.

# %%
correct = pred == y
worst = torch.where(correct, rho_rc, torch.inf).argsort()[:3]  # (3,): most negative rho first
for b in worst.tolist():
    print(f"#{b} {classes[int(y[b])]}: rho(rollout, Grad-CAM) {rho_rc[b]:+.2f}, "
          f"rho(rollout, occlusion) {rho['rollout'][b]:+.2f}, rho(Grad-CAM, occlusion) {rho['Grad-CAM'][b]:+.2f}")
fig = method_grid(worst.tolist(), "where rollout and Grad-CAM disagree most (correctly classified images)")

# %% [markdown]
# In these images the two maps point at different parts of the picture: Grad-CAM at the background
# around the shoe, rollout at the shoe itself. For the first image occlusion sides with rollout (the
# printed correlations), for the other two it sides with neither. Rollout's picture mostly follows how the *attention* flows:
# the residual path and the weights the heads give, whatever the class. Grad-CAM asks which features push
# this class's logit up in the last blocks. When they disagree it is not that one of them is "the"
# explanation: each answers its own question, and neither is what the model needs to decide, which is
# what occlusion measures (and occlusion itself only tells what happens when one patch at a time is
# removed, for images the model was never trained on).
#
# **Where these methods mislead.** Attention weights are tempting to read as importance, and they are not:
#
# - Jain & Wallace (2019) showed for text classifiers that attention weights often correlate poorly with
#   gradient-based importance, and that quite different attention distributions can give the same
#   prediction. "Attention is not explanation" is the name of their paper.
# - An attention weight says how much of a token's *value* is mixed in, not how large or how useful that
#   value is; a head can attend strongly to a patch whose value vector is nearly zero.
# - Rollout ignores the MLPs, assumes heads contribute equally and is the same for every class; Chefer et
#   al. (2021) bring the class back through gradients, as grad-rollout does here. Grad-CAM on a ViT reads
#   one block only and can be all zero (printed in 7.4).
# - Our grid has 16 patches: any map is coarse, and with four heads a late map may reflect a single head's
#   habit more than the image.
#
# Use these pictures to form questions, then test them by intervening on the input, as occlusion does.

# %% [markdown]
# ## 7.6 The paper's Fig. 7: filters, positions, attention distance
#
# Dosovitskiy et al. (2021) look inside a trained ViT in their Fig. 7: the first principal components of the
# patch-embedding filters resemble plausible basis functions for the fine structure in each patch; the
# position embeddings learn to encode distance and the row-column structure of the grid; and some heads
# attend globally already in the lowest layers while others stay local, with the attention distance growing
# with depth. We redraw the three panels for our model.
#
# **Left panel: principal components of the patch-embedding filters.** `patch_embed.proj` holds D = 64
# filters of 7×7 pixels. Their principal components, as images:

# %%
comps, var = patch_embedding_components(model, k=28, return_variance=True)  # (28, 1, 7, 7), (28,)
check_shape(comps, (28, 1, cfg.patch_size, cfg.patch_size), "principal components")
print(f"share of the filters' variance in the first 1 / 4 / 12 / 28 components: "
      f"{var[0]:.0%} / {var[:4].sum():.0%} / {var[:12].sum():.0%} / {var.sum():.0%}")

# %%
lim = float(comps.abs().max())
fig, axes = plt.subplots(4, 7, figsize=(8.2, 5.0))
for k, ax in enumerate(axes.flat):
    im = ax.imshow(comps[k, 0].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"PC {k + 1}: {var[k]:.0%}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("principal components of the 64 patch-embedding filters (7x7 pixels), share of variance", fontsize=10)
fig.tight_layout(rect=(0, 0, 0.9, 1))
bar = fig.colorbar(im, cax=fig.add_axes((0.91, 0.1, 0.02, 0.78)), label="filter weight (unit-norm component)")

# %% [markdown]
# Ours do not look like the paper's clean, smooth basis functions. A few of the first components have
# coarse structure (bands, one half of the patch against the other), most look like noise, and the
# variance is spread thinly: the first component holds 12% and twelve are needed for 84% (printed above).
# The paper's filters come from a ViT-L/32 pre-trained on a far larger dataset; ours from 64 filters trained for
# ten minutes on 60,000 small grey images, with a model that learns well (89%) without tidy filters.
# A figure that looked like the paper's would have been a finding; this one is a reminder that such
# pictures depend on scale and data.
#
# **Centre panel: position-embedding similarity.** This model adds *fixed* 2-D sin-cos positions
# (lesson 02): nothing was learned, so its panel is the construction itself, a cross of high similarity
# along each patch's row and column. The learned embeddings of a second model are in 7.7.

# %%
sim = position_similarity(model)  # (4, 4, 4, 4)
fig = similarity_grid(sim, title="fixed 2-D sin-cos positions (this model): cosine similarity", size=0.9)

# %% [markdown]
# **Right panel: mean attention distance.** For every query patch, the distance in pixels to every other
# patch centre is weighted by the attention it gives (the class token left out), then averaged over
# queries and images: one number per head and block. If a head attended only to its own patch it would
# be 0; if it spread evenly over the 4×4 grid it would be the grid's mean distance between patch centres.
# We compare the trained model with two untrained ones: the random start timm uses, and the *mimetic*
# start that lesson 06's recipe actually trained from (the same seed as the checkpoint, so these are the
# checkpoint's own initial weights).

# %%
uniform = float(patch_distances(cfg.grid_size, cfg.patch_size).mean())
fm_cfg, fm_recipe = default_setup("fashion-mnist")
assert fm_cfg == cfg and fm_recipe.init == "mimetic"
start = Trainer(cfg, fm_recipe, data, out_dir=None, device="cpu", seed=ck["seed"], progress=False).model.eval()
torch.manual_seed(0)
random_start = type(model)(cfg).eval()  # timm's truncated-normal initialisation
dist = {"random init (timm)": random_start, "mimetic init (start of training)": start, "trained": model}
dist = {k: mean_attention_distance(attention_maps(m, x[:500]), cfg.grid_size, cfg.patch_size) for k, m in dist.items()}
print(f"uniform attention over the 4x4 grid: {uniform:.2f} px; attending only to itself: 0 px")
for k, d in dist.items():
    print(f"{k:>33}: mean over heads per block", " ".join(f"{v:5.2f}" for v in d.mean(1)),
          f"px; all heads {d.min():5.2f}-{d.max():5.2f} px")

# %%
def distance_plot(ax, d, title, color):
    """Mean attention distance (pixels) per head against depth, one dot per head."""
    L, h = d.shape
    for k in range(h):
        ax.scatter(torch.arange(1, L + 1) + (k - (h - 1) / 2) * 0.08, d[:, k], s=22, color=color, alpha=0.8,
                   label="one head" if k == 0 else None)
    ax.axhline(uniform, color="0.4", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
    ax.set(xlabel="block (depth)", title=title, xticks=range(1, L + 1), ylim=(0, uniform * 1.15))
    ax.grid(alpha=0.3)


fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
for ax, (name, d), c in zip(axes, dist.items(), ["0.5", "tab:orange", "tab:blue"]):
    distance_plot(ax, d, name, c)
axes[0].set_ylabel("mean attention distance (pixels)")
axes[0].legend(fontsize=8, loc="lower right")
fig.suptitle("how far each head looks: 4 heads per block, 500 test images", fontsize=10)
fig.tight_layout()

# %% [markdown]
# The randomly initialised model attends uniformly: every head in every block sits on the dashed line
# (all 24 heads within a few hundredths of a pixel of it, printed above) — the nearly uniform maps of
# lesson 05. The recipe of lesson 06 starts from the mimetic initialisation instead, where the heads are
# already somewhat local, because their attention follows the sin-cos positions, which are similar for
# neighbouring patches. After training, the distance grows with depth, as in the paper: blocks 1 and 2
# hold the most local heads, and from block 3 on the heads attend over most of the grid, some close to
# uniform. On a 4×4 grid this is compressed into a few pixels — one patch step is 7 pixels and the mean
# distance over the grid is 14 — where the paper's models see 224-pixel images cut into hundreds of patches.

# %% [markdown]
# ## 7.7 Learned position embeddings after training
#
# Lesson 02 drew learned position embeddings at initialisation: random vectors, similar to nothing but
# themselves. To see what training makes of them, a second model was trained with the same recipe but
# `--pos-embed learned`; its weights, curve and record are in `assets/checkpoints/`:

# %%
lp_ckpt = asset_path("checkpoints/fashion_mnist_vit_learned_pos.pt")
lp_model, lp_ck = load_model(lp_ckpt)
lp_record = json.loads(lp_ckpt.with_suffix(".json").read_text())
lp_curve = read_metrics(lp_ckpt.with_suffix(".metrics.jsonl"))
lp_res = evaluate(lp_model, data.test_x, data.test_y, data.info.mean, data.info.std)
assert lp_res["correct"] == lp_record["test_correct"]
print(f"command: {lp_record['command']}")
print(f"{lp_ckpt.name}: positions {lp_model.config.pos_embed}, {lp_record['epochs']} epochs, test accuracy "
      f"{lp_res['acc']:.2%} ({lp_res['correct']:,}/10,000, as recorded); best evaluation during training "
      f"{max(r['test_acc'] for r in lp_curve):.2%}")

# %%
lp_sim = position_similarity(lp_model)  # (4, 4, 4, 4)
fig = similarity_grid(lp_sim, title="learned position embeddings after 12 epochs: cosine similarity", size=0.9)

# %% [markdown]
# Each small square is one patch position (row and column of the grid); its 16 cells show that
# position's cosine similarity with every position. Unlike the paper's Fig. 7 (centre), there is little
# map of the grid here: each position is similar to itself and to hardly anything else — a few
# neighbours in the same column are slightly similar, some diagonal neighbours dissimilar. Did the
# embeddings learn anything at all? Their size and one number per distance answer it:

# %%
lp_start = Trainer(lp_model.config, fm_recipe, data, out_dir=None, device="cpu", seed=lp_ck["seed"],
                   progress=False).model
g = cfg.grid_size
steps = patch_distances(g, 1).reshape(g, g, g, g)  # distance between positions, in patches


def similarity_by_distance(s):
    """Mean cosine similarity of two positions, for each distance between them (in patch steps)."""
    ds = sorted({round(float(v), 3) for v in steps.flatten()})
    return ds, [float(s[(steps - d).abs() < 1e-3].mean()) for d in ds]


moved = torch.nn.functional.cosine_similarity(lp_model.pos_embed[0, 1:], lp_start.pos_embed[0, 1:], dim=-1)  # (16,)
print(f"norm of a patch position embedding: {lp_start.pos_embed[0, 1:].norm(dim=-1).mean():.2f} at initialisation, "
      f"{lp_model.pos_embed[0, 1:].norm(dim=-1).mean():.2f} after training; cosine with its initial value "
      f"{moved.mean():.2f} on average")
curves = {"learned, at initialisation": position_similarity(lp_start), "learned, after training": lp_sim,
          "fixed 2-D sin-cos": sim}
fig, ax = plt.subplots(figsize=(6.2, 3.4))
for (name, s), mk in zip(curves.items(), "sox"):
    ds, ms = similarity_by_distance(s)
    ax.plot(ds, ms, marker=mk, label=name)
    print(f"{name:>27}: similarity at distance 1 {ms[1]:+.2f}, at the largest distance ({ds[-1]:.2f}) {ms[-1]:+.2f}")
ax.axhline(0, color="0.6", lw=0.8)
ax.set(xlabel="distance between two positions (patch steps)", ylabel="mean cosine similarity",
       title="position embeddings: similarity against distance")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# The embeddings did learn: they grew about fourteen-fold and turned away from their random start. But
# they stayed nearly orthogonal to each other: neighbours have similarity close to 0, as at
# initialisation, far from the sin-cos construction's smooth fall-off. With 16 positions and 64
# dimensions the model can give every position its own almost independent code, and nothing rewards it
# for making neighbours similar. Cosine similarity is only one way to read an embedding: the queries and
# keys can still map these codes so that neighbours attend to each other. They do, as the attention
# distance shows below. The paper's smooth pictures come from much larger grids and datasets.
# The learned-position model's accuracy is within half a point of the sin-cos model's (printed above).
#
# How far does this model's attention look?

# %%
lp_dist = mean_attention_distance(attention_maps(lp_model, x[:500]), cfg.grid_size, cfg.patch_size)
for l, d in enumerate(lp_dist):
    print(f"block {l + 1}: mean attention distance per head", " ".join(f"{v:5.2f}" for v in d), "px")
fig, ax = plt.subplots(figsize=(5.2, 3.6))
distance_plot(ax, lp_dist, "learned positions, trained", "tab:green")
ax.set_ylabel("mean attention distance (pixels)")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()

# %% [markdown]
# Here the paper's pattern is at its clearest: in block 1 the heads look closer than anywhere else, one
# of them at 5.5 px, well under one patch step on average (the values printed above), and from the second
# block on they attend over most of the grid. This model started from random positions and had to learn
# locality from data, and it did, through nearly orthogonal position codes.
#
# ## Summary
#
# - `attention_maps` gives every block's (B, h, N + 1, N + 1) attention; the class token's row, per head and
#   block, shows where it collects information. Draw such maps on one colour scale, with a colour bar.
# - Attention rollout chains the blocks' head-averaged attention with the residual path: the share of the
#   class token's final state that comes from each input patch. It ignores the class, the MLPs and the
#   values.
# - Grad-rollout and Grad-CAM bring the class in through gradients. Tested against occlusion on 2,000 test
#   images, none of the three agrees with it well, and the gradient methods do no better than rollout.
# - Rollout and Grad-CAM can rank the patches in opposite orders for a correctly classified image; an
#   attention map is a question to test, not an explanation.
# - Fig. 7 at our scale: noisy filter components, not the paper's tidy ones; sin-cos similarity is the
#   construction, learned positions become nearly orthogonal codes rather than a smooth map; the random
#   start attends uniformly, and trained attention distance grows with depth, most clearly in the
#   learned-position model.
#
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("07.1")` prints a nudge for
# exercise 07.1, `hint("07.1", 2)` the key line. Worked solutions are in
# [solutions/07_looking_inside.ipynb](solutions/07_looking_inside.ipynb).

# %%
from vit_lessons.exercises import (check_cls_attention_map, check_mean_distance, check_rollout,
                                   check_window_attention, hint)

# %% [markdown]
# **Exercise 07.1 · The class token's attention map.** `my_cls_attention_map(attn, grid_size)`: from one
# block's (B, h, N + 1, N + 1) attention (class token first), the heads' average of the class token's
# attention over the N patches, as a (B, grid_size, grid_size) map — what 7.2 drew.

# %%
def my_cls_attention_map(attn, grid_size):
    raise NotImplementedError("your code here")


ok = check_cls_attention_map(my_cls_attention_map)

# %% [markdown]
# **Exercise 07.2 · Attention rollout.** `my_rollout(attentions)`: a list of L (B, h, N + 1, N + 1)
# tensors, first block first → the (B, N + 1, N + 1) rollout of 7.3, with the heads averaged and nothing
# discarded.

# %%
def my_rollout(attentions):
    raise NotImplementedError("your code here")


ok = check_rollout(my_rollout)

# %% [markdown]
# **Exercise 07.3 · Mean attention distance.** `my_mean_distance(attn, grid_size, patch_size)`: one block's
# (B, h, N + 1, N + 1) attention → an (h,) tensor, each head's mean attention distance in pixels, as in 7.6.
# `patch_distances(grid_size, patch_size)` (imported above) gives the (N, N) distances between patch centres.

# %%
def my_mean_distance(attn, grid_size, patch_size):
    raise NotImplementedError("your code here")


ok = check_mean_distance(my_mean_distance)

# %% [markdown]
# **Exercise 07.4 · A head with a locality prior.** A convolution sees only a small window around each
# pixel; some vision transformers give attention the same prior by letting each patch attend only within a
# window. `my_window_attention(grid_size, radius)`: the (N, N) attention of such a head, uniform over the
# patches $(k, l)$ with $\max(|i-k|, |j-l|) \le$ `radius` around query patch $(i, j)$, itself included.
# Once the check passes, the cell measures this head's mean attention distance on our 4×4 grid with the
# package's function — compare it with the trained heads of 7.6 and 7.7.

# %%
def my_window_attention(grid_size, radius):
    raise NotImplementedError("your code here")


ok = check_window_attention(my_window_attention)
if ok:
    for radius in (1, 2):
        w = torch.as_tensor(my_window_attention(cfg.grid_size, radius)).float()  # (N, N): patches only
        d = mean_attention_distance([w[None, None]], cfg.grid_size, cfg.patch_size)  # (1, 1)
        print(f"window radius {radius}: mean attention distance {float(d):.2f} px (uniform: {uniform:.2f} px)")
