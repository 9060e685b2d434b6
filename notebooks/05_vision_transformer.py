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
# # 05 · The Vision Transformer
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/05_vision_transformer.ipynb)
#
# Every piece exists now: patches (01), the class token and position embeddings (02), attention (03)
# and the encoder block (04). In this lesson you will
#
# - see the **whole architecture** again, each box labelled with the lesson that built it;
# - **assemble the model** inline in a few lines and prove it equal to `vit_lessons.VisionTransformer`;
# - compare **class-token and mean pooling**, including a common bug;
# - walk through **ViT-B/16** and find where its 86,567,656 parameters are;
# - count the parameters of **ViT-Ti/S/B/L/H** in an instant (on the `meta` device), equal to torchvision's
#   and timm's counts exactly and to the papers' rounded figures (the paper's Table 1, DeiT's Table 1);
# - load the weights of **timm's and torchvision's ViT-B/16** into our model and get the same logits;
# - run the course's **Fashion-MNIST model** on real images, take a few training steps, and read out
#   its **attention maps**.

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
import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
warnings.filterwarnings("ignore", message="IProgress not found")  # timm's progress bars, without ipywidgets
import timm
import torchvision
from PIL import Image
from torch import nn
from torch.testing import assert_close

from vit_lessons import ViTConfig, VisionTransformer, count_params
from vit_lessons.assets import asset_path
from vit_lessons.blocks import Block
from vit_lessons.data import load_dataset
from vit_lessons.diagram import architecture_figure
from vit_lessons.patches import PatchEmbed
from vit_lessons.pretrained import convert_torchvision_state_dict
from vit_lessons.shapes import check_shape

# %% [markdown]
# ## 5.1 The model in one class
#
# The figure below is the paper's Fig. 1 drawn by `vit_lessons.diagram.architecture_figure` for the
# course's Fashion-MNIST model, every shape computed from its config, and each box tagged with the lesson
# that built it. On the left the whole model, top to bottom; on the right one encoder block, which the
# model repeats $L$ times. This lesson adds the last two boxes: pooling and the head.

# %%
lesson_of = {"patches": "lesson 01", "patch_embed": "lesson 01", "cls_token": "lesson 02", "pos_embed": "lesson 02",
             "blocks": "lesson 04", "norm1": "lesson 04", "attn": "lesson 03", "norm2": "lesson 04",
             "mlp": "lesson 04", "norm": "lesson 04", "pool": "lesson 05", "head": "lesson 05"}
fig = architecture_figure(ViTConfig.fashion_mnist_cpu(), labels=lesson_of)

# %% [markdown]
# The paper's Eq. 1 and 4 frame the encoder of lesson 04. The image's $N$ flattened patches are
# projected by $E$, a learnable class token $x_\text{class}$ goes in front, position embeddings are
# added ($N + 1$ tokens now); after $L$ blocks, the class token's final state, normalised, is the image
# representation $y$, and a linear head turns it into class scores:
#
# $$z_0 = [x_\text{class};\ x_p^1E;\ x_p^2E;\ \cdots;\ x_p^{N}E] + E_{pos}, \quad
#   E_{pos} \in \mathbb{R}^{(N+1)\times D}, \qquad y = \mathrm{LN}(z_L^0)$$
#
# Names follow timm (`patch_embed`, `cls_token`, `pos_embed`, `blocks`, `norm`, `head`), so this
# inline model and the package's have the same state dict.

# %%
class ViT(nn.Module):
    """A Vision Transformer from the course's pieces: patches -> tokens -> blocks -> class token -> head."""

    def __init__(self, img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=96, depth=6,
                 num_heads=4, mlp_ratio=2.0, pool="cls"):
        super().__init__()
        self.pool = pool
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)  # lesson 01
        num_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)  # lesson 02
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, embed_dim) * 0.02)  # lesson 02
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])  # lesson 04
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x):  # x: (B, C, H, W)
        x = self.patch_embed(x)  # (B, N, D): N patches
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # (B, N + 1, D): Eq. 1
        for blk in self.blocks:
            x = blk(x)  # (B, N + 1, D): Eq. 2-3
        x = self.norm(x)  # (B, N + 1, D): Eq. 4
        x = x[:, 0] if self.pool == "cls" else x[:, 1:].mean(dim=1)  # (B, D)
        return self.head(x)  # (B, num_classes)


torch.manual_seed(0)
vit = ViT().eval()
x = torch.randn(4, 1, 28, 28)  # (B, C, H, W): a Fashion-MNIST-sized batch
logits = check_shape(vit(x), (4, 10), "logits")
print(f"inline ViT: {count_params(vit):,} parameters, logits {tuple(logits.shape)}")

# %% [markdown]
# **Parity.** Those are exactly the sizes of `ViTConfig.fashion_mnist_p4()` (4×4-pixel patches, 49 of them,
# D = 96, learned position embeddings), so the inline model's state dict loads into the package's
# `VisionTransformer` key for key, and the logits agree.

# %%
pkg = VisionTransformer(ViTConfig.fashion_mnist_p4()).eval()
pkg.load_state_dict(vit.state_dict())  # strict: every key and shape must match
with torch.no_grad():
    assert_close(pkg(x), vit(x), atol=1e-5, rtol=1e-5)
assert count_params(pkg) == count_params(vit)
print("inline ViT == vit_lessons.VisionTransformer(ViTConfig.fashion_mnist_p4())")

# %% [markdown]
# ## 5.2 Class token or mean pooling
#
# The paper follows BERT and classifies from the class token (Sec. 3.1); it also reports that averaging the
# patch tokens ("global average pooling") works as well once the learning rate is tuned (Appendix
# D.3, Fig. 9). With mean pooling the class token is unnecessary, and when there is one it must be
# **left out** of the average, because it is not a patch. Averaging all $N + 1$ tokens is an easy bug:
# it runs, the shapes are right, and the features are wrong.

# %%
tokens = pkg.forward_features(x)  # (B, N + 1, D): normalised tokens, class token at index 0
cls_pooled = tokens[:, 0]  # (B, D)
mean_pooled = tokens[:, 1:].mean(dim=1)  # (B, D): patch tokens only
buggy = tokens.mean(dim=1)  # (B, D): the class token sneaks in
print(f"mean pooling with vs without the class token: largest difference {(buggy - mean_pooled).abs().max():.3f}")
assert not torch.allclose(buggy, mean_pooled, atol=1e-3)
assert_close(buggy, (tokens[:, 0] + 49 * mean_pooled) / 50, atol=1e-5, rtol=1e-5)  # one token in 50 mixed in

pkg_mean = VisionTransformer(ViTConfig.fashion_mnist_p4(pool="mean")).eval()
pkg_mean.load_state_dict(pkg.state_dict())
with torch.no_grad():
    assert_close(pkg_mean.pool(tokens), mean_pooled, atol=0, rtol=0)  # the package excludes the class token
    assert_close(pkg_mean(x), pkg.head(mean_pooled), atol=1e-5, rtol=1e-5)
    assert_close(pkg(x), pkg.head(cls_pooled), atol=1e-5, rtol=1e-5)
print("package: pool='cls' reads tokens[:, 0]; pool='mean' == tokens[:, 1:].mean(1)")

# %% [markdown]
# ## 5.3 ViT-B/16, walked through
#
# The "Base" model of the paper's Table 1 with 16×16 patches: a 224 px RGB image is cut into
# $N = 14 \times 14 = 196$ patches, plus the class token gives $N + 1 = 197$ tokens of width $D = 768$;
# 12 blocks, each with 12 heads of $d = 64$ and an MLP of $4D = 3072$; a 1000-class head.

# %%
cfg = ViTConfig.vit_b_16()
print(cfg)
assert (cfg.img_size // cfg.patch_size, cfg.num_patches, cfg.num_tokens) == (14, 196, 197)
assert (cfg.embed_dim, cfg.num_heads, cfg.head_dim, cfg.mlp_hidden_dim, cfg.depth) == (768, 12, 64, 3072, 12)

# %% [markdown]
# Where are the parameters? On the `meta` device PyTorch creates tensors with shapes but no memory
# and no values, so building even ViT-H is instant, and counting needs nothing more.

# %%
with torch.device("meta"):
    vit_b = VisionTransformer(cfg)
groups = Counter()
for name, p in vit_b.named_parameters():
    part = name.split(".")[0] if not name.startswith("blocks.") else "blocks." + name.split(".")[2]
    groups[part] += p.numel()
D, N, L = cfg.embed_dim, cfg.num_patches, cfg.depth
formula = {
    "patch_embed": 16 * 16 * 3 * D + D,  # one (P*P*C -> D) projection with bias
    "cls_token": D,
    "pos_embed": (N + 1) * D,  # one learned vector per token, class token included
    "blocks.norm1": L * 2 * D, "blocks.attn": L * (3 * D * D + 3 * D + D * D + D),  # qkv + proj
    "blocks.norm2": L * 2 * D, "blocks.mlp": L * (D * 4 * D + 4 * D + 4 * D * D + D),  # fc1 + fc2
    "norm": 2 * D, "head": D * 1000 + 1000,
}
total = count_params(vit_b)
for part, n in groups.items():
    print(f"{part:13s} {n:>11,}  {n / total:6.1%}")
print(f"{'total':13s} {total:>11,}")
assert dict(groups) == formula
assert total == 86_567_656
per_block = 12 * D**2 + 13 * D  # lesson 04's count, MLP ratio 4
in_blocks = sum(n for part, n in groups.items() if part.startswith("blocks."))
assert in_blocks == L * per_block
print(f"one block {per_block:,}, {L} blocks {in_blocks:,}; everything outside the blocks "
      f"{total - in_blocks:,} = {(total - in_blocks) / total:.1%}")

# %% [markdown]
# Two thirds of the model are MLP weights, one third attention. Each block has $12D^2 + 13D$ parameters
# (lesson 04), 7,087,872 here, and the twelve blocks hold all but 1.7% of the model (the last printed
# line): the patch and position embeddings, the class token, the final norm and the head are that rest.
#
# ## 5.4 The whole family
#
# The paper's Table 1 defines Base, Large and Huge; DeiT (Touvron et al. 2021) added Tiny and Small,
# trained on ImageNet alone (its Table 1 rounds them to 5M and 22M). The presets build each on the meta
# device; the table compares our counts with the rounded published numbers and with exact counts of
# reference implementations (1000-class head, 224 px): torchvision's for B, L and H, and timm's
# `vit_tiny_patch16_224` and `vit_small_patch16_224` for Ti and S (torchvision has no Ti or S), which we
# count right here, also on the meta device.

# %%
published = {"vit_b_16": "86M", "vit_l_16": "307M", "vit_h_14": "632M",  # ViT paper, Table 1
             "vit_ti_16": "5M", "vit_s_16": "22M"}  # DeiT paper, Table 1
reference = {"vit_b_16": 86_567_656, "vit_b_32": 88_224_232, "vit_l_16": 304_326_632,  # torchvision
             "vit_l_32": 306_535_400, "vit_h_14": 632_045_800}
for ours_name, timm_name in (("vit_ti_16", "vit_tiny_patch16_224"), ("vit_s_16", "vit_small_patch16_224")):
    with torch.device("meta"):  # shapes only: nothing is downloaded or initialised
        reference[ours_name] = count_params(timm.create_model(timm_name, pretrained=False))
print(f"{'model':10s} {'D':>5s} {'layers':>6s} {'heads':>5s} {'MLP':>5s} {'ours':>13s} {'published':>10s} "
      f"{'torchvision/timm':>16s}")
counts = {}
for name in ("vit_ti_16", "vit_s_16", "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"):
    c = ViTConfig.preset(name)
    with torch.device("meta"):
        counts[name] = count_params(VisionTransformer(c))
    ref = reference.get(name)
    print(f"{name:10s} {c.embed_dim:5d} {c.depth:6d} {c.num_heads:5d} {c.mlp_hidden_dim:5d} {counts[name]:13,} "
          f"{published.get(name, ''):>10s} {f'{ref:,}' if ref else '':>16s}")
for name, n in reference.items():
    assert counts[name] == n, name

# %% [markdown]
# Every count equals the reference implementation's exactly. The papers round: one figure per model size
# (307M for Large, while L/16 here and in torchvision has 304.3M; DeiT's 5M and 22M are 5.7M and 22.1M). B/32 has *more* parameters than B/16, because its patch projection
# reads 32·32·3 = 3072 numbers instead of 768, yet it is about 4× cheaper to run: 50 tokens instead
# of 197 (lesson 03's cost table).
#
# ## 5.5 Someone else's weights in our model
#
# Because our names are timm's, a timm ViT's state dict loads into our model as it is. Here timm
# builds ViT-B/16 with *random* weights (`pretrained=False`: nothing is downloaded); with the internet,
# `timm.create_model("vit_base_patch16_224", pretrained=True)` or
# `vit_lessons.pretrained.from_timm("vit_base_patch16_224")` gives the real ImageNet weights through the
# same code. Same weights in, same logits out, on one 224 px photo.
#
# (We build our model on the `meta` device and load with `assign=True`: the loaded tensors become the
# parameters, so the 86M random numbers of our own initialisation are never drawn. It saves seconds.)

# %%
cat = np.array(Image.open(asset_path("chelsea_224.jpg")).convert("RGB"))  # (H, W, C) uint8, lesson 01's photo
img = torch.from_numpy(cat).permute(2, 0, 1).float().div(255)  # (C, H, W) in [0, 1]
img = ((img - 0.5) / 0.5)[None]  # (1, 3, 224, 224): timm's ViT-B/16 normalisation
torch.manual_seed(0)
timm_vit = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
with torch.device("meta"):
    ours = VisionTransformer(ViTConfig.vit_b_16())
ours.load_state_dict(timm_vit.state_dict(), assign=True)  # strict: all 152 tensors, same names
ours.eval()
with torch.no_grad():
    ref, got = timm_vit(img), ours(img)  # (1, 1000) each
assert_close(got, ref, atol=1e-5, rtol=1e-5)
print("timm's ViT-B/16 and ours, same weights: all 1000 logits agree within 1e-5")

# %% [markdown]
# torchvision names the same tensors differently (`conv_proj`, `encoder.layers.encoder_layer_0.ln_1`,
# `self_attention.in_proj_weight`…). `vit_lessons.pretrained.convert_torchvision_state_dict` renames
# them; nothing needs reshaping, since `in_proj_weight` stacks q, k, v row-wise exactly like our
# `qkv.weight` (lesson 03). With the internet, `vit_b_16(weights="DEFAULT")` or
# `vit_lessons.pretrained.from_torchvision("vit_b_16")` gives the trained weights.

# %%
torch.manual_seed(0)
tv_vit = torchvision.models.vit_b_16(weights=None).eval()
converted = convert_torchvision_state_dict(tv_vit.state_dict())
print("torchvision -> ours:", *[f"{a} -> {b}" for a, b in zip(list(tv_vit.state_dict())[:6], list(converted)[:6])],
      sep="\n  ")
with torch.device("meta"):
    ours_tv = VisionTransformer(ViTConfig.vit_b_16())
ours_tv.load_state_dict(converted, assign=True)
ours_tv.eval()
with torch.no_grad():
    ref, got = tv_vit(img), ours_tv(img)  # (1, 1000) each
assert_close(got, ref, atol=1e-5, rtol=1e-5)
print("torchvision's ViT-B/16 and ours, same weights: all 1000 logits agree within 1e-5")
del timm_vit, tv_vit, ours, ours_tv, converted

# %% [markdown]
# ## 5.6 The course's model on Fashion-MNIST
#
# `ViTConfig.fashion_mnist_cpu()` is the course's Fashion-MNIST model, the one lessons 06–09 train, load
# and look inside: 28×28 grey images, 7×7 patches ($N = 16$ patches, $N + 1 = 17$ tokens), D = 64,
# 6 blocks, 4 heads, fixed 2-D sin-cos position embeddings (lesson 02). Its patches are large so that
# many epochs fit in a 10-minute CPU budget. One forward pass on a batch of real images; before
# training, the predictions are close to uniform, so the cross-entropy should be near $\ln 10 = 2.30$.

# %%
data = load_dataset("fashion-mnist")
mean, std = data.info.mean[0], data.info.std[0]
batch = pick(ci=32, default=128)
xb = (data.train_x[:batch].float() / 255 - mean) / std  # (B, 1, 28, 28), normalised as in lesson 00
yb = data.train_y[:batch]  # (B,)
torch.manual_seed(0)
model = VisionTransformer(ViTConfig.fashion_mnist_cpu())
logits = check_shape(model(xb), (batch, 10), "logits")
loss0 = F.cross_entropy(logits, yb).item()
print(f"{count_params(model):,} parameters; loss before training {loss0:.3f} (ln 10 = {math.log(10):.3f})")
assert abs(loss0 - math.log(10)) < 0.3

# %% [markdown]
# A model that can learn should at least be able to fit one batch it sees again and again: on a fixed batch
# its loss should fall step after step. A few AdamW steps on the same fixed batch (a standard sanity check
# before real training; lesson 06 trains properly):

# %%
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
losses = []
model.train()
for _ in range(pick(ci=10, default=40)):
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print("loss on the fixed batch:", " ".join(f"{v:.2f}" for v in losses))
assert losses[-1] < losses[0] - 0.3, "the loss went down"

# %% [markdown]
# ## 5.7 Attention maps
#
# `model(x, return_attention=True)` also returns one (B, h, N + 1, N + 1) tensor of attention probabilities
# per block. They come from the explicit path of lesson 03 (the fused kernel never materialises
# them), and the logits agree with the plain forward pass.

# %%
model.eval()
with torch.no_grad():
    plain = model(xb[:8])  # (8, 10)
    logits_a, attns = model(xb[:8], return_attention=True)
assert_close(logits_a, plain, atol=1e-5, rtol=1e-5)
T = model.config.num_tokens  # N + 1 = 17
assert len(attns) == 6 and all(tuple(a.shape) == (8, 4, T, T) for a in attns)
assert_close(attns[0].sum(-1), torch.ones(8, 4, T), atol=1e-5, rtol=0)
print(f"{len(attns)} attention tensors of shape {tuple(attns[0].shape)}; logits equal to the plain forward")

# %% [markdown]
# Row 0 of each matrix is where the class token looks. Averaged over the heads and laid out on the
# 4×4 patch grid, for the last block, on one colour scale for all four images (the colour bar). How far
# from uniform are these maps? Uniform attention over the 16 patches would give every patch the same
# weight: a max/min ratio of 1 and an entropy of $\ln 16$. We measure both, for the last block and for
# every head of every block:

# %%
N, g = model.config.num_patches, model.config.grid_size  # 16 patches on a 4x4 grid
cls_last = attns[-1][:, :, 0, 1:].mean(1)  # (8, N): last block, heads averaged, class token -> patches
rows = torch.stack([a[:, :, 0, 1:] for a in attns])  # (L, 8, h, N): every block and head
rows = rows / rows.sum(-1, keepdim=True)  # share of the class token's attention over the patches only
entropy = -(rows * rows.log()).sum(-1) / math.log(N)  # (L, 8, h): 1 = uniform over the patches
ratio = cls_last.amax(-1) / cls_last.amin(-1)  # (8,)
print(f"last block, heads averaged: max/min weight ratio {ratio.min():.2f} to {ratio.max():.2f} over the 8 images")
print(f"entropy as a share of the uniform maximum ln {N}, every block and head: "
      f"{entropy.min():.3f} to {entropy.max():.3f} (mean {entropy.mean():.3f})")

# %%
lo, hi = float(cls_last[:4].min()), float(cls_last[:4].max())
fig, axes = plt.subplots(2, 4, figsize=(9.4, 4.6))
for i in range(4):
    axes[0, i].imshow(xb[i, 0] * std + mean, cmap="gray_r")
    axes[0, i].set_title(data.info.classes[int(yb[i])], fontsize=9)
    im = axes[1, i].imshow(cls_last[i].reshape(g, g), cmap="magma", vmin=lo, vmax=hi)
    axes[1, i].set_title("class token → patches", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout(rect=(0, 0, 0.88, 1))
bar = fig.colorbar(im, cax=fig.add_axes((0.9, 0.08, 0.02, 0.38)),
                   label=f"attention weight (one scale)\nuniform over {T} tokens: {1 / T:.3f}")

# %% [markdown]
# The maps are nearly uniform: the brightest patch gets at most about an eighth more weight than the darkest
# (the printed ratios), the colour bar spans a narrow band around the uniform weight, and every head of every
# block keeps at least 99% of the largest possible entropy. The patterns you see are small differences
# that the colour map stretches over its whole range. A model that has only taken a few steps on one batch
# has not learned where to look; lesson 07 loads the trained Fashion-MNIST model and reads its attention
# maps, rollout and Grad-CAM, and measures how far each head looks.

# %% [markdown]
# ## Summary
#
# - A ViT is (the figure of §5.1): patch embedding, class token in front, position embeddings added, $L$ pre-norm blocks,
#   a final LayerNorm, the class token (or the mean of the patch tokens, never including the class
#   token) into a linear head. Our inline version equals `vit_lessons.VisionTransformer`.
# - ViT-B/16: 197 tokens of 768, 12 blocks with 12 heads of 64 and an MLP of 3072;
#   86,567,656 parameters, two thirds in the MLPs. The meta device counts any size instantly, and our
#   counts equal torchvision's for B/16, B/32, L/16, L/32 and H/14.
# - timm's weights load as they are; torchvision's after renaming; both give the same logits as the
#   original model.
# - The Fashion-MNIST model starts at loss ≈ ln 10, and a few steps on one fixed batch lower its loss there;
#   `return_attention=True` exposes the attention maps without changing the logits.
#
# Lesson 06 trains it.

# %% [markdown]
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("05.1")` prints a nudge for
# exercise 05.1, `hint("05.1", 2)` the key line. Worked solutions are in
# [solutions/05_vision_transformer.ipynb](solutions/05_vision_transformer.ipynb).

# %%
from vit_lessons.exercises import (check_distilled_forward, check_distilled_keys, check_vit_forward,
                                   check_vit_forward_any, check_vit_param_count, hint)

# %% [markdown]
# **Exercise 05.1 · The forward pass from the parts (warm-up).** `my_vit_forward(model, images)` computes the
# logits of a `VisionTransformer` (class-token pooling) with its parts: `model.patch_embed`,
# `model.cls_token`, `model.pos_embed`, `model.blocks`, `model.norm`, `model.head`.

# %%
def my_vit_forward(model, images):
    raise NotImplementedError("your code here")


ok = check_vit_forward(my_vit_forward)

# %% [markdown]
# **Exercise 05.2 · The parameter count, predicted from the config.** §5.3 counted ViT-B/16 by building it.
# `my_vit_param_count(config)` predicts the number of parameters of `VisionTransformer(config)` from the
# config's numbers alone, for any config; the check then builds each model on the meta device and counts. Mind
# the options: `num_classes=0` (no head), `class_token=False`, `pos_embed="sincos2d"` (fixed, not learned), and
# `distilled=True` (exercise 05.4's distillation token, with a second head).

# %%
def my_vit_param_count(config):
    raise NotImplementedError("your code here")


ok = check_vit_param_count(my_vit_param_count)

# %% [markdown]
# **Exercise 05.3 · One forward pass for every pooling choice.** The paper's Appendix D.3 (Fig. 9) trains ViTs
# with a class token and with global average pooling of the patch tokens, and finds that both work once the
# learning rate suits each; with the mean, the class token is not needed at all. `my_vit_forward_any(model,
# images)` returns the logits of a `VisionTransformer` for *any* of these set-ups: `model.config.class_token`
# says whether there is a class token to prepend (`model.cls_token` is `None` without one), `model.config.pool`
# whether the head reads the class token (`"cls"`) or the mean of the patch tokens (`"mean"`). The check runs it
# on three tiny models: class token with `"cls"`, class token with `"mean"`, and no class token with `"mean"`.

# %%
def my_vit_forward_any(model, images):
    raise NotImplementedError("your code here")


ok = check_vit_forward_any(my_vit_forward_any)

# %% [markdown]
# **Exercise 05.4 · A distillation token (DeiT).** DeiT (Touvron et al. 2021, Sec. 4 and Fig. 2) puts a second
# learned token, the *distillation token*, next to the class token. It goes through every block like the
# others; after the final LayerNorm it has its own head, trained to reproduce a teacher's predictions (lesson
# 09), while the class token's head learns the true labels. The package builds it with
# `ViTConfig(distilled=True)`, with timm's names: `model.dist_token` (1, 1, D) and `model.head_dist`; the
# sequence is [class token, distillation token, patches], and a prediction averages the two heads' logits, as
# timm's does. Write `my_distilled_forward(model, images)`: the logits of such a model, from its parts.

# %%
def my_distilled_forward(model, images):
    raise NotImplementedError("your code here")


ok = check_distilled_forward(my_distilled_forward)

# %% [markdown]
# **Exercise 05.5 · What a distillation token adds to the state dict.** Weights trained with a distillation
# token only load into a model built the same way (`load_state_dict` matches tensors by name and shape).
# Predict, from a config alone, which state-dict entries `distilled=True` adds to `VisionTransformer(config)`
# or gives a new shape:
# `my_distilled_keys(config)` returns `{name: shape}`, such as `{"dist_token": (1, 1, D), ...}`. The check
# builds both models for three configs (learned position embeddings, sin-cos ones, no head) and compares
# their state dicts.

# %%
def my_distilled_keys(config):
    raise NotImplementedError("your code here")


ok = check_distilled_keys(my_distilled_keys)
