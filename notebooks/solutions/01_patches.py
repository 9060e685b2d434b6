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
# # 01 · Solutions to lesson 01
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/01_patches.ipynb)
#
# Worked solutions to the exercises of [lesson 01](../01_patches.ipynb). Try them yourself first:
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
from torch import nn
import torch.nn.functional as F
from einops import rearrange
from matplotlib.patches import Rectangle
from vit_lessons.data import load_dataset
from vit_lessons.exercises import (check_inflate, check_num_patches, check_overlapping_patches, check_patchify,
                                   check_tubelets)
from vit_lessons.patches import PatchEmbed, patchify
from vit_lessons.viz import patch_grid

# %% [markdown]
# ## Exercise 01.1 · Warm-up: patchify by hand
#
# Split each spatial axis into (grid, patch), bring the two grid axes to the front and the two patch
# axes plus the channels to the back, then flatten both groups.

# %%
def my_patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C), patches row by row, each flattened as (p1 p2 c)."""
    B, C, H, W = x.shape
    P = patch_size
    x = x.reshape(B, C, H // P, P, W // P, P)  # (B, C, H/P, p1, W/P, p2)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, H/P, W/P, p1, p2, C)
    return x.reshape(B, (H // P) * (W // P), P * P * C)  # (B, N, P*P*C)


ok = check_patchify(my_patchify)

# %% [markdown]
# ## Exercise 01.2 · Predict N for an image that does not divide
#
# A patch cannot straddle two rows of the grid, so each side is counted on its own. Cropping keeps the
# whole patches, $\lfloor H/P \rfloor \cdot \lfloor W/P \rfloor$; padding completes the last partial patch
# of each side, $\lceil H/P \rceil \cdot \lceil W/P \rceil$, and pads a side that already divides by
# $(-H) \bmod P = 0$ pixels. For 30×45 and $P = 8$: crop $3 \cdot 5 = 15$, pad $4 \cdot 6 = 24$.

# %%
def my_num_patches(height: int, width: int, patch_size: int, mode: str) -> int:
    """N after padding the image up ("pad") or cropping it down ("crop") to multiples of patch_size."""
    if mode == "pad":
        return -(-height // patch_size) * -(-width // patch_size)  # ceil of each side, in integers
    if mode == "crop":
        return (height // patch_size) * (width // patch_size)
    raise ValueError(f"mode is 'pad' or 'crop', not {mode!r}")


ok = check_num_patches(my_num_patches)

# %% [markdown]
# Now doing it, on the Fashion-MNIST boot with $P = 8$ (28 is not a multiple of 8). Padding adds 4 empty
# rows and columns and gives $4 \cdot 4 = 16$ patches; cropping keeps $3 \cdot 3 = 9$. A strided `Conv2d`,
# and with it the course's `PatchEmbed`, crops without saying so:

# %%
data = load_dataset("fashion-mnist")
boot = data.train_x[:1].float() / 255  # (1, 1, 28, 28)
P = 8
padded = F.pad(boot, (0, (-28) % P, 0, (-28) % P))  # (1, 1, 32, 32): zeros at the bottom and right
cropped = boot[:, :, : 28 - 28 % P, : 28 - 28 % P]  # (1, 1, 24, 24)
conv = nn.Conv2d(1, 4, P, stride=P)
with torch.no_grad():
    n_conv = conv(boot).flatten(2).shape[-1]  # what a patch embedding makes of the 28 x 28 image
print(f"padded {tuple(padded.shape[-2:])}: {patchify(padded, P).shape[1]} patches "
      f"(predicted {my_num_patches(28, 28, P, 'pad')}); cropped {tuple(cropped.shape[-2:])}: "
      f"{patchify(cropped, P).shape[1]} (predicted {my_num_patches(28, 28, P, 'crop')}); Conv2d on 28 x 28: {n_conv}")
assert patchify(padded, P).shape[1] == 16 and patchify(cropped, P).shape[1] == n_conv == 9

test = data.test_x.float()  # (10000, 1, 28, 28)
lost = test[:, :, 24:, :].sum((1, 2, 3)) + test[:, :, :24, 24:].sum((1, 2, 3))  # the ink in the cut strips
share = (lost / test.sum((1, 2, 3))).mean().item()
print(f"cropping 28 -> 24 px drops {share:.1%} of an image's ink on average over the 10,000 test images")

fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
patch_grid(padded[0], P, ax=axes[0])
axes[0].add_patch(Rectangle((0, 0), 28, 28, fill=False, ec="tab:blue", lw=2, ls="--"))
axes[0].set_title("padded to 32 x 32: 16 patches\n(blue: the original 28 x 28)", fontsize=10)
patch_grid(cropped[0], P, ax=axes[1])
axes[1].set_title("cropped to 24 x 24: 9 patches\n(4 rows and 4 columns lost)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 01.3 · Tubelets: patches of a video clip
#
# The same steps as 01.1 with one more axis: split $T$ into $(T/t, t)$ as well, bring the three "which
# tubelet" axes to the front (time, row, column) and $(p_t, p_1, p_2, c)$ to the back. Here on a clip made
# from the boot, sliding two pixels to the right per frame:

# %%
def my_tubelets(video: torch.Tensor, t: int, patch_size: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, t*P*P*C), N = (T/t)(H/P)(W/P), tubelets time-major then row by row."""
    B, C, T, H, W = video.shape
    P = patch_size
    x = video.reshape(B, C, T // t, t, H // P, P, W // P, P)  # (B, C, T/t, pt, H/P, p1, W/P, p2)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T/t, H/P, W/P, pt, p1, p2, C)
    return x.reshape(B, (T // t) * (H // P) * (W // P), t * P * P * C)  # (B, N, t*P*P*C)


ok = check_tubelets(my_tubelets)

clip = torch.stack([torch.roll(boot, 2 * k, dims=-1) for k in range(8)], dim=2)  # (1, 1, T=8, 28, 28)
t, P = 2, 7
ours = my_tubelets(clip, t, P)  # (1, 4 * 4 * 4, 2 * 7 * 7 * 1)
via_einops = rearrange(clip, "b c (nt pt) (nh p1) (nw p2) -> b (nt nh nw) (pt p1 p2 c)", pt=t, p1=P, p2=P)
via_unfold = clip.unfold(2, t, t).unfold(3, P, P).unfold(4, P, P)  # (B, C, T/t, H/P, W/P, pt, p1, p2)
via_unfold = via_unfold.permute(0, 2, 3, 4, 5, 6, 7, 1).reshape(1, -1, t * P * P)  # (B, N, t*P*P*C)
k = t * P * P  # one Conv3d output channel per tubelet entry: a one-hot kernel picks it out
picker = torch.eye(k).reshape(k, t, P, P, 1).permute(0, 4, 1, 2, 3)  # (t*P*P*C, C, t, P, P), entries (pt p1 p2 c)
via_conv = F.conv3d(clip, picker, stride=(t, P, P)).flatten(2).transpose(1, 2)  # (B, N, t*P*P*C)
for other in (via_einops, via_unfold, via_conv):
    torch.testing.assert_close(other, ours, atol=0, rtol=0)
print(f"clip {tuple(clip.shape)} -> tubelets {tuple(ours.shape)}: reshape, einops, unfold and Conv3d agree; "
      f"frame by frame it would be {8 * 16} patch tokens instead of {ours.shape[1]}")

# %% [markdown]
# ## Exercise 01.4 · Inflate a patch embedding to tubelets
#
# A clip of $t$ copies of one image gives $t$ times the image filter's response if every frame gets the
# whole filter, because the Conv3d sums over the $t$ frames; dividing the repeated filter by $t$ (ViViT's
# Eq. 8) makes the sum come out as the image's token, bias included once. The check also accepts any other
# split of the image filter over the frames, such as putting all of it on the middle frame (Eq. 9): a still
# clip cannot tell them apart.

# %%
def my_inflate(conv: nn.Conv2d, t: int) -> nn.Conv3d:
    """A tubelet embedding Conv3d (kernel = stride = (t, P, P)) that gives a still clip the image's tokens."""
    D, C, P = conv.out_channels, conv.in_channels, conv.kernel_size[0]
    conv3d = nn.Conv3d(C, D, kernel_size=(t, P, P), stride=(t, P, P))
    with torch.no_grad():
        conv3d.weight.copy_(conv.weight.unsqueeze(2).repeat(1, 1, t, 1, 1) / t)  # (D, C, t, P, P)
        conv3d.bias.copy_(conv.bias)
    return conv3d


ok = check_inflate(my_inflate)

# %% [markdown]
# A moving clip tells the two initialisations apart. With the course's patch embedding shape (7×7
# patches, $D = 64$), Eq. 8 gives each tubelet the *average* of its frames' image tokens, Eq. 9 the
# middle frame's token:

# %%
torch.manual_seed(0)
embed = PatchEmbed(28, 7, 1, 64)  # (B, 1, 28, 28) -> (B, 16, 64)
inflated = my_inflate(embed.proj, t)
central = nn.Conv3d(1, 64, (t, 7, 7), stride=(t, 7, 7))
with torch.no_grad():
    central.weight.zero_()
    central.weight[:, :, t // 2] = embed.proj.weight  # Eq. 9: the whole filter on frame t // 2
    central.bias.copy_(embed.proj.bias)
    frames = torch.stack([embed(clip[:, :, k]) for k in range(8)], dim=1)  # (1, T, 16, D): each frame alone
    tubes_8 = inflated(clip).flatten(2).transpose(1, 2).reshape(1, 4, 16, 64)  # (1, T/t, 16, D)
    tubes_9 = central(clip).flatten(2).transpose(1, 2).reshape(1, 4, 16, 64)
torch.testing.assert_close(tubes_8, frames.reshape(1, 4, t, 16, 64).mean(2), atol=1e-5, rtol=1e-5)
torch.testing.assert_close(tubes_9, frames[:, t // 2::t], atol=1e-5, rtol=1e-5)
print("moving clip: Eq. 8 tubelet tokens = mean of the frames' tokens; Eq. 9 = the token of frame t // 2")

# %% [markdown]
# ## Exercise 01.5 · Overlapping patches
#
# `F.unfold` already slides a window with any stride; with stride $S < P$ neighbouring windows
# share pixels and there are $((H-P)/S + 1)\cdot((W-P)/S + 1)$ of them. What is left is lesson 01's
# way 3: windows first, each reordered from `(c p1 p2)` to `(p1 p2 c)`. (Overlapping patches are one
# of the "locality" ideas lesson 09 tries for small datasets.) A 28×28 image with $P = 4$ and stride 2
# gives $13 \cdot 13 = 169$ windows.

# %%
def my_overlapping_patches(x: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): P x P windows every `stride` pixels, row by row, each (p1 p2 c)."""
    cols = F.unfold(x, kernel_size=patch_size, stride=stride)  # (B, C*P*P, N)
    cols = cols.transpose(1, 2)  # (B, N, C*P*P), each window still (c p1 p2)
    return rearrange(cols, "b n (c p1 p2) -> b n (p1 p2 c)", p1=patch_size, p2=patch_size)  # (B, N, P*P*C)


ok = check_overlapping_patches(my_overlapping_patches)
assert my_overlapping_patches(boot, 4, 2).shape[1] == 169
