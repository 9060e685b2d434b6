"""Plotting helpers shared by the notebooks and the README figures.

Every function returns the matplotlib Figure, so a caller can save or show it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib import patheffects

from .metrics_jsonl import read_metrics

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
    for _ in range(per_class):
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


__all__ += ["similarity_grid"]


def similarity_grid(sim: torch.Tensor, title: str | None = None, size: float = 0.75, cmap: str = "viridis"):
    """A (g, g, g, g) similarity tensor as a g x g grid of small (g, g) heat maps (the paper's Fig. 7, centre).

    Tile (i, j) shows how similar the patch at row i, column j is to every other patch.
    """
    g = sim.shape[0]
    s = sim.detach().cpu().float()
    vmin, vmax = float(s.min()), float(s.max())
    fig, axes = plt.subplots(g, g, figsize=(g * size + 1.0, g * size + 0.4), squeeze=False)
    for i in range(g):
        for j in range(g):
            ax = axes[i, j]
            im = ax.imshow(s[i, j].numpy(), vmin=vmin, vmax=vmax, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(str(i + 1), fontsize=8, rotation=0, labelpad=8, va="center")
            if i == g - 1:
                ax.set_xlabel(str(j + 1), fontsize=8)
    fig.supylabel("input patch row", fontsize=9)
    fig.supxlabel("input patch column", fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.8, bottom=0.1, top=0.92 if title else 0.97, wspace=0.08, hspace=0.08)
    cax = fig.add_axes((0.83, 0.1, 0.025, 0.82 if title else 0.87))
    fig.colorbar(im, cax=cax, label="cosine similarity")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


__all__ += ["patch_strip"]


def patch_strip(tiles: torch.Tensor, ncols: int = 16, size: float = 0.8, title: str | None = None,
                cmap: str = "gray_r"):
    """(N, C, P, P) patches as a framed, numbered sequence in reading order: what the Transformer is given."""
    n = len(tiles)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.25) + (0.35 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        t = tiles[i]
        grey = t.shape[0] == 1
        ax.imshow(to_display(t), cmap=cmap if grey else None, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7, pad=2)
        for s in ax.spines.values():
            s.set_color("0.6")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.3)
    return fig


# ---- training curves and confusion matrices (lesson 06) ---------------------------------------------
def _records(run):
    """A run given as a list of metric records, a metrics.jsonl path, or a run folder."""
    if isinstance(run, (list, tuple)):
        return list(run)
    return read_metrics(Path(run))


def plot_curves(runs, x: str = "epoch", title: str | None = None, hlines: dict | None = None,
                acc_ylim: tuple | None = None):
    """Loss and test accuracy against ``x`` ('epoch' or 'train_time') for one or more runs.

    ``runs`` maps a label to a run (records, a metrics.jsonl, or a run folder); a single run
    may be given as it is. ``hlines`` maps a label to an accuracy drawn as a dashed reference line.
    """
    if not isinstance(runs, dict):
        runs = {"run": runs}
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 4))
    xlabel = {"epoch": "epoch", "train_time": "training time (s)"}.get(x, x)
    for i, (label, run) in enumerate(runs.items()):
        recs = _records(run)
        if not recs:
            continue
        c = f"C{i}"
        xs = [r[x] for r in recs]
        ax_l.plot(xs, [r["train_loss"] for r in recs], color=c, ls="--", label=f"{label} (train)")
        ax_l.plot(xs, [r["test_loss"] for r in recs], color=c, label=f"{label} (test)")
        ax_a.plot(xs, [100 * r["test_acc"] for r in recs], color=c, marker=".", label=label)
    for j, (label, acc) in enumerate((hlines or {}).items()):  # labels alternate left / right so they never overlap
        ax_a.axhline(100 * acc, color="0.4", ls=":", lw=1)
        left = j % 2 == 0
        ax_a.annotate(label, (0.01 if left else 0.99, 100 * acc), xycoords=("axes fraction", "data"), fontsize=8,
                      color="0.3", va="bottom" if left else "top", ha="left" if left else "right")
    ax_l.set(xlabel=xlabel, ylabel="cross-entropy", title="loss (solid: test, dashed: training batches)")
    ax_a.set(xlabel=xlabel, ylabel="test accuracy (%)", title="test accuracy")
    if acc_ylim:
        ax_a.set_ylim(*acc_ylim)
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
    ax_l.legend(fontsize=8)
    ax_a.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(cm, classes, normalize: bool = True, title: str | None = None, ax=None):
    """A confusion matrix (rows: true class, columns: predicted) as a heat map with the numbers written in."""
    cm = torch.as_tensor(cm)
    vals = cm.float() / cm.sum(1, keepdim=True).clamp(min=1) if normalize else cm.float()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(vals.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    n = len(classes)
    for i in range(n):
        for j in range(n):
            v = vals[i, j].item()
            txt = f"{v:.2f}" if normalize else f"{int(cm[i, j])}"
            if normalize and v < 0.005:
                txt = ""
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="white" if v > (0.6 if normalize else vals.max().item() * 0.6) else "black")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [str(c) for c in classes], fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    acc = cm.diag().sum().item() / max(cm.sum().item(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {acc:.2%})")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    ax.figure.tight_layout()
    return ax.figure


__all__ += ["plot_curves", "plot_confusion"]
