"""Plotting helpers shared by the notebooks and the README figures.

Every function returns the matplotlib Figure, so a caller can save or show it.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib import patheffects
import torch

__all__ = ["to_display", "image_grid", "dataset_grid", "patch_grid"]


def to_display(img: torch.Tensor, mean=None, std=None):
    """A (C, H, W) tensor (uint8, or float normalised with mean/std) as an (H, W[, 3]) array for imshow."""
    x = img.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None:
        m = torch.tensor(mean).view(-1, 1, 1)
        s = torch.tensor(std).view(-1, 1, 1)
        x = x * s + m
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def image_grid(images: torch.Tensor, labels=None, classes=None, ncols: int = 8, title: str | None = None,
               size: float = 1.3, mean=None, std=None, cmap: str = "gray_r"):
    """A labelled grid of (N, C, H, W) images."""
    n = len(images)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.25)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(to_display(images[i], mean, std), cmap=cmap if images[i].shape[0] == 1 else None)
        if labels is not None:
            lab = int(labels[i])
            ax.set_title(classes[lab] if classes else str(lab), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def dataset_grid(data, per_class: int = 4, split: str = "train", seed: int = 0):
    """``per_class`` random examples of every class (up to 10 classes shown), one class per column."""
    x, y = (data.train_x, data.train_y) if split == "train" else (data.test_x, data.test_y)
    g = torch.Generator().manual_seed(seed)
    classes = data.info.classes
    shown = range(min(len(classes), 10))
    imgs, labs = [], []
    for r in range(per_class):
        for c in shown:
            idx = (y == c).nonzero().flatten()
            pick = idx[torch.randint(len(idx), (1,), generator=g)] if len(idx) else None
            if pick is not None:
                imgs.append(x[pick][0])
                labs.append(c)
    return image_grid(torch.stack(imgs), labs, classes, ncols=len(shown),
                      title=f"{data.info.name} ({split}): {len(y):,} images, {len(classes)} classes")


def patch_grid(img: torch.Tensor, patch_size: int, ax=None, color: str = "tab:red", numbers: bool = True):
    """Draw one (C, H, W) image with its patch grid (and patch indices, row-major) on top."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    h, w = img.shape[-2:]
    ax.imshow(to_display(img), cmap="gray_r" if img.shape[0] == 1 else None, extent=(0, w, h, 0))
    for k in range(0, w + 1, patch_size):
        ax.axvline(k, color=color, lw=1)
    for k in range(0, h + 1, patch_size):
        ax.axhline(k, color=color, lw=1)
    if numbers:
        gw = w // patch_size
        for i in range(h // patch_size):
            for j in range(gw):
                ax.text(j * patch_size + patch_size / 2, i * patch_size + patch_size / 2,
                        str(i * gw + j), ha="center", va="center", fontsize=7, color=color,
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.figure
