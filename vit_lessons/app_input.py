"""The attention explorer's input: any uploaded file as the model's input, or a message saying why not.

Uploads are checked before they are decoded (size in bytes and pixels), then converted the way
the training images look: one grey channel (or three colour ones), light objects on black for the
course's grey datasets, square, at the model's input size. Every change is written in a note the
page shows. What the model reads is given as three values (``img_size``, ``in_chans``, and the
``dataset`` name the notes mention), so this module knows nothing of models or checkpoints.

Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["InputError", "read_upload", "prepare", "MAX_BYTES", "MAX_PIXELS"]

MAX_BYTES = 20 * 2**20  # refused before decoding: a phone photo is a few MB, and the model needs a few hundred pixels
MAX_PIXELS = 40_000_000  # refused before decoding: a 40-megapixel RGB image is already ~120 MB in memory
WORKING_SIDE = 8  # large images are first shrunk to 8x the model's input side: exact enough, and fast


class InputError(ValueError):
    """An image the explorer cannot use; the message says what is wrong and what to do.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """


def _check_target(img_size, in_chans, dataset) -> None:
    """A caller's mistake (not the upload's): a ValueError saying which value is wrong."""
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 1:
        raise ValueError(f"img_size={img_size!r}: give the model's input side in pixels, a positive int "
                         "(model.config.img_size)")
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans={in_chans!r}: the explorer reads grey (1) or colour (3) images; give "
                         "model.config.in_chans")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset={dataset!r}: give the name of the dataset the model was trained on, "
                         "e.g. 'fashion-mnist'")


def read_upload(path, *, img_size: int, in_chans: int, dataset: str, max_bytes: int = MAX_BYTES,
                max_pixels: int = MAX_PIXELS):
    """A file from disk as the model's input: (uint8 (in_chans, img_size, img_size), notes on what was converted).

    Args:
        path: the uploaded file (None: nothing uploaded yet).
        img_size, in_chans: the model's input side in pixels and its channels (1 grey, 3 colour).
        dataset: the name of the dataset the model was trained on, for the notes.
        max_bytes, max_pixels: larger files are refused before they are decoded.

    Anything that is not a usable image raises :class:`InputError` with a message for the page.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    _check_target(img_size, in_chans, dataset)
    if path is None:
        raise InputError("No image yet: choose an example or upload a picture (PNG, JPEG, GIF, BMP, TIFF, WebP).")
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"{name} is no longer on the server (uploads are temporary): upload it again.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes): upload a picture file.")
    shrink = f"Shrink it first: the model looks at {img_size}x{img_size} pixels."
    if size > max_bytes:
        raise InputError(f"{name} is {size / 2**20:.1f} MB; the explorer reads files up to "
                         f"{max_bytes / 2**20:.0f} MB. {shrink}")
    limit = f"the explorer reads images up to {max_pixels / 1e6:.0f} megapixels. {shrink}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below is stricter
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"{name} is too large to decode here; {limit}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{name} is not an image the explorer can read: upload a PNG, JPEG, GIF, BMP, TIFF or "
                         "WebP picture.") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise InputError(f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels); {limit}")
        notes = [f"{name} has {im.n_frames} frames; the first one is used."] if getattr(im, "n_frames", 1) > 1 else []
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise InputError(f"{name} looks like a {im.format or 'picture'} file but cannot be decoded "
                             f"({str(e)[:120] or type(e).__name__}): it may be truncated or corrupt. "
                             "Save it again and retry.") from None
        return prepare(im, img_size=img_size, in_chans=in_chans, dataset=dataset, notes=notes)


def _to_8bit(im: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 'L' or 'RGB', transparency over black, high bit depths scaled to 0..255."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        if np.asarray(rgba.getchannel("A")).min() < 255:
            notes.append("Transparent parts were filled with black.")
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


def prepare(im: Image.Image, *, img_size: int, in_chans: int, dataset: str, notes: list[str] | None = None):
    """A decoded Pillow image as the model's input: (uint8 (in_chans, img_size, img_size), notes saying what was
    changed and why); the arguments are :func:`read_upload`'s.

    Colour becomes grey for a one-channel model (and grey becomes three equal channels for a
    colour one), a light background is inverted for the course's grey datasets (light objects on
    black), a non-square image is padded to a square with its border colour, and the result is
    resized to the model's input size with antialiasing.

    Used by the attention explorer; its maps are built in notebooks/07_looking_inside.
    """
    _check_target(img_size, in_chans, dataset)
    notes = list(notes or [])
    S, C = img_size, in_chans
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
        notes.append(f"Colours inverted: the picture has a light background, while {dataset} images are light "
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
