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
# Lesson 06 trained a ViT to about 89% on Fashion-MNIST. This lesson opens it up. You will
#
# - read its **attention maps**, block by block and head by head, and the class token's attention laid
#   over the image;
# - compute eight explanations of a prediction through one interface — attention, **attention rollout**
#   (Abnar & Zuidema 2020), **gradient-weighted rollout** (after Chefer et al. 2021), **Grad-CAM**
#   (Selvaraju et al. 2017), gradient × input, and Captum's integrated gradients and occlusion — and rank
#   them with a **deletion test** against a random map: which one finds first what the model uses;
# - see why the test's details matter (ties broken at random, the fill), and where single maps **disagree**;
# - redraw the three panels of the ViT paper's **Fig. 7** for our model: the patch-embedding filters, the
#   position-embedding similarity and how far each head looks at each depth — from its start to the end of
#   training;
# - look at the **learned position embeddings** of a second trained model (lesson 02's promise).
#
# Everything here comes from `vit_lessons.explain` (maps, rollout, Grad-CAM), `vit_lessons.relevance` (every
# map behind one call), `vit_lessons.faithfulness` (the deletion test), `vit_lessons.fig7` (the paper's
# Fig. 7) and `vit_lessons.overlay` (maps drawn over images with a stated colour scale).

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
from vit_lessons.explain import attention_maps, attention_rollout, pooled_row, to_patch_grid
from vit_lessons.fig7 import mean_attention_distance, patch_distances, patch_embedding_components, position_similarity
from vit_lessons.faithfulness import bootstrap_ci, curve_auc, perturbation_curve
from vit_lessons.relevance import relevance_map
from vit_lessons.overlay import cls_heatmap, overlay
from vit_lessons.shapes import check_shape
from vit_lessons.train import Trainer, default_setup, evaluate, load_model, read_metrics
from vit_lessons.assets import asset_path
from vit_lessons.viz import similarity_grid

# %% [markdown]
# ## 7.1 The trained model and the images we look at
#
# The committed checkpoint is lesson 06's recipe trained for 12 epochs, kept at its best validation
# evaluation (lesson 06, "The committed checkpoint"). We load it through the package's asset helper (so the lesson also runs from an installed package, on Colab) and re-evaluate it
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
# **How to read these grids.** Each panel is one head of one block; the brighter a patch's colour (from grey
# through purple to yellow), the larger the share of the class token's attention it gets, on one scale for all
# 24 panels (the colour bar); the garment shows through, drawn dark on white. A panel with no coloured patch,
# all grey, is a head in which the class token mostly attends to *itself* (the weights printed above). Three things stand out:
#
# - heads differ: in the same block one head puts most of its weight on one patch, another spreads it;
# - in block 1 the class token gives (almost) nothing to itself and all to the patches, often to
#   *background* patches; in blocks 2 and 6 some heads keep half or more on itself (the printed weights);
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
# (2020, §3) follow the mixing through the blocks with a simple model of both: average the heads of block
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
# ## 7.4 Which map finds what the model uses? A deletion test
#
# Rollout does not know which class it explains: it is the same for "sandal" and "sneaker". Several
# methods bring the class in through gradients, and all of them are in `vit_lessons.relevance` behind one
# call, `relevance_map(name, model, images, target)` → one value per patch, higher = more relevant:
#
# - **attention**: the last block's class-token attention, heads averaged (7.2);
# - **rollout** (7.3), and **grad-rollout**: each block's attention multiplied by the gradient of the
#   class's logit with respect to it, the positive part kept and the heads averaged, then rolled out with
#   renormalised rows (the head weighting of Chefer, Gur & Wolf 2021, Sec. 3);
# - **Grad-CAM** (Selvaraju et al. 2017, Sec. 3): the patch tokens entering the last block's attention, weighted
#   channel by channel by the gradient of the class's logit averaged over the patches; the positive part;
# - **gradient × input**: how much each pixel's value times its gradient moves the logit, summed per patch;
# - two methods from [Captum](https://captum.ai), the attribution library most PyTorch users reach for:
#   **integrated gradients** (Sundararajan et al. 2017, Sec. 3; here from the mean image) and **occlusion** (cover one
#   patch at a time with the dataset mean and record the logit's drop: 16 forward passes per image);
# - a **random** map: the baseline every method must beat.
#
# None of these is the truth. A test that needs no ground truth asks what happens to the model when we act
# on a map: remove the patches in the order the map ranks them, most relevant first, and follow the
# probability of the predicted class (`vit_lessons.faithfulness.perturbation_curve`). A map that found what
# the model uses makes the probability fall fast, so the **area under this deletion curve** is small.
# Removing the least relevant patches first (the *insertion side*) should instead keep the probability up:
# a large area. "Removed" means painted with the dataset mean, which is 0 after normalisation. Two details
# decide whether the test is fair: ties in a map are broken at random, never by position (a map that is
# flat over some patches would otherwise always remove the top-left ones first), and the fill must not be
# what the image already contains — below we show why black is a bad choice here.

# %%
n_faith = pick(ci=300, default=1000, full=2000)
xf, tf = x[:n_faith], pred[:n_faith]  # (B, 1, 28, 28), (B,): explain each image's predicted class
names = ["random", "attention", "rollout", "grad-rollout", "grad-cam", "gradient-x-input", "integrated-gradients",
         "occlusion"]
gen = torch.Generator().manual_seed(0)
maps = {m: relevance_map(m, model, xf, tf) for m in names}  # each (B, 4, 4)
deletion = {m: perturbation_curve(model, xf, r, tf, order="most-first", generator=gen) for m, r in maps.items()}
insertion = {m: perturbation_curve(model, xf, r, tf, order="least-first", generator=gen) for m, r in maps.items()}
for m in names:
    check_shape(deletion[m], (n_faith, cfg.num_patches + 1), m)
    torch.testing.assert_close(deletion[m][:, 0], deletion["random"][:, 0])  # column 0: the untouched image
    torch.testing.assert_close(deletion[m][:, -1], insertion[m][:, -1])  # all removed: one image, any order
print(f"{n_faith} test images, mean fill; area under the curve, mean over images (95% bootstrap interval):")
print(f"{'map':>22}  {'deletion (lower = better)':>27}  {'insertion side (higher = better)':>33}")
for m in names:
    d, ins = (bootstrap_ci(curve_auc(c[m]), generator=torch.Generator().manual_seed(1)) for c in (deletion, insertion))
    print(f"{m:>22}  {d[0]:.3f} [{d[1]:.3f}, {d[2]:.3f}]       {ins[0]:.3f} [{ins[1]:.3f}, {ins[2]:.3f}]")

# %%
fig, (ax_d, ax_i) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
k = torch.arange(cfg.num_patches + 1)
for ax, curves, title in ((ax_d, deletion, "deletion: most relevant patch first"),
                          (ax_i, insertion, "insertion side: least relevant patch first")):
    rnd = curves["random"]
    lo, hi = rnd.mean(0) - 2 * rnd.std(0) / len(rnd) ** 0.5, rnd.mean(0) + 2 * rnd.std(0) / len(rnd) ** 0.5
    ax.fill_between(k, lo, hi, color="0.8", label="random map (mean ± 2 s.e.)")
    for i, m in enumerate(names[1:]):
        ax.plot(k, curves[m].mean(0), marker=".", color=f"C{i}", label=m)
    ax.set(xlabel="patches removed (filled with the dataset mean)", title=title, xticks=range(0, 17, 2))
    ax.grid(alpha=0.3)
ax_d.set_ylabel("probability of the predicted class\n(mean over images)")
ax_i.legend(fontsize=7, loc="lower left")
fig.suptitle(f"what each map knows about the model: {n_faith} test images", fontsize=10)
fig.tight_layout()

# %% [markdown]
# **Reading the curves.** Every curve starts at the same point (column 0 is the untouched image) and ends at
# the same point (with all 16 patches gone every image is the same blank mean image). In between, the grey
# band is where a random order lies. A map that found what the model uses pulls the deletion curve (left)
# below the band and keeps the insertion-side curve (right) above it; the printed areas and their intervals
# say by how much. A few hundred images give intervals of a few hundredths — enough to separate the
# methods that differ most, not all of them.
#
# **The committed benchmark.** `python -m vit_lessons bench explain` runs the same test on 2,000 test
# images for both of the course's checkpoints (sin-cos positions, and the learned-position model of 7.7),
# with both fills, and records 95% bootstrap intervals and each method's paired difference to the random
# map. Its results are committed in `assets/results/explain_faithfulness/`:

# %%
faith = json.loads(asset_path("results/explain_faithfulness/summary.json").read_text())
print(faith["command"])
rows = {(r["checkpoint"].split("/")[-1], r["method"]): r for r in faith["results"]}
for ck_name in dict.fromkeys(k[0] for k in rows):
    print(f"\n{ck_name} ({faith['images']} images): deletion area, lower = better [95% interval]; "
          "insertion side, higher = better")
    print(f"{'map':>22}  {'mean fill: deletion':>26} {'insertion':>9}   {'black fill: deletion':>27} {'insertion':>9}")
    for m in faith["methods"]:
        r = rows[(ck_name, m)]
        cells = [f"{r[f'deletion_{f}']['mean']:.3f} [{r[f'deletion_{f}']['lo']:.3f}, {r[f'deletion_{f}']['hi']:.3f}]"
                 f" {r[f'insertion_{f}']['mean']:9.3f}" for f in ("mean", "zero")]
        print(f"{m:>22}  {cells[0]:>36}   {cells[1]:>37}")

# %% [markdown]
# What the committed table says (2,000 images; the sin-cos model first):
#
# - **Every map beats the random order on deletion, by very different margins.** The random order's area is
#   0.472 with the mean fill. The last block's attention (0.436) and Grad-CAM (0.424) come only a few
#   hundredths below it, and on the insertion side neither can be told from random (their paired differences'
#   intervals include 0). Rollout (0.345), grad-rollout (0.346) and gradient × input (0.372) are far better.
# - **The perturbation methods lead**: integrated gradients (0.248) and occlusion (0.277). They are not
#   neutral referees — occlusion paints one patch at a time with the very mean the test paints with, and
#   integrated gradients starts from the mean image — but they cost 16 or 32 passes per image where
#   rollout costs one.
# - **Chefer's rule equals grad-rollout here**, with the mean fill, to three decimals on both checkpoints
#   (with black they differ by at most 0.001). The two differ only
#   in renormalising each block's rows, and the test suite shows a two-block model where their orders
#   differ; on this model it changes nothing measurable.
# - **Naming the class helps less than one might think.** Rollout ignores the class and does as well as
#   grad-rollout on the sin-cos model; on the learned-position model grad-rollout is a little ahead (0.315
#   against 0.331). Grad-CAM, which reads only the last block, is the weakest gradient method on both.
#
# So a learner who wants one cheap picture of this model should draw rollout or grad-rollout, not the last
# block's attention or Grad-CAM — and should check any map with a test like this one before trusting it.
#
# **Why not fill with black?** Fashion-MNIST's background is black: pixel value 0 (the course draws grey images
# dark on white, so 0 shows as white in its pictures). A patch of background painted
# black does not change at all, so "removing" it cannot move the prediction, and any map that ranks
# background patches first looks as if it found nothing. How many patches are already (almost) black?

# %%
raw_f = data.test_x[:n_faith]  # (B, 1, 28, 28) uint8
patch_max = raw_f.float().unfold(2, cfg.patch_size, cfg.patch_size).unfold(3, cfg.patch_size, cfg.patch_size)
patch_max = patch_max.amax((-1, -2))[:, 0]  # (B, 4, 4): the brightest pixel of each patch
blank = (patch_max <= 8).float()  # (B, 4, 4): patches whose pixels are all <= 8 of 255
print(f"patches with no pixel above 8/255: {blank.mean():.1%} of all patches; "
      f"images with at least 4 such patches: {(blank.flatten(1).sum(1) >= 4).float().mean():.1%}")
black = {m: perturbation_curve(model, xf, maps[m], tf, fill="zero", mean=data.info.mean, std=data.info.std,
                               generator=gen) for m in ("random", "rollout", "grad-rollout", "occlusion")}
for m, c in black.items():
    print(f"{m:>13}: deletion area with black fill {curve_auc(c).mean():.3f}, with the mean {curve_auc(deletion[m]).mean():.3f}")

# %% [markdown]
# With black instead of the mean, the table's ranking changes: on the sin-cos model rollout improves
# (0.300) while grad-rollout and Chefer's rule fall to 0.397 and 0.398, next to Grad-CAM, and the random order moves
# too (0.437). The numbers printed above show the same on this lesson's images. Part of that is the
# background: a black patch painted black does not change, so "removing" it tells nothing, and many patches
# are such blanks (the share printed above); painted with the mean, a blank patch becomes a grey square
# the model has never seen — the mean fill perturbs every patch it touches. The test measures the
# perturbation as much as the map, which is why the fill must be stated with every number.
#
# ## 7.5 One image, four maps: the disagreement example, tested
#
# Maps often disagree on single images. Among the correctly classified images, take the ones where rollout
# and Grad-CAM put their top patch furthest apart, draw the maps, and let the deletion test say, for each of
# these images, which map's order hurts the prediction faster. Each map is drawn on its own colour scale
# per image (the maps' units differ — shares of attention, gradients, logit drops — and within a method
# images differ by orders of magnitude); the number above each map is that image's deletion area.

# %%
def top_distance(a, b):
    """(B,) distance in patch steps between the top patches of two (B, gh, gw) maps (ties at random)."""
    g = cfg.grid_size
    pick_top = lambda m: (m.flatten(1) + 1e-9 * torch.rand(m.flatten(1).shape, generator=gen)).argmax(1)
    ta, tb = pick_top(a), pick_top(b)
    return ((ta // g - tb // g).float() ** 2 + (ta % g - tb % g).float() ** 2).sqrt()


shown_maps = ["rollout", "grad-rollout", "grad-cam", "occlusion"]
correct = tf == y[:n_faith]
far = torch.where(correct, top_distance(maps["rollout"], maps["grad-cam"]), -1.0)
worst = far.argsort(descending=True)[:3]  # (3,)
per_image = {m: curve_auc(deletion[m]) for m in shown_maps + ["random"]}  # (B,) each


def method_grid(rows, title):
    """Images down; the image, then each map over it, each on its own colour scale with its deletion area."""
    fig, axes = plt.subplots(len(rows), len(shown_maps) + 1, figsize=(2.0 * (len(shown_maps) + 1),
                             1.95 * len(rows) + 0.8), squeeze=False, layout="constrained")
    for i, b in enumerate(rows):
        axes[i, 0].imshow(data.test_x[b, 0], cmap="gray_r")  # dark ink on white, like every image in the course
        axes[i, 0].set_title(f"#{int(b)} {classes[int(y[b])]}\nrandom map: {per_image['random'][b]:.2f}", fontsize=8)
        axes[i, 0].axis("off")
        for j, m in enumerate(shown_maps):
            overlay(data.test_x[b], maps[m][b], axes[i, j + 1], colorbar=False)
            axes[i, j + 1].set_title(f"{m}: {per_image[m][b]:.2f}", fontsize=8)
    fig.suptitle(f"{title}\n(each map on its own colour scale, bright = ranked first; "
                 "number = deletion area for this image, lower = faster fall)", fontsize=9)
    return fig


for b in worst.tolist():
    print(f"#{b} {classes[int(y[b])]}: top patches {far[b]:.1f} patch steps apart; deletion area "
          + ", ".join(f"{m} {per_image[m][b]:.2f}" for m in shown_maps + ["random"]))
fig = method_grid(worst.tolist(), "where rollout and Grad-CAM disagree most (correctly classified images)")

# %% [markdown]
# On single images the average's ranking does not hold, and single areas are noisy. For the T-shirt,
# Grad-CAM's map is zero everywhere (a flat grey panel), so its order is just a random one — and that random order
# scored 0.34 where the random map's scored 0.44, and rollout's, worse than both, 0.52. For the first
# pullover rollout and grad-rollout beat Grad-CAM; for the second grad-rollout beats both. Occlusion has the
# lowest area on both pullovers, and on the T-shirt only Grad-CAM's accidental random order is lower. Maps disagree, and one image cannot say which is right; the average over 2,000
# images (7.4) can.
#
# **Where these methods mislead.** Attention weights are tempting to read as importance, and they are not:
#
# - Jain & Wallace (2019) showed for NLP models with attention (text classification, question answering,
#   inference) that attention weights often correlate poorly with gradient-based importance (their §4.1), and
#   that quite different attention distributions can give the same prediction (§4.2). "Attention is not
#   explanation" is the name of their paper.
# - An attention weight says how much of a token's *value* is mixed in, not how large or how useful that
#   value is; a head can attend strongly to a patch whose value vector is nearly zero.
# - Rollout ignores the MLPs, assumes heads contribute equally and is the same for every class; Chefer et
#   al. (2021) bring the class back through gradients, as grad-rollout does here. Grad-CAM on a ViT reads
#   one block only, and on this model it is close to a random order on the deletion test (7.4).
# - A faithfulness test is itself a choice: "removing" a patch means putting something else there (the
#   mean, black), and the model has never seen such images. The ranking held for the mean fill on both of
#   our checkpoints and changed with black (7.4); state the fill with every number.
# - Our grid has 16 patches: any map is coarse, and with four heads a late map may reflect a single head's
#   habit more than the image.
#
# Use these pictures to form questions, then test them by intervening on the input, as the deletion test
# does.

# %% [markdown]
# ## 7.6 The paper's Fig. 7: filters, positions, attention distance
#
# Dosovitskiy et al. (2021) look inside a trained ViT in their §4.5 and Fig. 7: the first principal components of the
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
# variance is spread thinly: the first component holds 12% and twelve are needed for 80% (printed above).
# The paper's filters come from a ViT-L/32 (its Fig. 7 and §4.5), a model over a thousand times larger, pre-trained
# on millions of images; ours from 64 filters trained for 12 epochs on 55,000 small grey images, with a model that learns well (89%) without tidy filters.
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


start_to_end = dist["trained"] - dist["mimetic init (start of training)"]  # (L, h): what training changed
print("trained minus mimetic start, mean over heads per block:", " ".join(f"{v:+5.2f}" for v in start_to_end.mean(1)),
      "px")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.7), sharey=True, gridspec_kw={"width_ratios": [1, 2]})
distance_plot(axes[0], dist["random init (timm)"], "random init (timm)", "0.5")
L = len(dist["trained"])
for name, c, dx in (("mimetic init (start of training)", "tab:orange", -0.12), ("trained", "tab:blue", 0.12)):
    d = dist[name]
    for k in range(d.shape[1]):
        axes[1].scatter(torch.arange(1, L + 1) + dx, d[:, k], s=18, color=c, alpha=0.6)
    axes[1].plot(torch.arange(1, L + 1) + dx, d.mean(1), "-o", color=c, label=f"{name}: mean over heads")
for l in range(L):  # what training changed, block by block: mimetic start -> trained
    axes[1].annotate("", xy=(l + 1.12, float(dist["trained"][l].mean())),
                     xytext=(l + 0.88, float(dist["mimetic init (start of training)"][l].mean())),
                     arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8})
axes[1].axhline(uniform, color="0.4", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
axes[1].set(xlabel="block (depth)", title="the recipe's start and the trained model, one axis (dots: heads)",
            xticks=range(1, L + 1), ylim=(0, uniform * 1.15))
axes[1].grid(alpha=0.3)
axes[1].legend(fontsize=8, loc="lower right")
axes[0].set_ylabel("mean attention distance (pixels)")
fig.suptitle("how far each head looks: 4 heads per block, 500 test images", fontsize=10)
fig.tight_layout()

# %% [markdown]
# The randomly initialised model attends uniformly: every head in every block sits on the dashed line
# (all 24 heads within a few hundredths of a pixel of it, printed above) — the nearly uniform maps of
# lesson 05. The recipe of lesson 06 starts from the mimetic initialisation instead, and that start already
# has the paper's profile: its heads are local (their attention follows the sin-cos positions, similar for
# neighbouring patches) and look further with depth, from 10.2 px in block 1 to 12.7 px in block 6 (the
# printed means). Training did not make the model more local: it moved blocks 1 and 2 about 1.8 px further
# out and blocks 3–5 by 0.3–1.0 px, and brought only block 6 closer (0.4 px; the arrows and the printed
# differences). After training the distance rises from block 1 (12.0 px) to block 4 (13.3 px) and falls again
# to 12.3 px in block 6. So in our model the growth with depth was there before training, put there by the
# initialisation. On a 4×4 grid all of this is compressed into a few pixels — one patch step is 7 pixels and
# the mean distance over the grid is 14 — where the paper's models see 224-pixel images cut into hundreds of
# patches.

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
print(f"{lp_ckpt.name}: positions {lp_model.config.pos_embed}, best validation evaluation at epoch "
      f"{lp_record['epochs']:g} of {lp_curve[-1]['epoch']:g}; test accuracy {lp_res['acc']:.2%} "
      f"({lp_res['correct']:,}/10,000, as recorded)")

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
# of them at 6.7 px, under one patch step (7 px) on average (the values printed above), and from the second
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
# - Grad-rollout, Grad-CAM and gradient × input bring the class in through gradients; Captum's integrated
#   gradients and occlusion perturb the input. One interface, `relevance_map(name, ...)`, gives them all.
# - The deletion test ranks maps without ground truth: remove patches in a map's order (ties at random), follow
#   the predicted class's probability, compare the area with a random order. On our model, with the mean
#   fill: integrated gradients and occlusion first, rollout and grad-rollout next, the last block's attention
#   and Grad-CAM barely better than random. The fill is part of the test: with black, the ranking changes.
# - Fig. 7 at our scale: noisy filter components, not the paper's tidy ones; sin-cos similarity is the
#   construction, learned positions become nearly orthogonal codes rather than a smooth map; the random
#   start attends uniformly; the mimetic start already looks further with depth, and training made the
#   early blocks *less* local; the learned-position model, which started from random positions, learned
#   its most local heads in block 1.
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
from vit_lessons.exercises import (check_cls_attention_map, check_deletion_curve, check_mean_distance, check_rollout,
                                   check_window_attention, hint)

# %% [markdown]
# **Exercise 07.1 · Warm-up: the class token's attention map.** `my_cls_attention_map(attn, grid_size)`: from
# one block's (B, h, N + 1, N + 1) attention (class token first), the heads' average of the class token's
# attention over the N patches, as a (B, grid_size, grid_size) map — what 7.2 drew, written out yourself.

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

# %% [markdown]
# **Exercise 07.5 · The deletion test for a map of your own.** `my_deletion_curve(model, images, relevance,
# labels, mean, std)`: the deletion curve of 7.4, written yourself. `images` are (B, C, H, W), already
# normalised with the per-channel `mean` and `std` (in pixel units from 0 to 1, like `data.info.mean`);
# `relevance` is (B, gh, gw), one score per patch, higher = more relevant; `labels` are the (B,) true classes.
# Return a (B, N + 1) tensor: column k is the softmax probability of the class the model predicts for the
# untouched image, after the k most relevant patches are painted with the dataset mean (column 0: nothing
# removed; column N: every patch removed). Not every argument is needed: deciding which ones is part of the
# exercise. The check compares your curves with `perturbation_curve` on a map without ties. Once it passes, the
# cell tests a map of your own on 300 test images: the brightness of each patch (the sum of its raw pixel
# values; in the data the garment is bright and the background black, 0, although the course draws both the
# other way round) against a random map. Blank background patches tie in brightness; adding a random number in [0, 1)
# breaks those ties at random rather than by position, without changing the order of unequal sums. Which map
# makes the probability fall faster? Then try `-brightness`, the darkest patches first, and ask what
# "removing" a background patch does to the image.

# %%
def my_deletion_curve(model, images, relevance, labels, mean, std):
    raise NotImplementedError("your code here")


ok = check_deletion_curve(my_deletion_curve)
if ok:
    n, g, p = 300, cfg.grid_size, cfg.patch_size
    gen = torch.Generator().manual_seed(0)
    pixels = data.test_x[:n].float()  # (n, 1, 28, 28), 0 to 255: the images behind x[:n]
    brightness = pixels.reshape(n, 1, g, p, g, p).sum(dim=(1, 3, 5))  # (n, gh, gw): each patch's pixel sum
    brightness = brightness + torch.rand(n, g, g, generator=gen)  # ties broken at random, not by position
    random_map = torch.rand(n, g, g, generator=gen)  # (n, gh, gw): a random order, the baseline
    auc = {}
    for name, m in (("brightness", brightness), ("random", random_map)):
        curves = my_deletion_curve(model, x[:n], m, y[:n], data.info.mean, data.info.std)  # (n, N + 1)
        auc[name] = curve_auc(curves)  # (n,)
        print(f"{name:>10}: deletion area {auc[name].mean():.3f} (lower: the probability falls faster)")
    diff, lo, hi = bootstrap_ci(auc["brightness"] - auc["random"], generator=torch.Generator().manual_seed(1))
    print(f"brightness - random: {diff:+.3f} (95% bootstrap interval {lo:+.3f} to {hi:+.3f}, paired over {n} images)")
