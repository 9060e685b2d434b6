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
# # 00 · Setup and data
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/00_setup_and_data.ipynb)
#
# Before a Vision Transformer can read an image, the image has to be a tensor of the right
# type, shape and scale. In this lesson you will:
#
# - check that the course runs on your machine (CPU is enough for lessons 00–05),
# - fix the **shape legend** that every later lesson uses in its comments,
# - see the whole model the course builds (the paper's Fig. 1, drawn with our model's shapes) and what
#   the paper found it is good for,
# - see what an image is to PyTorch: `uint8` vs `float`, `(C, H, W)`, what `ToTensor` and `Normalize` do,
# - meet the datasets: Fashion-MNIST (the course default), CIFAR-10/100 and scikit-learn's 8×8 digits,
# - compute the normalisation statistics yourself and compare them with the ones the package uses.

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
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.functional import to_tensor
from vit_lessons import ViTConfig
from vit_lessons.data import DATASETS, DatasetNotFoundError, channel_stats, class_counts, load_dataset, normalize_batch
from vit_lessons.shapes import check_shape
from vit_lessons.assets import asset_path
from vit_lessons.viz import dataset_grid, image_grid

# %% [markdown]
# ## 0.1 Where the course runs
#
# The cell above printed the versions, the device and the **mode**. Every lesson runs on a CPU:
# lessons 00–05 build and check the model on tiny inputs and take seconds; the training lessons
# train a small ViT on Fashion-MNIST in minutes on a laptop CPU. A GPU helps with the larger runs
# (CIFAR, pretrained ViT-B/16); on Colab pick *Runtime → Change runtime type → GPU*, and `device`
# above becomes `cuda` without any other change.
#
# Heavy cells read one switch, the environment variable `VIT_LESSONS_MODE`:
#
# | mode | what it is for | example |
# |---|---|---|
# | `ci` | the automatic checks: every notebook in about a minute on 2 CPU cores | a few hundred training steps |
# | `default` | reading and running the course yourself | longer runs, closer to the real thing |
# | `full` | reproducing the longest runs, on a GPU | full schedules |
#
# The outputs saved in the notebooks you read on GitHub come from `ci` mode (that is how `make notebooks`
# executes them). Every number in the prose is either printed by a cell above it, in the mode the
# outputs were made in, or comes with the command and mode that produced it, so you can check it.
#
# In code the switch is `pick(ci=..., default=..., full=...)`:

# %%
print("images used for the statistics below:", pick(ci="all 60,000", default="all 60,000"))
print("in ci mode the CIFAR cell does not try to download:", pick(ci=True, default=False))

# %% [markdown]
# ## 0.2 The shape legend
#
# Every tensor in the course is described with the same letters, in code comments like
# `x = self.patch_embed(x)  # (B, N, D)`. They follow the paper (Dosovitskiy et al. 2021, Sec. 3.1),
# where an image $\mathbf{x} \in \mathbb{R}^{H \times W \times C}$ becomes
# $N = HW/P^2$ patches of $P^2 C$ numbers each, projected to $D$ dimensions. With the class token in
# front (lesson 02) the encoder reads **N + 1 tokens**: $N$ always counts patches, never tokens.
#
# | letter | meaning | the course's model (Fashion-MNIST) | ViT-B/16 (paper) |
# |---|---|---|---|
# | **B** | batch: images processed together | 64 | 512 (the paper's fine-tuning batch) |
# | **C** | channels per pixel | 1 (grey) | 3 (RGB) |
# | **H, W** | image height and width in pixels | 28, 28 | 224, 224 |
# | **P** | patch side in pixels | 7 | 16 |
# | **N** | patches, $HW/P^2$ | 4·4 = 16 | 14·14 = 196 |
# | **N + 1** | tokens: the patches and the class token | 17 | 197 |
# | **D** | embedding dim, the width of every token | 64 | 768 |
# | **h** | attention heads | 4 | 12 |
# | **d** | head dim, d = D / h | 16 | 64 |
#
# The course's model is the preset `fashion_mnist_cpu`: the model lessons 06–09 train, load and look
# inside. Its patches are large (7×7 pixels, 16 of them) so that many epochs fit in ten CPU minutes.
# Lessons 01–05 sometimes draw a finer cut of the same image, 4×4-pixel patches (`fashion_mnist_p4`,
# 49 patches), where a 7×7 grid makes a shape easier to see; they say so where they do.
#
# Batch sizes are a training choice; every other entry comes from a `ViTConfig`, as this cell shows:

# %%
for cfg in (ViTConfig.fashion_mnist_cpu(), ViTConfig.vit_b_16()):
    print(f"{cfg.name:18s} C={cfg.in_chans}  H=W={cfg.img_size}  P={cfg.patch_size}  "
          f"N={cfg.grid_size}*{cfg.grid_size}={cfg.num_patches}  N+1={cfg.num_tokens}  D={cfg.embed_dim}  "
          f"h={cfg.num_heads}  d={cfg.head_dim}")
assert ViTConfig.fashion_mnist_cpu().num_patches == 16 and ViTConfig.vit_b_16().num_patches == 196
assert ViTConfig.fashion_mnist_cpu().num_tokens == 17 and ViTConfig.vit_b_16().num_tokens == 197
assert ViTConfig.fashion_mnist_cpu().head_dim == 16 and ViTConfig.vit_b_16().head_dim == 64

# %% [markdown]
# **The whole model, with these letters on it.** Here is the Vision Transformer the course builds,
# drawn the way the paper's Fig. 1 draws it, with the shapes of the course's model (`fashion_mnist_cpu`)
# written on every box. `architecture_figure` computes each shape from the config, so the picture cannot
# drift from the model. Read it top to bottom: the image is cut into patches (lesson 01), each patch is
# projected to $D$ numbers and a class token is put in front, position embeddings are added (lesson 02);
# $L$ encoder blocks of attention (lesson 03) and MLP with residual connections (lesson 04) mix the
# $N + 1$ tokens; the head reads the class token and gives one score per class (lesson 05). Lesson 05
# draws it again with each box tagged by the lesson that built it.

# %%
from vit_lessons.diagram import architecture_figure

cfg = ViTConfig.fashion_mnist_cpu()
example = load_dataset("fashion-mnist").test_x[0]  # (1, 28, 28) uint8: an ankle boot
architecture_figure(cfg, image=example.float() / 255)
plt.show()

# %% [markdown]
# **What the paper found.** A convolution looks at a small neighbourhood and applies the same filter
# everywhere, so a CNN has *locality* and *translation equivariance* built in. A ViT has neither: apart
# from cutting patches, every token may attend to every other from the first layer on, and it must learn
# from data that nearby pixels belong together. The paper's central result follows from that
# (Dosovitskiy et al. 2021, Sec. 1 and 4.3):
#
# - trained on a mid-sized dataset such as ImageNet-1k (1.3M images) with no strong regularisation, ViTs
#   end up a few points below ResNets of similar size (Sec. 1). Pre-trained on ImageNet, the BiT ResNets
#   beat ViT; pre-trained on ImageNet-21k or JFT-300M, ViT overtakes them (Fig. 3). On random subsets of
#   JFT-300M, ViT-B/32 does much worse than ResNet50 with 9M images and better with 90M or more (Fig. 4);
# - pre-trained on 14M–300M images (ImageNet-21k, JFT-300M), ViT matches or beats the best CNNs:
#   ViT-H/14 reaches 88.55% on ImageNet against 87.54% for the ResNet-based BiT-L, with a quarter of the
#   pre-training compute (2.5k against 9.9k TPUv3-core-days, Table 2).
#
# Later work closed much of the small-data gap without more data: DeiT (Touvron et al. 2021) trains ViTs
# on ImageNet-1k alone with strong data augmentation (Sec. 6) and distillation from a convnet teacher
# (Sec. 5.2, Table 2). On a dataset as
# small as Fashion-MNIST the gap is the main thing to beat: lesson 09 measures a ViT against a small CNN
# on it, and what augmentation and distillation recover.

# %% [markdown]
# ## 0.3 Images as tensors
#
# Image files store one byte per channel per pixel: integers 0…255 (`uint8`), laid out
# **height × width × channels** — `(H, W, C)`. PyTorch layers want **floats** laid out
# **channels first** — `(C, H, W)`, and `(B, C, H, W)` for a batch. Let us follow one photo through
# the conversion. (It is Chelsea the cat, a CC0 photo from scikit-image; `assets/README.md` says where
# it comes from and how it was cut to 224×224.)

# %%
photo = Image.open(asset_path("chelsea_224.jpg")).convert("RGB")
arr = np.array(photo)  # (H, W, C) uint8, as stored
print("PIL/NumPy:", arr.shape, arr.dtype, "values", arr.min(), "…", arr.max())

t = torch.from_numpy(arr).permute(2, 0, 1)  # (C, H, W), still uint8
print("channels first:", tuple(t.shape), t.dtype)
x = t.float() / 255  # (C, H, W) float in [0, 1]
check_shape(x, (3, 224, 224), "photo")
print("float:", tuple(x.shape), x.dtype, f"values {x.min():.3f} … {x.max():.3f}")

# %% [markdown]
# torchvision's classic `ToTensor` does exactly these two steps, *permute* and *divide by 255*;
# the newer `transforms.v2` API spells them `ToImage()` and `ToDtype(torch.float32, scale=True)`.
# All three agree up to float32 rounding: a kernel that multiplies by 1/255 instead of dividing by 255 may
# land one bit away, and one bit of a float32 between 0.5 and 1 is $2^{-24} \approx 6 \cdot 10^{-8}$:

# %%
v2_pipeline = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
for name, other in (("ToTensor", to_tensor(photo)), ("v2.ToImage + ToDtype(scale=True)", v2_pipeline(photo))):
    torch.testing.assert_close(other, x, atol=1e-7, rtol=0)
    print(f"{name:33s} vs permute(2, 0, 1) / 255: largest difference {(other - x).abs().max().item():.1e}")

# %% [markdown]
# The permute matters. A `reshape` to `(C, H, W)` would give the right *shape* with the pixels
# scrambled, because reshape keeps the memory order. Here are the three channels done right, and the
# red channel done wrong.
#
# One channel alone is a grey image, and **the course draws grey images as dark ink on white paper**:
# matplotlib's `cmap="gray_r"`, with 0 white and 1 black (the boot in the figure above, and every grey
# image from here on). So the photo's bright parts come out dark here, like a photographic negative, while
# Fashion-MNIST's garments, stored as bright pixels on a background of 0, come out dark on white.

# %%
wrong = torch.from_numpy(arr).reshape(3, 224, 224).float() / 255  # same shape, scrambled content
fig, axes = plt.subplots(1, 4, figsize=(12, 3))
for ax, img, name in zip(axes, [x[0], x[1], x[2], wrong[0]],
                         ["R channel, x[0]", "G channel, x[1]", "B channel, x[2]", "reshape, not permute"]):
    im = ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)  # dark ink on white; one scale for all four panels
    ax.set_title(name, fontsize=10)
    ax.axis("off")
fig.colorbar(im, ax=axes, fraction=0.015, pad=0.01, label="value (0 = white, 1 = black)")
plt.show()

# %% [markdown]
# Finally **normalisation**: subtract a per-channel mean and divide by a per-channel standard
# deviation, so that every input channel has mean ≈ 0 and spread ≈ 1. The constants are computed once
# on the *training* set and never change afterwards. `Normalize(mean, std)` is, per channel $c$,
#
# $$\hat{x}_c = \frac{x_c - \mu_c}{\sigma_c}.$$

# %%
mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the usual ImageNet statistics, for a photo
normalised = v2.Normalize(mean, std)(x)  # (C, H, W)
by_hand = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)  # (3, 1, 1) broadcasts over H, W
torch.testing.assert_close(normalised, by_hand, atol=1e-6, rtol=0)
print(f"after Normalize: per-channel means {[round(v, 2) for v in normalised.mean((1, 2)).tolist()]}, "
      f"range {normalised.min():.2f} … {normalised.max():.2f}")

# %% [markdown]
# ## 0.4 Fashion-MNIST
#
# The course's default dataset is Fashion-MNIST (Xiao et al. 2017): 70,000 greyscale 28×28 photos of
# clothing in 10 classes, a drop-in replacement for MNIST digits that is harder to solve. It is small
# enough to train a ViT on a CPU and real enough to be interesting. `load_dataset` finds it on disk
# (Debian's `dataset-fashion-mnist` package, or a cache folder) or downloads it with torchvision, and
# keeps all of it in memory as `uint8` tensors.

# %%
data = load_dataset("fashion-mnist")
info = data.info
print("train:", tuple(data.train_x.shape), data.train_x.dtype, "| labels", tuple(data.train_y.shape), data.train_y.dtype)
print("test: ", tuple(data.test_x.shape), data.test_x.dtype, "| labels", tuple(data.test_y.shape), data.test_y.dtype)
check_shape(data.train_x, (60_000, 1, 28, 28), "Fashion-MNIST train images")
print("classes:", ", ".join(f"{i} {c}" for i, c in enumerate(info.classes)))

# %% [markdown]
# Four random training images per class, one class per column:

# %%
dataset_grid(data, per_class=4, seed=0)
plt.show()

# %% [markdown]
# The classes are exactly balanced: 6,000 training and 1,000 test images each. With balanced classes,
# plain accuracy is a fair score and a model that guesses gets 10 %.

# %%
train_counts = class_counts(data.train_y, info.num_classes)
test_counts = class_counts(data.test_y, info.num_classes)
assert (train_counts == 6000).all() and (test_counts == 1000).all()
print("train per class:", train_counts.tolist())
print("test per class: ", test_counts.tolist())

fig, ax = plt.subplots(figsize=(9, 3))
pos = np.arange(info.num_classes)
ax.bar(pos - 0.2, train_counts, width=0.4, label="train")
ax.bar(pos + 0.2, test_counts, width=0.4, label="test")
ax.set_xticks(pos, info.classes, rotation=30, ha="right")
ax.set_ylabel("images")
ax.set_title("Fashion-MNIST: images per class")
ax.set_ylim(0, 7500)
ax.legend(ncol=2, loc="upper center")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 0.5 Normalisation statistics, computed
#
# The package stores a mean and standard deviation for every dataset in `DATASETS`. Where do they come
# from? From the training images, scaled to $[0, 1]$, over every pixel of every image:
# $\mu = \frac{1}{|\text{pixels}|}\sum x$, $\sigma = \sqrt{\frac{1}{|\text{pixels}|-1}\sum (x-\mu)^2}$.
# (Exercise 00.1 asks you to write this for any number of channels.)

# %%
pixels = data.train_x.float() / 255  # (60000, 1, 28, 28) in [0, 1]
mu, sigma = pixels.mean(), pixels.std()
print(f"computed: mean {mu:.4f}, std {sigma:.4f} over {pixels.numel():,} pixel values")
print(f"stored:   mean {info.mean[0]:.4f}, std {info.std[0]:.4f}  (DATASETS['fashion-mnist'])")
torch.testing.assert_close(mu.item(), DATASETS["fashion-mnist"].mean[0], atol=5e-5, rtol=0)
torch.testing.assert_close(sigma.item(), DATASETS["fashion-mnist"].std[0], atol=5e-5, rtol=0)
torch.testing.assert_close(torch.tensor(channel_stats(data.train_x)), torch.stack([mu, sigma])[:, None], atol=1e-6, rtol=0)

# %% [markdown]
# The package's test-time transform is exactly "scale to $[0, 1]$, then normalise with the stored
# constants", and after normalising, the training pixels have mean 0 and standard deviation 1:

# %%
batch = data.train_x[:256]  # (B, 1, 28, 28) uint8
by_hand = (batch.float() / 255 - info.mean[0]) / info.std[0]  # (B, 1, 28, 28)
torch.testing.assert_close(normalize_batch(batch, info.mean, info.std), by_hand, atol=1e-6, rtol=0)

z = (pixels - mu) / sigma  # (60000, 1, 28, 28)
print(f"normalised: mean {round(z.mean().item(), 4) + 0.0:.4f}, std {z.std():.4f}")  # + 0.0 turns -0.0 into 0.0
torch.testing.assert_close(z.mean().item(), 0.0, atol=1e-4, rtol=0)
torch.testing.assert_close(z.std().item(), 1.0, atol=1e-4, rtol=0)

# %% [markdown]
# Mean 0 and spread 1 does **not** mean "bell-shaped". Half of all Fashion-MNIST pixels are the empty
# background, stored as exactly 0 (drawn white in this course), so after normalising they all sit at the
# same value, $-\mu/\sigma$ (the cell prints both numbers under its histograms):

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, values, lo, hi, name in [(axes[0], pixels, 0.0, 1.0, "raw pixels / 255"),
                                 (axes[1], z, float(z.min()), float(z.max()), "normalised (x - mean) / std")]:
    counts = torch.histc(values, bins=50, min=lo, max=hi)
    edges = torch.linspace(lo, hi, 51)
    ax.bar(edges[:-1], counts / values.numel(), width=(hi - lo) / 50, align="edge")
    ax.set_yscale("log")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("value")
axes[0].set_ylabel("fraction of pixels (log scale)")
fig.tight_layout()
plt.show()
background = (data.train_x == 0).float().mean().item()
print(f"{background:.1%} of the training pixels are exactly 0; normalised they become {-mu / sigma:.3f}")

# %% [markdown]
# ## 0.6 CIFAR-10 and CIFAR-100
#
# The other datasets the course uses are 32×32 colour photos: CIFAR-10 (10 classes) and CIFAR-100
# (100 classes), 50,000 training and 10,000 test images each (Krizhevsky 2009). torchvision downloads
# them (about 170 MB each) when the machine is online, for example on Colab. The cell below tries; on a
# machine without internet, or in `ci` mode, it says that it skipped them and the lesson goes on.

# %%
# NBVAL_IGNORE_OUTPUT
for name in ("cifar10", "cifar100"):
    try:
        cifar = load_dataset(name, download=pick(ci=False, default=True))
    except DatasetNotFoundError as err:
        why = "ci mode does not download" if pick(ci=True, default=False) else str(err).split(". ")[0]
        print(f"offline: skipped {name} ({why})")
        continue
    print(cifar)
    dataset_grid(cifar, per_class=3, seed=0)
    plt.show()

# %% [markdown]
# Whether or not they are on this machine, their shapes and statistics are fixed: three channels, so
# three means and three standard deviations (computed the same way as in 0.5, on the training images).

# %%
for name in ("cifar10", "cifar100"):
    d = DATASETS[name]
    print(f"{name:9s} {d.num_classes:3d} classes, {d.in_chans}x{d.img_size}x{d.img_size}, mean {d.mean}, std {d.std}")

# %% [markdown]
# ## 0.7 The 8×8 digits
#
# scikit-learn ships 1,797 tiny handwritten digits, 8×8 pixels with 17 grey levels. They need no
# download at all, and a ViT with 2×2 patches (16 patches + 1 class token) trains on them in seconds,
# which makes them handy for quick experiments. The package scales them to 0…255 like the others and
# splits off 20 % as a test set with a fixed seed.

# %%
digits = load_dataset("digits")
print(digits.info.num_classes, "classes | train", tuple(digits.train_x.shape), "| test", tuple(digits.test_x.shape))
image_grid(digits.train_x[:16], digits.train_y[:16], digits.info.classes, ncols=16, size=0.8)
plt.show()

# %% [markdown]
# ## Summary
#
# - An image file is `uint8` `(H, W, C)`; a model wants `float` `(B, C, H, W)`. `ToTensor` is
#   `permute(2, 0, 1) / 255`, and `Normalize` is `(x - mean) / std` per channel with `(C, 1, 1)`-shaped
#   constants.
# - Normalisation constants come from the training set; Fashion-MNIST's are mean 0.2860, std 0.3530,
#   exactly what we computed.
# - Fashion-MNIST: 60,000 + 10,000 images, 1×28×28, 10 balanced classes. CIFAR-10/100: 3×32×32, downloaded
#   when online. Digits: 1×8×8, built into scikit-learn.
# - The legend **B, C, H, W, P, N, D, h, d** is used in every shape comment from here on; $N$ counts
#   patches and the encoder reads $N + 1$ tokens.
# - The paper's result: lacking a CNN's locality and translation equivariance, a ViT needs more data (or
#   augmentation and distillation) to match a CNN, and beats it after large-scale pre-training.
#
# Next, [lesson 01](01_patches.ipynb) cuts an image into patches: the step that turns a picture into a
# sequence a Transformer can read.

# %% [markdown]
# ## Exercises
#
# Write the body of each function, then run its cell. The check prints one line: **Correct** when your
# answer is right, or **Not attempted yet** while the function still raises `NotImplementedError`; a
# wrong answer stops with an `ExerciseError` that says what is wrong. (`ok = ` keeps the check's result,
# True or None, so that the cell shows only that line.) Stuck? `hint("00.1")` prints a nudge for
# exercise 00.1, `hint("00.1", 2)` the key line. Worked solutions are in
# [solutions/00_setup_and_data.ipynb](solutions/00_setup_and_data.ipynb).

# %%
from vit_lessons.exercises import check_channel_stats, check_predict_normalised_stats, check_streaming_stats, hint

# %% [markdown]
# **Exercise 00.1 · Warm-up: per-channel statistics.** Section 0.5 computed one mean and one standard
# deviation for the grey images. Given `uint8` images `(B, C, H, W)` with any number of channels, return
# `(mean, std)`, each a tensor of shape `(C,)`, in $[0, 1]$ units. (On the Fashion-MNIST training set you
# should get 0.2860 and 0.3530.)

# %%
def my_channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (B, C, H, W) -> (mean, std), each (C,), in [0, 1] units."""
    raise NotImplementedError("your code here")


ok = check_channel_stats(my_channel_stats)

# %% [markdown]
# **Exercise 00.2 · Predict a wrong normalisation.** Two bugs are common in input pipelines: normalising
# with another dataset's constants (ImageNet's, copied from a tutorial), and forgetting to divide the
# `uint8` pixels by 255 first. Before you compute anything, predict what each does. Write
# `my_predict_normalised_stats(data_mean, data_std, mean, std, divide_by_255)`: from the dataset's
# per-channel mean and std (in $[0, 1]$ units) and the constants the pipeline normalises with, return the
# per-channel `(mean, std)` that the normalised pixels will have, without touching any image. The check
# then normalises real pixels those ways and measures. (What do Fashion-MNIST's pixels become with
# ImageNet's red-channel constants 0.485 and 0.229? And with the right constants but no division by 255?)

# %%
def my_predict_normalised_stats(data_mean, data_std, mean, std, divide_by_255: bool = True):
    """Per-channel (mean, std) of (x / 255 - mean) / std, or of (x - mean) / std without the division."""
    raise NotImplementedError("your code here")


ok = check_predict_normalised_stats(my_predict_normalised_stats)

# %% [markdown]
# **Exercise 00.3 · Statistics of a dataset too big for memory.** Section 0.5 could hold all 47 million
# pixels in memory at once; ImageNet's 1.3 million photos cannot be. Given an iterable of `uint8` batches
# `(B, C, H, W)` of *different* sizes, read once (like a data loader), return the per-channel `(mean, std)`
# of all pixels together, exactly what `my_channel_stats` would give on the whole dataset.

# %%
def my_streaming_stats(batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Iterable of uint8 (B, C, H, W) batches -> (mean, std), each (C,), in [0, 1] units, in one pass."""
    raise NotImplementedError("your code here")


ok = check_streaming_stats(my_streaming_stats)
