"""Self-checks for lesson 01's exercises: patchify, counting tokens, unpatchify, Linear as Conv2d.

Used in notebooks/01_patches.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ._common import ExerciseError, exercise, expect_close, expect_shape

__all__ = ["check_patchify", "check_num_tokens", "check_unpatchify", "check_linear_to_conv"]

_PATCHES = "b c (h p1) (w p2) -> b (h w) (p1 p2 c)"  # the course's patch order


def _patch_input() -> torch.Tensor:
    """A (2, 3, 8, 12) float batch: not square, so rows and columns cannot be confused unnoticed."""
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 8, 12, generator=g)


@exercise("01.1", "Patchify by hand", answer="my_patchify", hints=(
    "Split H into (H/P, P) and W into (W/P, P) with reshape. Then reorder the dims so the two grid dims come "
    "first and (p1, p2, C) come last, and flatten each group: the grid into N, each patch into P*P*C.",
    "B, C, H, W = x.shape; P = patch_size; "
    "return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P * C)"))
def check_patchify(patchify) -> bool | None:
    """Exercise 01.1 · Patchify by hand: ``patchify(x, patch_size)`` -> (B, N, P*P*C).

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


@exercise("01.2", "Count the tokens", answer="my_num_tokens", hints=(
    "How many patches fit along one side of the image? The grid is square, so square that number; then "
    "think about the class token.",
    "return (img_size // patch_size) ** 2 + int(class_token)"))
def check_num_tokens(num_tokens) -> bool | None:
    """Exercise 01.2 · Count the tokens: ``num_tokens(img_size, patch_size, class_token)`` -> the sequence length.

    N patches, plus one when there is a class token. Used in notebooks/01_patches.
    """
    cases = [(224, 16, True), (224, 16, False), (28, 4, True), (32, 4, False), (224, 14, True), (384, 16, True)]
    for img, p, cls in cases:
        got = num_tokens(img, p, cls)
        want = (img // p) ** 2 + int(cls)
        where = f"num_tokens({img}, {p}, class_token={cls})"
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, float):
            if got == want:
                raise ExerciseError(f"{where} returned the float {got}; return an int (use // instead of /)")
            raise ExerciseError(f"{where} returned the float {got} (want the int {want}); use // for whole patches")
        if not isinstance(got, int) or isinstance(got, bool):
            raise ExerciseError(f"{where} should return an int, got {type(got).__name__}")
        if got == want:
            continue
        if cls and got == want - 1:
            raise ExerciseError(f"{where} = {got}: forgot the class token, add 1 when class_token=True")
        if not cls and got == want + 1:
            raise ExerciseError(f"{where} = {got}: added a class token although class_token=False")
        if got in (img // p + int(cls), img // p):
            raise ExerciseError(f"{where} = {got}: that counts the patches along one side only; "
                                f"the grid is (H/P) x (W/P) = {img // p} x {img // p}")
        if got in (img * img // p + int(cls), img * img // p):
            raise ExerciseError(f"{where} = {got}: divide the pixel count H*W by P*P (the pixels in a patch), not P")
        raise ExerciseError(f"{where} = {got}, but it should be {want}")
    return "N = (H/P)*(W/P) patches, plus 1 with the class token"


@exercise("01.3", "Unpatchify", answer="my_unpatchify", hints=(
    "Run your patchify backwards: unflatten the tokens into the (H/P, W/P) grid and each token into "
    "(P, P, C), undo the permutation, then merge (H/P, P) into H and (W/P, P) into W.",
    "B, P, C, H, W = patches.shape[0], patch_size, channels, height, width; "
    "return patches.reshape(B, H // P, W // P, P, P, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)"))
def check_unpatchify(unpatchify) -> bool | None:
    """Exercise 01.3 · Unpatchify: ``unpatchify(patches, patch_size, channels, height, width)`` -> (B, C, H, W).

    The inverse of patchify. Used in notebooks/01_patches.
    """
    x, p = _patch_input(), 4
    b, c, hh, ww = x.shape
    patches = rearrange(x, _PATCHES, p1=p, p2=p)  # (B, N, P*P*C)
    got = unpatchify(patches.clone(), p, c, hh, ww)
    expect_shape(got, tuple(x.shape), "images", {
        (b, c, ww, hh): "height and width swapped: the grid has H/P rows and W/P columns",
        (b, hh, ww, c): "channels are last: the result should be (B, C, H, W)"})
    gh, gw = hh // p, ww // p
    expect_close(got, x, "images", atol=1e-6, hints=[
        (rearrange(patches, "b (h w) (c p1 p2) -> b c (h p1) (w p2)", h=gh, w=gw, p1=p, p2=p),
         "each patch was read as (c p1 p2); patchify flattened it as (p1 p2 c), channels last"),
        (patches.reshape(x.shape), "reshaped without permuting: split each token back into (P, P, C) and the "
                                   "tokens into the (H/P, W/P) grid, then permute"),
        (rearrange(patches, "b (w h) (p1 p2 c) -> b c (h p1) (w p2)", h=gh, w=gw, p1=p, p2=p),
         "the patches were placed column by column; token i sits at row i // (W/P), column i % (W/P)")])
    return "unpatchify undoes patchify exactly"


@exercise("01.4", "A Linear layer as a Conv2d", answer="my_linear_to_conv", hints=(
    "The Conv2d needs kernel_size = stride = P, so it sees each patch exactly once. Its weight is (D, C, P, P), "
    "while linear.weight is (D, P*P*C) with the inputs ordered (p1 p2 c). And the bias comes along too.",
    "D, P, C = linear.out_features, patch_size, in_chans; conv = nn.Conv2d(C, D, kernel_size=P, stride=P); "
    "with torch.no_grad(): "
    "conv.weight.copy_(linear.weight.reshape(D, P, P, C).permute(0, 3, 1, 2)); conv.bias.copy_(linear.bias)"))
def check_linear_to_conv(linear_to_conv) -> bool | None:
    """Exercise 01.4 · A Linear layer as a Conv2d: ``linear_to_conv(linear, patch_size, in_chans)`` -> nn.Conv2d.

    The Conv2d computes the same as the Linear on flattened patches. Used in notebooks/01_patches.
    """
    p, c, d = 2, 3, 5
    torch.manual_seed(4)
    lin = nn.Linear(p * p * c, d)
    got = linear_to_conv(lin, p, c)
    if not isinstance(got, nn.Conv2d):
        raise ExerciseError(f"return an nn.Conv2d, got {type(got).__name__}")
    ks, st = tuple(got.kernel_size), tuple(got.stride)
    if ks != (p, p) or st != (p, p):
        raise ExerciseError(f"the Conv2d has kernel_size {ks} and stride {st}; both must equal the patch size "
                            f"({p}, {p}) so the kernel sees each patch exactly once")
    if got.in_channels != c or got.out_channels != d:
        raise ExerciseError(f"the Conv2d maps {got.in_channels} -> {got.out_channels} channels; it should map "
                            f"in_chans={c} -> D={d}")
    w = lin.weight.detach()  # (D, P*P*C)
    want_w = w.reshape(d, p, p, c).permute(0, 3, 1, 2)  # (D, C, P, P)
    expect_close(got.weight, want_w, "conv.weight", atol=1e-6, hints=[
        (w.reshape(d, c, p, p), "reshaped the Linear weight straight to (D, C, P, P); its inputs are ordered "
                                "(p1 p2 c), so reshape to (D, P, P, C) first, then permute(0, 3, 1, 2)"),
        (w.reshape(d, p, p, c).permute(0, 3, 2, 1), "p1 and p2 are swapped: permute (D, p1, p2, C) to "
                                                    "(D, C, p1, p2) with permute(0, 3, 1, 2)")])
    if got.bias is None or not torch.allclose(got.bias.detach(), lin.bias.detach(), atol=1e-6):
        raise ExerciseError("the weights are right but the bias was not copied: conv.bias = linear.bias")
    x = torch.randn(2, c, 6, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        via_lin = lin(rearrange(x, _PATCHES, p1=p, p2=p))  # (B, N, D)
        via_conv = got(x).flatten(2).transpose(1, 2)  # (B, D, H/P, W/P) -> (B, N, D)
    expect_close(via_conv, via_lin, "Conv2d output (flattened to (B, N, D))", atol=1e-5)
    return "a Conv2d with kernel = stride = P computes the same as Linear on flattened patches"


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
