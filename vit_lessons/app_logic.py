"""The attention explorer without its web page: load a checkpoint, predict, compute and draw the maps.
(What the page says about the maps, with the faithfulness test's ranking, is vit_lessons/app_ranking.py.)

Plain Python and torch (no gradio), so every step is tested directly; vit_lessons/app.py only
wires these functions to widgets, and vit_lessons/app_input.py turns uploads into images. Images
travel as uint8 tensors (C, H, W) at the model's input size, what the model sees before normalisation.

Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .app_input import InputError, prepare
from .data import DATASETS, DatasetNotFoundError, load_dataset
from .explain import attention_maps, attention_rollout, grad_cam, pooled_row, to_patch_grid
from .model import VisionTransformer
from .overlay import overlay
from .relevance import METHODS, relevance_map
from .train import load_model

__all__ = ["Explorer", "load_explorer", "gallery_examples", "predict", "class_attention", "rollout_map",
           "grad_cam_map", "relevance", "render_overlay", "enlarge"]

@dataclass
class Explorer:
    """A trained model with what the page needs around it.

    Args:
        model: the VisionTransformer, in eval mode.
        classes: class names, index = class id.
        mean, std: the per-channel normalisation it was trained with.
        dataset: the dataset name recorded in the checkpoint.
        checkpoint: where it was loaded from.
        record: the checkpoint's measured record (test accuracy ...), may be empty.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """

    model: VisionTransformer
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str
    checkpoint: Path
    record: dict = field(default_factory=dict)
    # the web server calls in from several threads; Grad-CAM hooks on the shared model must not interleave
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def load_explorer(path) -> Explorer:
    """An :class:`Explorer` for any checkpoint the course's trainer writes; ValueError saying why otherwise.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist (or is a folder): give the .pt file a training run "
                         "wrote (e.g. experiments/<name>/last.pt from `python -m vit_lessons train`), or leave "
                         "--checkpoint out to use the committed assets/checkpoints/fashion_mnist_vit.pt")
    model, ck = load_model(path)  # CheckpointError (a ValueError) for anything that is not a course checkpoint
    cfg, dataset = model.config, ck.get("dataset")
    info = DATASETS.get(dataset)
    if info is None or info.in_chans != cfg.in_chans:
        raise ValueError(f"{path} records dataset {dataset!r}, so the explorer cannot tell how its inputs were "
                         f"normalised; it knows checkpoints trained on {sorted(DATASETS)}")
    classes = [str(c) for c in ck.get("classes") or info.classes]
    if len(classes) != cfg.num_classes:
        raise ValueError(f"{path} names {len(classes)} classes but its head has {cfg.num_classes} outputs")
    return Explorer(model.eval(), classes, info.mean, info.std, dataset, path, dict(ck.get("record") or {}))


def gallery_examples(ex: Explorer, n: int = 20) -> list[tuple[torch.Tensor, int, int]]:
    """Up to ``n`` test images of the checkpoint's dataset as (uint8 (C, H, W), label, test index), every class
    in turn; [] when the dataset is not on this machine (the page then offers uploads only).

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    try:
        data = load_dataset(ex.dataset, download=False)
    except (DatasetNotFoundError, ImportError):
        return []
    k = len(ex.classes)
    per_class = [(data.test_y == c).nonzero().flatten().tolist() for c in range(k)]
    order = [idx[r] for r in range(max(1, n // k)) for idx in per_class if r < len(idx)][:n]
    S = ex.model.config.img_size
    return [(data.test_x[i] if data.test_x.shape[-1] == S else _resized(data.test_x[i], ex), int(data.test_y[i]), i)
            for i in order]


def _resized(img: torch.Tensor, ex: Explorer) -> torch.Tensor:
    """A dataset image at another size than the model's (a checkpoint trained on resized images): resized."""
    a = img.permute(1, 2, 0).numpy()  # (H, W, C)
    cfg = ex.model.config
    return prepare(Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a), img_size=cfg.img_size,
                   in_chans=cfg.in_chans, dataset=ex.dataset)[0]  # (C, S, S)


def _to_input(ex: Explorer, img: torch.Tensor) -> torch.Tensor:
    """uint8 (C, H, W) -> normalised float (1, C, H, W), as in training."""
    mean = torch.tensor(ex.mean).view(-1, 1, 1)
    std = torch.tensor(ex.std).view(-1, 1, 1)
    return ((img.float() / 255 - mean) / std)[None]  # (1, C, H, W)


def predict(ex: Explorer, img: torch.Tensor, k: int = 5) -> dict[str, float]:
    """The top-``k`` classes of one uint8 (C, H, W) image with their softmax probabilities, best first.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    with ex.lock, torch.no_grad():
        probs = ex.model(_to_input(ex, img)).softmax(dim=-1)[0]  # (K,)
    top = probs.topk(min(k, probs.numel()))
    return {ex.classes[i]: float(p) for p, i in zip(top.values.tolist(), top.indices.tolist())}


def class_attention(ex: Explorer, img: torch.Tensor, layer: int, head: int):
    """Layer ``layer``'s head ``head`` (both counted from 1) as the classifier reads it: the class token's
    attention over the patches (mean pooling: the attention patches receive on average).

    Returns (map (gh, gw), largest value among this layer's heads for a shared scale, share kept
    by the class token itself or None without one).

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    cfg = ex.model.config
    if not (1 <= layer <= cfg.depth and 1 <= head <= cfg.num_heads):
        raise InputError(f"layer must be 1..{cfg.depth} and head 1..{cfg.num_heads}, got layer {layer}, head {head}")
    with ex.lock:
        attns = attention_maps(ex.model, _to_input(ex, img))  # depth x (1, h, N, N)
    rows = pooled_row(attns[layer - 1][0], ex.model)  # (h, N)
    grids = to_patch_grid(rows, ex.model)  # (h, gh, gw)
    own = float(rows[head - 1, 0]) if ex.model.num_prefix_tokens else None
    return grids[head - 1], float(grids.max()), own


def rollout_map(ex: Explorer, img: torch.Tensor):
    """Attention rollout (heads averaged) of the pooled row: (map (gh, gw), share kept by the class token or None).

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    with ex.lock:
        attns = attention_maps(ex.model, _to_input(ex, img))  # depth x (1, h, N, N)
    row = pooled_row(attention_rollout(attns, num_prefix_tokens=ex.model.num_prefix_tokens)[0], ex.model)  # (N,)
    return to_patch_grid(row, ex.model), (float(row[0]) if ex.model.num_prefix_tokens else None)


def grad_cam_map(ex: Explorer, img: torch.Tensor, target: int, block: int | None = None) -> torch.Tensor:
    """Grad-CAM of block ``block`` (counted from 1; default the last) for class ``target``: (gh, gw) in [0, 1],
    all zeros where no patch feature raises the class's score.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    depth = ex.model.config.depth
    block = depth if block is None else int(block)
    if not 1 <= block <= depth:
        raise InputError(f"block must be 1..{depth}, got {block}")
    with ex.lock:
        return grad_cam(ex.model, _to_input(ex, img), target=target, block=block - 1)[0]  # (gh, gw)


def relevance(ex: Explorer, img: torch.Tensor, method: str) -> torch.Tensor:
    """The (gh, gw) relevance map of ``method`` (a name in :data:`vit_lessons.relevance.METHODS`) for the
    predicted class of one uint8 (C, H, W) image; higher = more relevant.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    if method not in METHODS or method == "random":
        raise InputError(f"unknown map {method!r}: use one of {', '.join(m for m in METHODS if m != 'random')}")
    with ex.lock:
        return relevance_map(method, ex.model, _to_input(ex, img))[0]  # (gh, gw)


def enlarge(img: torch.Tensor, side: int = 168) -> np.ndarray:
    """uint8 (C, H, W) -> (H*k, W*k[, 3]) array with square pixels, so a 28x28 input shows crisp, not blurred.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    k = max(1, side // img.shape[-1])
    a = img.repeat_interleave(k, dim=1).repeat_interleave(k, dim=2)  # (C, H*k, W*k)
    return a[0].numpy() if a.shape[0] == 1 else a.permute(1, 2, 0).numpy()  # (H*k, W*k[, 3])


def render_overlay(img: torch.Tensor, heat: torch.Tensor, patch_size: int, title: str, scale: str,
                   vmax: float = 1.0) -> np.ndarray:
    """A (gh, gw) map over a uint8 (C, H, W) image with a colour bar from 0 to ``vmax``, as an RGB uint8 array.

    Drawn with :func:`vit_lessons.overlay.overlay` on a Figure of its own (no pyplot state), so the
    server's threads never share a figure.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    fig = Figure(figsize=(3.4, 3.1), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    overlay(img, heat, ax=ax, vmin=0.0, vmax=max(vmax, 1e-12), colorbar=False)
    ax.set_title(title, fontsize=8.5)
    bar = fig.colorbar(ax.images[-1], ax=ax, fraction=0.05, pad=0.03)  # the heat map's colours, our smaller label
    bar.set_label(scale, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    H, W = img.shape[-2:]
    for k in range(patch_size, max(H, W), patch_size):  # patch borders: each colour belongs to one patch
        ax.axhline(k, color="white", lw=0.4, alpha=0.5)
        ax.axvline(k, color="white", lw=0.4, alpha=0.5)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()  # (height, width, 3)
