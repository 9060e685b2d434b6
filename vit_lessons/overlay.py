"""Heat maps over images: attention, rollout and Grad-CAM drawn on the picture they explain.

A map is (gh, gw) on the patch grid or (H, W) per pixel; either is stretched over the whole
image, so patch-grid maps show as blocks that sit exactly on the patches. Every map gets a
colour bar that says which scale it uses, and several maps can share one scale, so colours
mean the same number everywhere in a figure. Grey images are drawn dark on white (``image_cmap="gray_r"``), as
everywhere in the course (vit_lessons.viz). Every function returns the matplotlib Figure.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from .viz import to_display

__all__ = ["shared_limits", "overlay", "cls_heatmap"]


def _as_map(heat, what: str = "heat") -> torch.Tensor:
    h = torch.as_tensor(heat).detach().cpu().float()
    if h.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (gh, gw) or (H, W) map, got shape {tuple(h.shape)}; "
                         "pick one image and one head first, e.g. maps[0]")
    return h


def _as_image(image) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) tensor with 1 or 3 channels, got {shape}; "
                         "take one image of the batch, e.g. images[0]")
    return image


def shared_limits(maps) -> tuple[float, float]:
    """(vmin, vmax) over several maps (a tensor or a list of them): pass to several plots for one colour scale.

    Built in notebooks/07_looking_inside.
    """
    ts = [torch.as_tensor(m).detach().float() for m in (maps if isinstance(maps, (list, tuple)) else [maps])]
    if not ts or any(t.numel() == 0 for t in ts):
        raise ValueError("shared_limits needs at least one non-empty map")
    return min(float(t.min()) for t in ts), max(float(t.max()) for t in ts)


def _draw(ax, image: torch.Tensor, heat: torch.Tensor, alpha: float, cmap: str, vmin: float, vmax: float,
          image_cmap: str, mean=None, std=None):
    """Image first, then the map stretched over it; returns the map's AxesImage for a colour bar."""
    h, w = image.shape[-2:]
    gh, gw = heat.shape
    if h % gh or w % gw:
        raise ValueError(f"a {gh}x{gw} map does not tile a {h}x{w} image: give a patch-grid map "
                         "(to_patch_grid) or one with the image's size")
    ax.imshow(to_display(image, mean, std), cmap=image_cmap if image.shape[0] == 1 else None, extent=(0, w, h, 0))
    im = ax.imshow(heat.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha, extent=(0, w, h, 0),
                   interpolation="nearest")  # nearest: one flat colour per patch, no invented detail
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def overlay(image: torch.Tensor, heat, ax=None, *, vmin: float | None = None, vmax: float | None = None,
            alpha: float = 0.6, cmap: str = "inferno", label: str = "weight", title: str | None = None,
            colorbar: bool = True, image_cmap: str = "gray_r", mean=None, std=None):
    """Draw one (gh, gw) or (H, W) map over one (C, H, W) image, with a colour bar.

    ``vmin``/``vmax`` fix the colour scale (use :func:`shared_limits` to share one between
    plots); by default the scale runs from the map's own minimum to its maximum, and the colour
    bar's label says so. ``mean``/``std`` undo a normalisation of the image for display.

    Built in notebooks/07_looking_inside.
    """
    image, heat = _as_image(image), _as_map(heat)
    own = vmin is None and vmax is None
    lo, hi = shared_limits(heat)
    vmin, vmax = (lo if vmin is None else vmin), (hi if vmax is None else vmax)
    made = ax is None
    if made:
        _, ax = plt.subplots(figsize=(3.6, 3.0))
    im = _draw(ax, image, heat, alpha, cmap, vmin, vmax, image_cmap, mean, std)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                           label=f"{label}\n({'scale of this map' if own else 'fixed scale'})")
    if made:
        ax.figure.tight_layout()
    return ax.figure


def cls_heatmap(images: torch.Tensor, maps, *, titles=None, row_labels=None, ncols: int | None = None,
                shared: bool = True, vmin: float | None = None, vmax: float | None = None,
                label: str = "attention weight", cmap: str = "inferno", alpha: float = 0.6, size: float = 2.0,
                suptitle: str | None = None, image_cmap: str = "gray_r", mean=None, std=None):
    """Several maps over their images in a grid, on one shared colour scale (or one scale per panel).

    ``maps``: (K, gh, gw) or (K, H, W) maps laid out ``ncols`` per row (a list may mix sizes),
    or (R, K, ...) for an R x K grid (for instance blocks x heads, with ``row_labels``). ``images``: one (C, H, W)
    image under every map, or one per map ((K, C, H, W), or (R, K, C, H, W) for a grid).
    ``shared=True`` draws every map on the same scale (``vmin``/``vmax``, or the maps' overall
    range) with one colour bar; ``shared=False`` gives each panel its own scale and colour bar.

    Built in notebooks/07_looking_inside.
    """
    if isinstance(maps, (list, tuple)):  # may mix sizes: a (gh, gw) rollout beside an (H, W) pixel map
        m = [_as_map(t, "each map") for t in maps]
        ncols = ncols or min(len(m), 8)
        nrows = math.ceil(len(m) / max(ncols, 1))
    else:
        t = torch.as_tensor(maps).detach().float()
        if t.ndim == 4:
            nrows, ncols = t.shape[0], t.shape[1]
            t = t.reshape(-1, *t.shape[2:])  # (R*K, gh, gw)
        elif t.ndim == 3:
            ncols = ncols or min(len(t), 8)
            nrows = math.ceil(len(t) / ncols)
        else:
            raise ValueError(f"maps must be (K, gh, gw) or (R, K, gh, gw), got shape {tuple(t.shape)}")
        m = list(t)
    if not m:
        raise ValueError("cls_heatmap needs at least one map")
    k = len(m)
    imgs = images.reshape(-1, *images.shape[-3:]) if isinstance(images, torch.Tensor) and images.ndim >= 4 else None
    if imgs is None:
        imgs = _as_image(images)[None].expand(k, -1, -1, -1)  # (K, C, H, W): the same picture under every map
    if len(imgs) != k:
        raise ValueError(f"{len(imgs)} images for {k} maps: give one image, or one per map")
    if titles is not None and len(titles) != k:
        raise ValueError(f"{len(titles)} titles for {k} maps")
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    lo, hi = shared_limits(m)
    vmin, vmax = (lo if vmin is None else vmin), (hi if vmax is None else vmax)
    extra = 1.3 if shared else 0.0  # inches on the right for the shared colour bar and its label
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(ncols * size * (1.0 if shared else 1.3) + extra,
                                                                   nrows * size + (0.4 if suptitle else 0.1)))
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.axis("off")
            continue
        heat = m[i]
        lims = (vmin, vmax) if shared else shared_limits(heat)
        im = _draw(ax, _as_image(imgs[i]), heat, alpha, cmap, lims[0], lims[1], image_cmap, mean, std)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(str(row_labels[i // ncols]), fontsize=8)
        if not shared:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if shared:
        fig.tight_layout(rect=(0, 0, 1 - extra / fig.get_figwidth(), 1))
        cax = fig.add_axes((1 - 1.15 / fig.get_figwidth(), 0.12, 0.15 / fig.get_figwidth(), 0.76))
        fig.colorbar(im, cax=cax, label=f"{label}\n(one scale for all panels)")
    else:
        fig.tight_layout()
        fig.text(0.5, 0.005, f"{label}: each panel on its own scale", ha="center", fontsize=8)
    return fig
