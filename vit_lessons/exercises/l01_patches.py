"""Self-checks for lesson 01's exercises: patchify, patches of an image that does not divide, tubelets of a
video clip, a patch embedding inflated to tubelets, overlapping patches.

Used in notebooks/01_patches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ._common import ExerciseError, exercise, expect_close, expect_shape

__all__ = ["check_patchify", "check_num_patches", "check_tubelets", "check_inflate"]

_PATCHES = "b c (h p1) (w p2) -> b (h w) (p1 p2 c)"  # the course's patch order


def _patch_input() -> torch.Tensor:
    """A (2, 3, 8, 12) float batch: not square, so rows and columns cannot be confused unnoticed."""
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 8, 12, generator=g)


@exercise("01.1", "Warm-up: patchify by hand", answer="my_patchify", hints=(
    "Split H into (H/P, P) and W into (W/P, P) with reshape. Then reorder the dims so the two grid dims come "
    "first and (p1, p2, C) come last, and flatten each group: the grid into N, each patch into P*P*C.",
    "B, C, H, W = x.shape; P = patch_size; "
    "return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P * C)"))
def check_patchify(patchify) -> bool | None:
    """Exercise 01.1 · Warm-up: patchify by hand: ``patchify(x, patch_size)`` -> (B, N, P*P*C).

    Patches row by row, each flattened (p1 p2 c). Used in notebooks/01_patches.
    """
    x, p = _patch_input(), 4
    got = patchify(x.clone(), p)
    b, c, hh, ww = x.shape
    n, k = (hh // p) * (ww // p), p * p * c
    want = rearrange(x, _PATCHES, p1=p, p2=p)  # (B, N, P*P*C)
    expect_shape(got, (b, n, k), "patches", {
        (b, k, n): "transposed: tokens come before features, (B, N, P*P*C); did you forget .transpose(1, 2)?",
        (b, hh // p, ww // p, k): "the patch grid is not flattened: merge the (H/P, W/P) grid into N tokens",
        (b, n, c, p, p): "each patch is not flattened: merge (P, P, C) into P*P*C numbers",
        (b, n, p, p, c): "each patch is not flattened: merge (P, P, C) into P*P*C numbers"})
    expect_close(got, want, "patches", atol=1e-6, hints=[
        (rearrange(x, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p),
         "each patch is flattened as (c p1 p2), channels first (F.unfold's order); the course flattens "
         "as (p1 p2 c): permute so the channel dim comes last before flattening"),
        (rearrange(x, "b c (h p1) (w p2) -> b (h w) (p2 p1 c)", p1=p, p2=p),
         "rows and columns inside each patch are swapped: flatten each patch row by row, (p1 p2 c)"),
        (rearrange(x, "b c (h p1) (w p2) -> b (w h) (p1 p2 c)", p1=p, p2=p),
         "the patches are numbered column by column; number them row by row, left to right: (h w)"),
        (x.reshape(b, n, k), "reshaped without permuting: a plain reshape mixes pixels of different patches; "
                             "split H into (H/P, P) and W into (W/P, P), then permute"),
        (x.permute(0, 2, 3, 1).reshape(b, n, k), "moved the channels last but never split H and W into patches: "
                                                 "reshape to (B, H/P, P, W/P, P, C) and bring the two P dims "
                                                 "together")])
    return "(B, C, H, W) -> (B, N, P*P*C)"


def _fits(h: int, w: int, p: int, mode: str) -> int:
    """Patches of an h x w image after padding it up to multiples of p (zeros at the bottom and right) or
    cropping it down to them (what a strided Conv2d does silently), counted by doing it."""
    x = torch.zeros(1, 1, h, w)
    if mode == "pad":
        x = F.pad(x, (0, (-w) % p, 0, (-h) % p))  # (1, 1, H', W'): H', W' multiples of p
    else:
        x = x[:, :, : h - h % p, : w - w % p]  # the rows and columns left over are dropped
    if 0 in x.shape:
        return 0  # a side shorter than one patch leaves nothing
    return F.unfold(x, kernel_size=p, stride=p).shape[-1]  # (1, p*p, N) -> N


_SIZES = [(30, 45, 8), (28, 28, 8), (26, 26, 8), (32, 48, 8), (28, 28, 7), (6, 30, 8), (225, 300, 16)]


@exercise("01.2", "Predict N for an image that does not divide", answer="my_num_patches", hints=(
    "A patch cannot straddle two rows of the grid, so count each side on its own: how many P-pixel steps fit "
    "down the height, and across the width? Cropping keeps only the whole patches (round down); padding adds "
    "pixels until the last partial patch is whole (round up), and adds nothing to a side that already divides.",
    "rows, cols = (-(-height // patch_size), -(-width // patch_size)) if mode == 'pad' else "
    "(height // patch_size, width // patch_size); return rows * cols"))
def check_num_patches(num_patches) -> bool | None:
    """Exercise 01.2 · Predict N for an image that does not divide: ``num_patches(height, width, patch_size, mode)``
    -> N, the number of patches after padding (``mode="pad"``) or cropping (``mode="crop"``).

    The check pads and crops images of seven sizes and counts. Used in notebooks/01_patches.
    """
    got = {}
    for h, w, p in _SIZES:
        for mode in ("pad", "crop"):
            n = num_patches(h, w, p, mode)
            if isinstance(n, torch.Tensor) and n.numel() == 1:
                n = n.item()
            if isinstance(n, float) or isinstance(n, bool) or not isinstance(n, int):
                raise ExerciseError(f"num_patches({h}, {w}, {p}, {mode!r}) returned {type(n).__name__} {n!r}; "
                                    "return an int (// and -(-a // b) stay integers, math.ceil does too)")
            got[h, w, p, mode] = n
    measured = {k: _fits(*k) for k in got}
    if got == measured:
        n30 = measured[30, 45, 8, "crop"], measured[30, 45, 8, "pad"]
        return (f"N matches the counted patches for all seven sizes (30 x 45 with P = 8: {n30[0]} cropped, "
                f"{n30[1]} padded)")
    up, down = (lambda a, p: -(-a // p)), (lambda a, p: a // p)
    mistakes = [
        (lambda h, w, p, m: (down if m == "pad" else up)(h, p) * (down if m == "pad" else up)(w, p),
         "pad and crop are swapped: padding makes the image larger, so it rounds up; cropping rounds down"),
        (lambda h, w, p, m: (h // p + 1) * (w // p + 1) if m == "pad" else h // p * (w // p),
         "padding a side that already divides adds a whole row or column of empty patches: pad by (-H) % P "
         "pixels (0 when P divides H), not P - H % P"),
        (lambda h, w, p, m: round(h / p) * round(w / p),
         "round() is neither: padding rounds each side up, cropping rounds it down"),
        (lambda h, w, p, m: (-(-(h * w) // (p * p))) if m == "pad" else h * w // (p * p),
         "dividing the pixel count H*W by P*P ignores that a patch cannot straddle two grid rows: "
         "count the rows and the columns of patches separately, then multiply"),
        (lambda h, w, p, m: _fits(h, w, p, m) + 1,
         "N counts the patches only; the class token comes later and is not a patch"),
    ]
    for f, msg in mistakes:
        if all(got[k] == f(*k) for k in got):
            raise ExerciseError(msg)
    k = next(k for k in got if got[k] != measured[k])
    raise ExerciseError(f"num_patches({k[0]}, {k[1]}, {k[2]}, {k[3]!r}) = {got[k]}, but "
                        f"{'padding' if k[3] == 'pad' else 'cropping'} that image gives {measured[k]} patches")


_TUBES = "b c (nt pt) (nh p1) (nw p2) -> b (nt nh nw) (pt p1 p2 c)"  # the tubelet order: time, then row, column


def _video() -> torch.Tensor:
    """A (2, 2, 4, 6, 9) clip (B, C, T, H, W): height and width differ, C = t on purpose."""
    return torch.randn(2, 2, 4, 6, 9, generator=torch.Generator().manual_seed(8))


@exercise("01.3", "Tubelets: patches of a video clip", answer="my_tubelets", hints=(
    "A clip is (B, C, T, H, W), the layout Conv3d reads. Split T into (T/t, t) the way 01.1 split H into "
    "(H/P, P), and H and W as before. Then bring the three 'which tubelet' axes to the front (time first, then "
    "row, then column) and the 'inside the tubelet' axes (pt, p1, p2, c) to the back, and flatten both groups.",
    "B, C, T, H, W = video.shape; P = patch_size; "
    "x = video.reshape(B, C, T // t, t, H // P, P, W // P, P).permute(0, 2, 4, 6, 3, 5, 7, 1); "
    "return x.reshape(B, -1, t * P * P * C)"))
def check_tubelets(tubelets) -> bool | None:
    """Exercise 01.3 · Tubelets: patches of a video clip: ``tubelets(video, t, patch_size)`` -> (B, N, t*P*P*C),
    N = (T/t)(H/P)(W/P).

    ``video`` is (B, C, T, H, W); tubelets are numbered time first, then row by row, each flattened as
    (pt p1 p2 c) like 01.1's (p1 p2 c). Used in notebooks/01_patches.
    """
    v, t, p = _video(), 2, 3
    b, c, tt, hh, ww = v.shape
    n, k = (tt // t) * (hh // p) * (ww // p), t * p * p * c
    got = tubelets(v.clone(), t, p)
    want = rearrange(v, _TUBES, pt=t, p1=p, p2=p)  # (B, N, t*P*P*C)
    expect_shape(got, (b, n, k), "tubelets", {
        (b, tt * (hh // p) * (ww // p), p * p * c): "each frame was cut on its own (ViViT's uniform frame "
        "sampling); a tubelet spans t frames: split T into (T/t, t) as well",
        (b, k, n): "tubelets are in the last dim (Conv3d's and unfold's layout): transpose(1, 2)",
        (b, tt // t, hh // p, ww // p, k): "the grid of tubelets is not flattened: merge (T/t, H/P, W/P) into N",
        (b, (c // t) * (hh // p) * (ww // p), t * p * p * tt): "the clip was read as (B, T, C, H, W); it is "
        "(B, C, T, H, W), channels first, as Conv3d reads it"})
    expect_close(got, want, "tubelets", atol=1e-6, hints=[
        (rearrange(v, "b c (nt pt) (nh p1) (nw p2) -> b (nt nh nw) (c pt p1 p2)", pt=t, p1=p, p2=p),
         "each tubelet is flattened as (c pt p1 p2), channels first (Conv3d's and unfold's order); the course "
         "flattens as (pt p1 p2 c), channels last"),
        (rearrange(v, "b c (nt pt) (nh p1) (nw p2) -> b (nh nw nt) (pt p1 p2 c)", pt=t, p1=p, p2=p),
         "tubelets are numbered place first and time last; number them time first, then row by row: (nt nh nw)"),
        (rearrange(v, "b c (nt pt) (nh p1) (nw p2) -> b (nt nh nw) (p1 p2 pt c)", pt=t, p1=p, p2=p),
         "inside each tubelet the frame index goes first: (pt p1 p2 c), so that frame 0's patch comes first"),
        (rearrange(v, "b c (nt pt) (nh p1) (nw p2) -> b (nt nw nh) (pt p1 p2 c)", pt=t, p1=p, p2=p),
         "within one time step the tubelets are numbered column by column; number them row by row")])
    return f"(B, C, T, H, W) = {tuple(v.shape)} -> (B, N, t*P*P*C) = {tuple(want.shape)}"


@exercise("01.4", "Inflate a patch embedding to tubelets", answer="my_inflate", hints=(
    "The Conv3d needs kernel = stride = (t, P, P): one tubelet per output, no overlap, with time first as "
    "Conv3d counts its dims. Its weight is (D, C, t, P, P): give every one of the t frames the image filter, and "
    "scale so that a clip of t identical frames gives exactly the image's token (the bias is added once).",
    "conv3d = nn.Conv3d(C, D, kernel_size=(t, P, P), stride=(t, P, P)); with torch.no_grad(): "
    "conv3d.weight.copy_(conv.weight.unsqueeze(2).repeat(1, 1, t, 1, 1) / t); conv3d.bias.copy_(conv.bias)"))
def check_inflate(inflate) -> bool | None:
    """Exercise 01.4 · Inflate a patch embedding to tubelets: ``inflate(conv, t)`` -> nn.Conv3d.

    ``conv`` is a patch embedding Conv2d (kernel = stride = P); the Conv3d embeds (t, P, P) tubelets and gives
    a still clip the image's tokens (ViViT's filter inflation, Eq. 8). Used in notebooks/01_patches.
    """
    c, d, p, t = 2, 5, 3, 4
    g = torch.Generator().manual_seed(9)
    conv = nn.Conv2d(c, d, p, stride=p)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(d, generator=g))
    w0, b0 = conv.weight.detach().clone(), conv.bias.detach().clone()
    got = inflate(conv, t)
    if not isinstance(got, nn.Conv3d):
        raise ExerciseError(f"return an nn.Conv3d, got {type(got).__name__}")
    if not (torch.equal(conv.weight, w0) and torch.equal(conv.bias, b0)):
        raise ExerciseError("the image's Conv2d was changed; build a new Conv3d and leave the Conv2d as it was")
    ks, st = tuple(got.kernel_size), tuple(got.stride)
    if ks == (p, p, t):
        raise ExerciseError(f"kernel_size {ks} puts time last; Conv3d's dims are (time, height, width): "
                            f"({t}, {p}, {p})")
    if ks != (t, p, p) or st != (t, p, p):
        raise ExerciseError(f"kernel_size {ks}, stride {st}: both must be (t, P, P) = ({t}, {p}, {p}), so that each "
                            "output reads one tubelet and tubelets neither overlap nor leave gaps")
    if (got.in_channels, got.out_channels) != (c, d):
        raise ExerciseError(f"the Conv3d maps {got.in_channels} -> {got.out_channels} channels; it should map C={c} "
                            f"-> D={d}, like the Conv2d")
    if got.bias is None:
        raise ExerciseError("the Conv3d has no bias; copy the Conv2d's bias (bias=True, the default)")
    bias = got.bias.detach()
    if torch.allclose(bias, b0 / t, atol=1e-6):
        raise ExerciseError("the bias was divided by t; it is added once per token, not once per frame: copy it as "
                            "it is")
    if not torch.allclose(bias, b0, atol=1e-6):
        raise ExerciseError("the weights may be right but the bias is not the Conv2d's: conv3d.bias = conv.bias")
    inflated = w0.unsqueeze(2).repeat(1, 1, t, 1, 1) / t  # (D, C, t, P, P): Eq. 8
    central = torch.zeros_like(inflated)
    central[:, :, t // 2] = w0  # Eq. 9
    weight = got.weight.detach()
    total = weight.sum(2)  # (D, C, P, P): what a still clip sees, every frame the same image
    if not torch.allclose(total, w0, atol=1e-5):
        for alt, msg in ((w0 * t, "every frame got the whole image filter, so a still clip gives t times the "
                                  "image's response: divide the repeated filter by t (ViViT's Eq. 8)"),
                         (w0 / t, "the filter was divided by t twice; the t frames' filters should add up to the "
                                  "image filter"),
                         (w0.transpose(2, 3), "height and width of the filter are swapped: keep (P, P) as "
                                              "(height, width) when you repeat it")):
            if torch.allclose(total, alt, atol=1e-5):
                raise ExerciseError(msg)
        expect_close(weight, inflated, "conv3d.weight", atol=1e-6)
    kind = ("filter inflation (ViViT's Eq. 8)" if torch.allclose(weight, inflated, atol=1e-6) else
            "central-frame initialisation (ViViT's Eq. 9)" if torch.allclose(weight, central, atol=1e-6) else
            "the image filter split over the t frames (neither of ViViT's Eq. 8 and 9, but a still clip cannot "
            "tell)")
    # the prediction, measured: a still clip (every frame the same image) gives the image's own tokens
    img = torch.randn(2, c, 6, 9, generator=g)  # (B, C, H, W)
    still = img.unsqueeze(2).repeat(1, 1, 2 * t, 1, 1)  # (B, C, T, H, W): 2t copies of the image
    with torch.no_grad():
        image_tokens = conv(img).flatten(2).transpose(1, 2)  # (B, N, D)
        clip_tokens = got(still).flatten(2).transpose(1, 2)  # (B, 2 * N, D): two time steps
    expect_close(clip_tokens, image_tokens.repeat(1, 2, 1), "tokens of a still clip", atol=1e-5)
    return (f"{kind}: a still clip of 2t frames gives the image's {image_tokens.shape[1]} tokens at each of its "
            "2 time steps")


__all__ += ["check_overlapping_patches"]


@exercise("01.5", "Overlapping patches", answer="my_overlapping_patches", hints=(
    "F.unfold takes a stride as well as a kernel size: with stride S < P the windows overlap, and there are "
    "(H - P) // S + 1 of them down and (W - P) // S + 1 across. Like in lesson 01's way 3, unfold flattens each "
    "window as (c p1 p2) and puts the windows last; the course's order is windows first, each as (p1 p2 c).",
    "cols = F.unfold(x, kernel_size=patch_size, stride=stride).transpose(1, 2); "
    "return rearrange(cols, 'b n (c p1 p2) -> b n (p1 p2 c)', p1=patch_size, p2=patch_size)"))
def check_overlapping_patches(overlapping_patches) -> bool | None:
    """Exercise 01.5 · Overlapping patches: ``overlapping_patches(x, patch_size, stride)`` -> (B, N, P*P*C).

    Windows of P x P every ``stride`` pixels, numbered row by row, each flattened as (p1 p2 c); with
    stride == patch_size they are the ordinary patches. Used in notebooks/01_patches.
    """
    x = _patch_input()  # (2, 3, 8, 12)
    for p, s in ((4, 2), (3, 3), (4, 4)):
        got = overlapping_patches(x.clone(), p, s)
        gh, gw = (8 - p) // s + 1, (12 - p) // s + 1
        n = gh * gw
        windows = x.unfold(2, p, s).unfold(3, p, s)  # (B, C, gh, gw, p1, p2)
        want = windows.permute(0, 2, 3, 4, 5, 1).reshape(2, n, p * p * 3)  # (B, N, P*P*C)
        what = f"overlapping_patches(x, patch_size={p}, stride={s}) on a (2, 3, 8, 12) batch"
        expect_shape(got, (2, n, p * p * 3), what, {
            (2, p * p * 3, n): "windows are in the last dim (F.unfold's layout): transpose(1, 2)",
            (2, (8 // p) * (12 // p), p * p * 3): "these are the non-overlapping patches: pass stride=stride"})
        expect_close(got, want, what, atol=0, rtol=0, hints=[
            (windows.permute(0, 2, 3, 1, 4, 5).reshape(2, n, -1),
             "each window is flattened as (c p1 p2), F.unfold's order; reorder it to (p1 p2 c)"),
            (windows.permute(0, 3, 2, 4, 5, 1).reshape(2, n, -1),
             "windows are numbered column by column; number them row by row, like words on a page"),
            (windows.permute(0, 2, 3, 5, 4, 1).reshape(2, n, -1),
             "inside each window the rows and columns are swapped: (p1 p2 c), p1 the row")])
    return "overlapping windows via unfold (stride < P), in the course's patch order"
