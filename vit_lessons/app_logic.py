"""The attention explorer without its web page: load a checkpoint, read an image, predict, draw the maps.

Plain Python and torch (no gradio), so every step is tested directly; vit_lessons/app.py only
wires these functions to widgets. Images travel as uint8 tensors (C, H, W) at the model's input
size, exactly what the model sees before normalisation.

Built in notebooks/07_looking_inside (the maps); served by ``python -m vit_lessons app``.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import DATASETS, DatasetNotFoundError, load_dataset
from .explain import attention_maps, attention_rollout, grad_cam, pooled_row, to_patch_grid
from .model import VisionTransformer
from .overlay import overlay
from .train import load_model

__all__ = ["Explorer", "InputError", "load_explorer", "gallery_examples", "read_upload", "prepare",
           "predict", "class_attention", "rollout_map", "grad_cam_map", "render_overlay", "enlarge",
           "MAX_BYTES", "MAX_PIXELS"]

MAX_BYTES = 20 * 2**20  # refused before decoding: a phone photo is a few MB, and the model needs a few hundred pixels
MAX_PIXELS = 40_000_000  # refused before decoding: a 40-megapixel RGB image is already ~120 MB in memory
WORKING_SIDE = 8  # large images are first shrunk to 8x the model's input side: exact enough, and fast


class InputError(ValueError):
    """An image the explorer cannot use; the message says what is wrong and what to do.

    Built for the attention explorer (``python -m vit_lessons app``), notebooks/07_looking_inside.
    """


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

    Built for the attention explorer (``python -m vit_lessons app``), notebooks/07_looking_inside.
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

    Built for the attention explorer (``python -m vit_lessons app``), notebooks/07_looking_inside.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist (or is a folder): give the .pt file a training run "
                         "wrote (e.g. runs/<name>/last.pt from `python -m vit_lessons train`), or leave "
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

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    try:
        data = load_dataset(ex.dataset, download=False)
    except (DatasetNotFoundError, ImportError):
        return []
    k = len(ex.classes)
    per_class = [(data.test_y == c).nonzero().flatten().tolist() for c in range(k)]
    order = [idx[r] for r in range(max(1, n // k)) for idx in per_class if r < len(idx)][:n]
    return [(data.test_x[i], int(data.test_y[i]), i) for i in order]


def read_upload(path, ex: Explorer, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS):
    """A file from disk as the model's input: (uint8 (C, H, W), notes on what was converted).

    Anything that is not a usable image raises :class:`InputError` with a message for the page.

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    if path is None:
        raise InputError("No image yet: choose an example or upload a picture (PNG, JPEG, GIF, BMP, TIFF, WebP).")
    path = Path(path)
    name, size = path.name, path.stat().st_size
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes): upload a picture file.")
    if size > max_bytes:
        raise InputError(f"{name} is {size / 2**20:.1f} MB; the explorer reads files up to {max_bytes / 2**20:.0f} MB. "
                         f"Shrink it first: the model looks at {_side(ex)} pixels.")
    too_big = (f"{name} is too large to decode here; the explorer reads images up to {max_pixels / 1e6:.0f} "
               f"megapixels. Shrink it first: the model looks at {_side(ex)} pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below is stricter
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(too_big) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{name} is not an image the explorer can read: upload a PNG, JPEG, GIF, BMP, TIFF or "
                         "WebP picture.") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise InputError(too_big.replace("is too large", f"is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels)"))
        notes = [f"{name} has {im.n_frames} frames; the first one is used."] if getattr(im, "n_frames", 1) > 1 else []
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise InputError(f"{name} looks like a {im.format or 'picture'} file but cannot be decoded "
                             f"({str(e)[:120] or type(e).__name__}): it may be truncated or corrupt. "
                             "Save it again and retry.") from None
        return prepare(im, ex, notes)


def _side(ex: Explorer) -> str:
    s = ex.model.config.img_size
    return f"{s}x{s}"


def _to_8bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 'L' or 'RGB', transparency over black, high bit depths scaled to 0..255."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        if np.asarray(rgba.getchannel("A")).min() < 255:
            notes.append("Transparent parts were filled with black (the background of the training images).")
        return Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), rgba).convert("RGB")
    if im.mode.startswith("I;16"):
        notes.append("16-bit image scaled to 8 bits.")
        return Image.fromarray((np.asarray(im, dtype=np.float32) / 257).round().astype(np.uint8))
    if im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        kind = "Integer" if im.mode == "I" else "Floating-point"
        notes.append(f"{kind} image scaled from its range [{lo:g}, {hi:g}] to 0..255.")
        return Image.fromarray(((a - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8))
    return im if im.mode in ("L", "RGB") else im.convert("L" if im.mode == "1" else "RGB")


def prepare(im: Image.Image, ex: Explorer, notes: list[str] | None = None):
    """A decoded Pillow image as the model's input: (uint8 (C, H, W), notes saying what was changed and why).

    Colour becomes grey for a one-channel model (and grey becomes three equal channels for a
    colour one), a light background is inverted for the course's grey datasets (light objects on
    black), a non-square image is padded to a square with its border colour, and the result is
    resized to the model's input size with antialiasing.

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    notes = list(notes or [])
    cfg = ex.model.config
    S, C = cfg.img_size, cfg.in_chans
    try:
        im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
        pass
    w0, h0 = im.size
    im = _to_8bit(im, notes)
    if max(im.size) > WORKING_SIDE * S:
        im = im.copy()
        im.thumbnail((WORKING_SIDE * S, WORKING_SIDE * S), Image.Resampling.BOX)  # area average: exact downscale
    a = np.asarray(im, dtype=np.float32)
    a = a[:, :, None] if a.ndim == 2 else a  # (H, W, 1 or 3)
    if C == 1 and a.shape[2] == 3:
        if np.abs(a - a.mean(axis=2, keepdims=True)).max() > 8:  # grey pictures saved as RGB are not "colour"
            notes.append("Colour image converted to grey: the model reads one grey channel.")
        a = a @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)  # (H, W, 1), ITU-R 601 luma like Pillow
    elif C == 3 and a.shape[2] == 1:
        notes.append("Grey image copied into the three colour channels the model reads.")
        a = np.repeat(a, 3, axis=2)  # (H, W, 3)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])  # (2H + 2W, C)
    if C == 1 and border.mean() > 127:  # Fashion-MNIST and digits are light objects on a black background
        a, border = 255 - a, 255 - border
        notes.append(f"Colours inverted: the picture has a light background, while {ex.dataset} images are light "
                     "on black.")
    h, w = a.shape[:2]
    if h != w:
        fill = np.median(border, axis=0)  # (C,)
        side = max(h, w)
        sq = np.empty((side, side, a.shape[2]), dtype=np.float32)
        sq[:] = fill
        top, left = (side - h) // 2, (side - w) // 2
        sq[top:top + h, left:left + w] = a
        a = sq  # (side, side, C)
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # (1, C, H, W)
    if (w0, h0) != (S, S):
        pad = " after padding it to a square with its border colour" if h != w else ""
        notes.append(f"Resized from {w0}x{h0} to the model's {S}x{S} pixels{pad}.")
        t = F.interpolate(t, size=(S, S), mode="bilinear", antialias=True, align_corners=False)  # (1, C, S, S)
    return t[0].round().clamp(0, 255).to(torch.uint8), notes  # (C, S, S)


def _to_input(ex: Explorer, img: torch.Tensor) -> torch.Tensor:
    """uint8 (C, H, W) -> normalised float (1, C, H, W), as in training."""
    mean = torch.tensor(ex.mean).view(-1, 1, 1)
    std = torch.tensor(ex.std).view(-1, 1, 1)
    return ((img.float() / 255 - mean) / std)[None]  # (1, C, H, W)


def predict(ex: Explorer, img: torch.Tensor, k: int = 5) -> dict[str, float]:
    """The top-``k`` classes of one uint8 (C, H, W) image with their softmax probabilities, best first.

    Built for the attention explorer (``python -m vit_lessons app``).
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

    Built for the attention explorer (``python -m vit_lessons app``).
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

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    with ex.lock:
        attns = attention_maps(ex.model, _to_input(ex, img))  # depth x (1, h, N, N)
    row = pooled_row(attention_rollout(attns, num_prefix_tokens=ex.model.num_prefix_tokens)[0], ex.model)  # (N,)
    return to_patch_grid(row, ex.model), (float(row[0]) if ex.model.num_prefix_tokens else None)


def grad_cam_map(ex: Explorer, img: torch.Tensor, target: int, block: int | None = None) -> torch.Tensor:
    """Grad-CAM of block ``block`` (counted from 1; default the last) for class ``target``: (gh, gw) in [0, 1],
    all zeros where no patch feature raises the class's score.

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    depth = ex.model.config.depth
    block = depth if block is None else int(block)
    if not 1 <= block <= depth:
        raise InputError(f"block must be 1..{depth}, got {block}")
    with ex.lock:
        return grad_cam(ex.model, _to_input(ex, img), target=target, block=block - 1)[0]  # (gh, gw)


def enlarge(img: torch.Tensor, side: int = 168) -> np.ndarray:
    """uint8 (C, H, W) -> (H*k, W*k[, 3]) array with square pixels, so a 28x28 input shows crisp, not blurred.

    Built for the attention explorer (``python -m vit_lessons app``).
    """
    k = max(1, side // img.shape[-1])
    a = img.repeat_interleave(k, dim=1).repeat_interleave(k, dim=2)  # (C, H*k, W*k)
    return a[0].numpy() if a.shape[0] == 1 else a.permute(1, 2, 0).numpy()  # (H*k, W*k[, 3])


def render_overlay(img: torch.Tensor, heat: torch.Tensor, patch_size: int, title: str, scale: str,
                   vmax: float = 1.0) -> np.ndarray:
    """A (gh, gw) map over a uint8 (C, H, W) image with a colour bar from 0 to ``vmax``, as an RGB uint8 array.

    Drawn with :func:`vit_lessons.overlay.overlay` on a Figure of its own (no pyplot state), so the
    server's threads never share a figure.

    Built for the attention explorer (``python -m vit_lessons app``).
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
