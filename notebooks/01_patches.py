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
# # 01 · Patches
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/01_patches.ipynb)
#
# A Transformer reads a sequence of vectors. This lesson turns an image into one. You will:
#
# - cut an image into $P \times P$ patches three ways (reshape + permute, einops, `F.unfold`) and prove
#   them equal to each other and to `vit_lessons.patches.patchify`,
# - glue the patches back together (`unpatchify`) and check the round trip is exact,
# - draw patch grids on a Fashion-MNIST image and on a photo,
# - count patches, tokens and attention entries as the patch size shrinks,
# - show that "flatten each patch, multiply by a matrix" *is* a strided `Conv2d`, and load your own
#   patch-embedding module into the package's `PatchEmbed`.

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
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image
from torch import nn
from vit_lessons.data import load_dataset
from vit_lessons.patches import PatchEmbed, patchify, unpatchify
from vit_lessons.shapes import check_shape
from vit_lessons.assets import asset_path
from vit_lessons.viz import patch_grid, patch_strip

# %% [markdown]
# ## 1.1 An image as a sequence
#
# > "The standard Transformer receives as input a 1D sequence of token embeddings. To handle 2D images,
# > we reshape the image $\mathbf{x} \in \mathbb{R}^{H\times W\times C}$ into a sequence of flattened
# > 2D patches $\mathbf{x}_p \in \mathbb{R}^{N\times(P^2\cdot C)}$" — Dosovitskiy et al. (2021), Sec. 3.1
#
# With $P \times P$ patches, an $H \times W$ image gives $N = HW/P^2$ patches, each a vector of
# $P^2 C$ numbers. The patches are numbered row by row, left to right, like words on a page. Two
# images to work with: an ankle boot from Fashion-MNIST (1×28×28) and a photo (3×224×224).

# %%
data = load_dataset("fashion-mnist")
boot = data.train_x[0].float() / 255  # (1, 28, 28): the first training image is an ankle boot
print("label:", data.info.classes[int(data.train_y[0])], "| image", tuple(boot.shape))

photo = torch.from_numpy(np.array(Image.open(asset_path("chelsea_224.jpg")).convert("RGB")))  # (H, W, C) uint8
photo = photo.permute(2, 0, 1).float() / 255  # (3, 224, 224), as in lesson 00
check_shape(photo, (3, 224, 224), "photo")
print("photo:", tuple(photo.shape))

# %% [markdown]
# ## 1.2 Cutting into patches, three ways
#
# **Way 1: reshape and permute.** Split the height into (rows of patches, $P$) and the width into
# (columns of patches, $P$), move the two "which patch" axes to the front and the three "inside the
# patch" axes to the back, then flatten each group. We test on a random RGB batch, so that a mistake
# in the channel order cannot hide.

# %%
torch.manual_seed(0)
x = torch.randn(2, 3, 32, 48)  # (B, C, H, W): not square, so rows and columns cannot be mixed up silently
P = 8
B, C, H, W = x.shape

def patchify_reshape(x, P):
    """Way 1: (B, C, H, W) -> (B, N, P*P*C) with reshape and permute."""
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // P, P, W // P, P)  # (B, C, H/P, p1, W/P, p2)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, H/P, W/P, p1, p2, C)
    return x.reshape(B, (H // P) * (W // P), P * P * C)  # (B, N, P*P*C)


patches_a = patchify_reshape(x, P)  # (B, N, P*P*C)
check_shape(patches_a, (B, 4 * 6, 8 * 8 * 3), "patches (reshape + permute)")
print(f"{tuple(x.shape)} -> {tuple(patches_a.shape)}: N = {H // P} x {W // P} = 24 patches of P*P*C = {P * P * C} numbers")

# %% [markdown]
# Patch $k$ is the square at grid row $k \,//\, (W/P)$ and column $k \,\%\, (W/P)$, flattened row by
# row with the channels innermost, the order `(p1 p2 c)`:

# %%
k = 7
r, c = divmod(k, W // P)  # row 1, column 1 of the 4 x 6 grid
square = x[:, :, r * P:(r + 1) * P, c * P:(c + 1) * P]  # (B, C, P, P)
torch.testing.assert_close(patches_a[:, k], square.permute(0, 2, 3, 1).reshape(B, -1), atol=0, rtol=0)
print(f"patch {k} = grid row {r}, column {c}")

# %% [markdown]
# **Way 2: einops.** The same operation written as its pattern: `(h p1)` says "this axis is h blocks of
# p1 pixels". This reads like the paper's definition, and it is what `vit_lessons.patches.patchify` uses.

# %%
patches_b = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=P, p2=P)  # (B, N, P*P*C)
torch.testing.assert_close(patches_b, patches_a, atol=0, rtol=0)

# %% [markdown]
# **Way 3: `F.unfold`.** PyTorch's sliding-window extractor (im2col). With `kernel_size = stride = P`
# the windows are exactly the patches. Careful: it returns `(B, C·P·P, N)` — patches in the last dim —
# and flattens each patch as `(c p1 p2)`, channels *first*. Transposing fixes the first difference; the
# second needs a permutation inside each patch:

# %%
cols = F.unfold(x, kernel_size=P, stride=P)  # (B, C*P*P, N), each column one patch as (c p1 p2)
check_shape(cols, (B, C * P * P, 24), "unfold output")
patches_c = cols.transpose(1, 2)  # (B, N, C*P*P), still (c p1 p2)
print("unfold, transposed only, equals way 1:", torch.equal(patches_c, patches_a))
patches_c = patches_c.reshape(B, -1, C, P, P).permute(0, 1, 3, 4, 2).reshape(B, -1, P * P * C)  # (B, N, P*P*C)
torch.testing.assert_close(patches_c, patches_a, atol=0, rtol=0)


def patchify_unfold(x, P):
    """Way 3: F.unfold, transposed, each patch reordered from (c p1 p2) to (p1 p2 c)."""
    cols = F.unfold(x, kernel_size=P, stride=P).transpose(1, 2)  # (B, N, C*P*P)
    return rearrange(cols, "b n (c p1 p2) -> b n (p1 p2 c)", p1=P, p2=P)  # (B, N, P*P*C)

# %% [markdown]
# All three agree with the package, exactly, on the random batch and on the real images:

# %%
for img, p in [(x, P), (boot[None], 4), (boot[None], 7), (photo[None], 16)]:
    ref = patchify(img, p)  # (B, N, P*P*C)
    torch.testing.assert_close(patchify_reshape(img, p), ref, atol=0, rtol=0)
    torch.testing.assert_close(rearrange(img, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p), ref, atol=0, rtol=0)
    torch.testing.assert_close(patchify_unfold(img, p), ref, atol=0, rtol=0)
    print(f"{tuple(img.shape)} with P={p:2d} -> {tuple(ref.shape)}: reshape, einops, unfold and patchify agree")

# %% [markdown]
# ## 1.3 Putting the patches back
#
# Undoing the cut is the same steps backwards: unflatten, invert the permutation, merge. Nothing is
# lost, so the round trip is exact (`torch.equal`, not just close). Masked autoencoders (He et al. 2022,
# Sec. 3) use this to turn predicted patches back into an image.

# %%
def unpatchify_inline(patches, P, C, H, W):
    """(B, N, P*P*C) -> (B, C, H, W): the inverse of way 1."""
    B = patches.shape[0]
    x = patches.reshape(B, H // P, W // P, P, P, C)  # (B, H/P, W/P, p1, p2, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, H/P, p1, W/P, p2)
    return x.reshape(B, C, H, W)  # (B, C, H, W)


assert torch.equal(unpatchify_inline(patches_a, P, C, H, W), x)
assert torch.equal(unpatchify(patchify(x, P), P, C, height=H), x)
assert torch.equal(unpatchify(patchify(photo[None], 16), 16, 3), photo[None])
print("patchify -> unpatchify gives back the exact input")

# %% [markdown]
# ## 1.4 What the patches look like
#
# The numbers are the token positions in the sequence. With $P = 4$ the 28×28 boot becomes a 7×7 grid,
# 49 patches of 16 pixels; with $P = 7$, a 4×4 grid of 16 patches of 49 pixels. Smaller patches mean
# more detail per token and more tokens.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
for ax, p in zip(axes, (4, 7)):
    patch_grid(boot, p, ax=ax)
    ax.set_title(f"P = {p}: {(28 // p) ** 2} patches of {p}x{p} pixels", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The Transformer does not see the grid. It sees the sequence — here the 16 patches of the $P = 7$ cut,
# in order, each about to become one token:

# %%
seq = patchify(boot[None], 7)[0]  # (16, 49)
tiles = rearrange(seq, "n (p1 p2 c) -> n c p1 p2", p1=7, p2=7)  # (16, 1, 7, 7)
patch_strip(tiles, ncols=16, size=0.75, title="the boot as a sequence of 16 patches (P = 7)")
plt.show()

# %% [markdown]
# The same on the photo: ViT-B/16 reads it as 14×14 = 196 patches of 16×16 pixels (left), ViT-B/32 as
# 7×7 = 49 patches of 32×32 (right).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
patch_grid(photo, 16, ax=axes[0], color="white", numbers=False)
axes[0].set_title("P = 16: 14 x 14 = 196 patches", fontsize=10)
patch_grid(photo, 32, ax=axes[1])
axes[1].set_title("P = 32: 7 x 7 = 49 patches", fontsize=10)
fig.tight_layout()
plt.show()

tiles = rearrange(patchify(photo[None], 32)[0], "n (p1 p2 c) -> n c p1 p2", p1=32, p2=32)  # (49, 3, 32, 32)
patch_strip(tiles, ncols=17, size=0.7, title="the photo as a sequence of 49 patches (P = 32), in reading order")
plt.show()

# %% [markdown]
# ## 1.5 How many tokens?
#
# An image gives $N = HW/P^2$ patches, and the encoder reads $N + 1$ tokens (the $+1$ is the class token
# of lesson 02). Self-attention compares every token with every other, so each head in each layer builds
# an $(N + 1) \times (N + 1)$ matrix: halve the patch side and $N$ grows 4×, the attention matrix about 16×.
# The paper puts it this way: "the Transformer's sequence length is inversely proportional to the square of the patch size, thus models
# with smaller patch size are computationally more expensive" (Sec. 4.1).

# %%
def num_tokens(img_size, patch_size, class_token=True):
    """N + 1 for a square image: N = (H/P)^2 patches, plus the class token."""
    return (img_size // patch_size) ** 2 + int(class_token)


for img_size, channels, sizes in [(224, 3, (56, 32, 16, 14, 8, 4, 1)), (28, 1, (14, 7, 4, 2, 1))]:
    print(f"{img_size}x{img_size} image, C={channels}")
    print(f"  {'P':>3} {'grid':>7} {'patch vector':>13} {'N':>7} {'N + 1':>7} {'(N+1)^2 (one head, one layer)':>31}")
    for p in sizes:
        n = num_tokens(img_size, p)
        print(f"  {p:3d} {f'{img_size // p}x{img_size // p}':>7} {p * p * channels:13,d} {n - 1:7,d} {n:7,d} "
              f"{n * n:31,d}")
assert num_tokens(224, 16) == 197 and num_tokens(28, 4) == 50 and num_tokens(224, 1) == 50_177
per_head = num_tokens(224, 1) ** 2 * 4  # bytes of one float32 (N+1) x (N+1) matrix, P = 1
print(f"P = 1 in float32: {per_head / 1e9:.1f} GB per head and layer, {144 * per_head / 1e12:.2f} TB for "
      "ViT-B's 12 heads x 12 layers, for one image")

# %% [markdown]
# ViT-B/16's $N + 1 = 197$ tokens give 38,809 attention entries per head and layer. Treating every pixel
# as a token ($P = 1$) would give 50,177 tokens and 2.5 billion entries: 10.1 GB per head and layer in
# float32, 1.45 TB for ViT-B's 12 heads and 12 layers if they are kept for the backward pass, as a plain
# implementation does — for a single image. Patches are what make a Transformer on images affordable. On a log
# scale the growth is close to a straight line of slope −2 for the tokens and −4 for the entries:

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for img_size, style in [(224, "-"), (28, "--")]:
    ps = [p for p in range(1, img_size + 1) if img_size % p == 0 and p < img_size]
    ax.plot(ps, [num_tokens(img_size, p) for p in ps], "o" + style, color="tab:blue", label=f"tokens N + 1, {img_size} px")
    ax.plot(ps, [num_tokens(img_size, p) ** 2 for p in ps], "s" + style, color="tab:red",
            label=f"attention entries (N + 1)², {img_size} px")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xticks([1, 2, 4, 7, 14, 28, 56, 112], [1, 2, 4, 7, 14, 28, 56, 112])
ax.set_xlabel("patch size P (pixels)")
ax.set_ylabel("count (log scale)")
ax.set_title("smaller patches: more tokens, far more attention entries")
ax.axvline(16, color="gray", lw=0.8, ls=":")
ax.text(16, 3e9, " ViT-B/16", color="gray", fontsize=8, va="top")
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 1.6 Patch embedding: flatten + Linear is a Conv2d
#
# Each flattened patch is mapped to $D$ dimensions by one learned matrix $\mathbf{E} \in
# \mathbb{R}^{(P^2 C) \times D}$ (the paper's Eq. 1): $\mathbf{z}_i = \mathbf{x}_p^i \mathbf{E} + \mathbf{b}$.
# In PyTorch that is `nn.Linear(P*P*C, D)` applied to the output of `patchify`.
#
# A `Conv2d` with `kernel_size = stride = P` computes the same thing: each output position looks at
# exactly one patch (the windows neither overlap nor leave gaps) and takes a dot product of it with each
# of the $D$ kernels. Only the weight layout differs: the Linear's inputs are ordered `(p1 p2 c)`, a conv
# kernel is `(D, C, p1, p2)`. Reshape to `(D, P, P, C)` and move C forward:

# %%
torch.manual_seed(0)
P, C, D = 16, 3, 768  # ViT-B/16
linear = nn.Linear(P * P * C, D)
conv = nn.Conv2d(C, D, kernel_size=P, stride=P)
with torch.no_grad():
    conv.weight.copy_(linear.weight.reshape(D, P, P, C).permute(0, 3, 1, 2))  # (D, P*P*C) -> (D, C, P, P)
    conv.bias.copy_(linear.bias)

imgs = torch.stack([photo, photo.flip(-1)])  # (2, 3, 224, 224): the photo and its mirror image
with torch.no_grad():
    via_linear = linear(patchify(imgs, P))  # (B, N, D)
    via_conv = conv(imgs)  # (B, D, H/P, W/P)
    via_conv = via_conv.flatten(2).transpose(1, 2)  # (B, N, D): NCHW -> NLC, row-major like patchify
check_shape(via_conv, (2, 196, 768), "patch embeddings")
torch.testing.assert_close(via_conv, via_linear, atol=1e-6, rtol=1e-5)
print("Linear on patches == Conv2d, up to float32 rounding:", (via_conv - via_linear).abs().max().item() < 1e-5)

# %% [markdown]
# Reshaping the weight straight to `(D, C, P, P)` — the tempting one-liner — gives the right shape and
# the wrong numbers, because it reads the `(p1 p2 c)` inputs as if they were `(c p1 p2)`:

# %%
with torch.no_grad():
    conv_wrong = nn.Conv2d(C, D, kernel_size=P, stride=P)
    conv_wrong.weight.copy_(linear.weight.reshape(D, C, P, P))
    conv_wrong.bias.copy_(linear.bias)
    err = (conv_wrong(imgs).flatten(2).transpose(1, 2) - via_linear).abs().max().item()
print(f"without the permute: largest difference {err:.2f}")
assert err > 0.1

# %% [markdown]
# Why do timm (`patch_embed.proj`), torchvision (`conv_proj`) and Hugging Face
# (`ViTPatchEmbeddings.projection`) all use the convolution?
#
# - It is one library call that reads the image where it is; `patchify` first copies the whole batch
#   into the patch layout, then the Linear reads the copy.
# - The weights of published checkpoints are stored in the conv layout `(D, C, P, P)`, so they load as
#   they are (lesson 05 loads timm and torchvision ViT weights into our model this way).
# - The same layer works for any image size divisible by $P$ with no reshaping code, and the convolution
#   kernels of cuDNN and oneDNN are among the most tuned code in deep learning.
#
# The paper also describes a *hybrid* input where the patches are cut from a CNN's feature map instead
# of the image (Sec. 3.1); with a Conv2d patch embedding that is the same layer applied to other input.

# %% [markdown]
# ## 1.7 Parity: our patch embedding in the package's `PatchEmbed`
#
# Here is the lesson's patch embedding as a module, written as the paper states it: cut into patches,
# flatten, one Linear. The package's `PatchEmbed` is the Conv2d version. Load one into the other and
# the outputs agree.

# %%
class PatchEmbedLinear(nn.Module):
    """(B, C, H, W) -> (B, N, D): patchify, then one Linear shared by all patches (the paper's E)."""

    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(patch_size * patch_size * in_chans, embed_dim)

    def forward(self, x):
        x = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=self.patch_size, p2=self.patch_size)  # (B, N, P*P*C)
        return self.proj(x)  # (B, N, D)


torch.manual_seed(0)
for img_size, P, C, D, batch in [(28, 7, 1, 64, data.train_x[:8].float() / 255),  # the course's model
                                 (224, 16, 3, 768, imgs)]:  # ViT-B/16
    mine = PatchEmbedLinear(P, C, D)
    theirs = PatchEmbed(img_size, P, C, D)
    w = mine.proj.weight.detach()  # (D, P*P*C), inputs ordered (p1 p2 c)
    theirs.load_state_dict({"proj.weight": w.reshape(D, P, P, C).permute(0, 3, 1, 2),  # (D, C, P, P)
                            "proj.bias": mine.proj.bias.detach()})
    with torch.no_grad():
        out_mine, out_theirs = mine(batch), theirs(batch)  # (B, N, D) each
    check_shape(out_theirs, (len(batch), (img_size // P) ** 2, D), "PatchEmbed output")
    torch.testing.assert_close(out_theirs, out_mine, atol=1e-6, rtol=1e-5)
    print(f"{img_size}px, P={P}, D={D}: PatchEmbedLinear == vit_lessons PatchEmbed, output {tuple(out_mine.shape)}")

# %% [markdown]
# ## Summary
#
# - An image becomes a sequence by cutting it into $P \times P$ patches, numbered row by row, each
#   flattened to $P^2 C$ numbers in the order `(p1 p2 c)`: `b c (h p1) (w p2) -> b (h w) (p1 p2 c)`.
# - reshape + permute, einops and `F.unfold` (after reordering its `(c p1 p2)` patches) give identical
#   results; `unpatchify` inverts them exactly.
# - $N = HW/P^2$ patches and $N + 1$ tokens; attention costs grow with $(N + 1)^2$, so roughly with
#   $P^{-4}$. ViT-B/16 at 224 px: 196 patches, 197 tokens.
# - Flatten + `Linear(P²C, D)` equals `Conv2d(C, D, kernel_size=P, stride=P)` once the weight is
#   reshaped to `(D, P, P, C)` and permuted to `(D, C, P, P)`. Libraries use the convolution.
#
# Next, [lesson 02](02_embeddings.ipynb) adds what the patches lack: a class token and their positions.

# %% [markdown]
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("01.1")` prints a nudge for
# exercise 01.1, `hint("01.1", 2)` the key line. Worked solutions are in
# [solutions/01_patches.ipynb](solutions/01_patches.ipynb).

# %%
from vit_lessons.exercises import (check_inflate, check_num_patches, check_overlapping_patches, check_patchify,
                                   check_tubelets, hint)

# %% [markdown]
# **Exercise 01.1 · Warm-up: patchify by hand.** Way 1 of section 1.2 from memory, without einops or
# unfold: `(B, C, H, W)` → `(B, N, P·P·C)`, patches row by row, each flattened as `(p1 p2 c)`. The check
# uses a non-square image.

# %%
def my_patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C)."""
    raise NotImplementedError("your code here")


ok = check_patchify(my_patchify)

# %% [markdown]
# **Exercise 01.2 · Predict N for an image that does not divide.** Every image so far had sides divisible
# by $P$. A 30×45 photo with $P = 8$ does not, and there are two ways out: **pad** the image with zeros at
# the bottom and right up to the next multiples of $P$, or **crop** the leftover rows and columns (what a
# strided `Conv2d`, and so `PatchEmbed`, does without a word). Predict first, on paper: how many patches
# does the 30×45 image give each way? And the 28×28 Fashion-MNIST image with $P = 8$? Then write the rule
# as `my_num_patches(height, width, patch_size, mode)` with `mode` `"pad"` or `"crop"`; the check pads and
# crops images of seven sizes and counts the patches.

# %%
def my_num_patches(height: int, width: int, patch_size: int, mode: str) -> int:
    """N after padding the image up ("pad") or cropping it down ("crop") to multiples of patch_size."""
    raise NotImplementedError("your code here")


ok = check_num_patches(my_num_patches)

# %% [markdown]
# **Exercise 01.3 · Tubelets: patches of a video clip.** A video clip is a stack of frames, `(B, C, T, H, W)`
# in PyTorch's `Conv3d` layout. ViViT (Arnab et al. 2021, Sec. 3.2 and Fig. 3) cuts it into *tubelets*:
# $t \times P \times P$ blocks that span $t$ consecutive frames, $N = \frac{T}{t}\cdot\frac{H}{P}\cdot\frac{W}{P}$ of
# them. Write `my_tubelets(video, t, patch_size)` → `(B, N, t·P·P·C)`: tubelets numbered time first, then
# row by row, each flattened as `(pt p1 p2 c)`, the order of 01.1 with the frame index in front. Any of
# section 1.2's three ways carries over (`Tensor.unfold` works on one dim at a time; `Conv3d` plays the
# part of `Conv2d`); the worked solution does all three.

# %%
def my_tubelets(video: torch.Tensor, t: int, patch_size: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, t*P*P*C), N = (T/t)(H/P)(W/P), tubelets time-major then row by row."""
    raise NotImplementedError("your code here")


ok = check_tubelets(my_tubelets)

# %% [markdown]
# **Exercise 01.4 · Inflate a patch embedding to tubelets.** A video model can start from an image model
# (ViViT, Sec. 3.4): its patch embedding `Conv2d(C, D, P, stride=P)` becomes a
# `Conv3d(C, D, (t, P, P), stride=(t, P, P))` that embeds tubelets. Predict first: if every one of the $t$
# frames gets the image filter, what does a clip of $t$ copies of one image give, compared with the image's
# own tokens? Then write `my_inflate(conv, t)` so that a still clip gives exactly the image's tokens (the
# paper's Eq. 8 is one answer). The check measures it on a still clip.

# %%
def my_inflate(conv: nn.Conv2d, t: int) -> nn.Conv3d:
    """A tubelet embedding Conv3d (kernel = stride = (t, P, P)) that gives a still clip the image's tokens."""
    raise NotImplementedError("your code here")


ok = check_inflate(my_inflate)

# %% [markdown]
# **Exercise 01.5 · Overlapping patches.** ViT's patches neither overlap nor leave gaps. Some small-data
# variants cut *overlapping* windows instead, so that neighbouring tokens share pixels (T2T-ViT's soft
# split, Yuan et al. 2021, Sec. 3.1). Write `my_overlapping_patches(x, patch_size, stride)`: $P \times P$
# windows every `stride` pixels, numbered row by row, each flattened as `(p1 p2 c)` like the patches above;
# with `stride == patch_size` it must give `patchify`'s result. How many windows does a 28×28 image give
# with $P = 4$ and stride 2? (`F.unfold` from section 1.2 is the tool.)

# %%
def my_overlapping_patches(x: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): P x P windows every `stride` pixels, row by row, each (p1 p2 c)."""
    raise NotImplementedError("your code here")


ok = check_overlapping_patches(my_overlapping_patches)
