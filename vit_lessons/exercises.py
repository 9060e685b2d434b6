"""Self-checks for the notebook exercises.

Each ``check_*`` function takes the learner's answer, runs it against the reference on
fixed inputs and either prints a line starting with "Correct" or raises
:class:`ExerciseError` whose message says *what* is wrong (wrong shape, wrong values,
a forgotten scale…), never just "wrong". Worked solutions live in notebooks/solutions/.
"""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "passed", "expect_shape", "expect_close"]


class ExerciseError(AssertionError):
    """An exercise answer is not right yet; the message says what to look at."""


def passed(what: str) -> bool:
    """Print the success line and return True (so a check can be asserted in tests)."""
    print(f"Correct: {what}")
    return True


def expect_shape(got, expected: tuple, what: str) -> None:
    """Raise ExerciseError unless ``got`` is a tensor of shape ``expected``."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{what} should be a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected):
        raise ExerciseError(f"{what} has shape {tuple(got.shape)} but should have {tuple(expected)}")


def expect_close(got: torch.Tensor, want: torch.Tensor, what: str, hints=(), atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless ``got`` equals ``want``; ``hints`` are (tensor, message) pairs for typical mistakes.

    When ``got`` matches a hint's tensor instead, that hint's message is the error: this is
    how a check recognises "you forgot the 1/sqrt(d) scale" rather than saying "wrong".
    """
    expect_shape(got, tuple(want.shape), what)
    got = got.detach().to(want.dtype)
    if torch.allclose(got, want, atol=atol, rtol=rtol):
        return
    for alt, msg in hints:
        if alt is not None and tuple(alt.shape) == tuple(got.shape) and torch.allclose(got, alt.to(got.dtype),
                                                                                      atol=atol, rtol=rtol):
            raise ExerciseError(f"{what}: {msg}")
    err = (got - want).abs().max().item()
    raise ExerciseError(f"{what} has the right shape but wrong values (largest difference {err:.3g})")


_NOT_YET = object()  # what _answer returns when the learner has not written the function yet


def _answer(what: str, fn, *args):
    """Call the learner's ``fn(*args)``; if it still raises NotImplementedError, say so and return _NOT_YET."""
    try:
        return fn(*args)
    except NotImplementedError:
        print(f"Not attempted yet: {what}. Replace `raise NotImplementedError(...)` with your code, "
              "then run the cell again.")
        return _NOT_YET


def _shape_hint(got, want: tuple, what: str, wrong_shapes: dict) -> None:
    """Like expect_shape, with a specific message for shapes that typical mistakes produce."""
    if isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[0], torch.Tensor):
        raise ExerciseError(f"{what}: return one tensor, not a tuple")
    if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(want) and tuple(got.shape) in wrong_shapes:
        raise ExerciseError(f"{what} has shape {tuple(got.shape)} instead of {tuple(want)}: "
                            f"{wrong_shapes[tuple(got.shape)]}")
    expect_shape(got, want, what)


# ---- lessons 00-02 (data, patches, embeddings) --------------------------------------------------
__all__ += ["check_channel_stats", "check_normalize", "check_to_tensor",
            "check_patchify", "check_num_tokens", "check_unpatchify", "check_linear_to_conv",
            "check_prepend_class_token", "check_sincos_1d", "check_resize_pos_embed"]


def _float_l00(got, what: str) -> None:
    if isinstance(got, torch.Tensor) and not torch.is_floating_point(got):
        raise ExerciseError(f"{what} is {got.dtype}; it should be a float tensor (convert with .float())")


# lesson 00 ----------------------------------------------------------------------------------------
def _stats_images_l00() -> torch.Tensor:
    """(32, 3, 6, 6) uint8 images whose three channels have clearly different statistics."""
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([0, 60, 120]).view(1, 3, 1, 1)
    span = torch.tensor([100, 140, 135]).view(1, 3, 1, 1)
    return (lo + torch.rand(32, 3, 6, 6, generator=g) * span).round().to(torch.uint8)


def check_channel_stats(channel_stats) -> bool:
    """Exercise 00.1: ``channel_stats(images)`` -> (mean, std), each (C,), in [0, 1] units."""
    imgs = _stats_images_l00()
    got = _answer("per-channel mean and std", channel_stats, imgs.clone())
    if got is _NOT_YET:
        return False
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise ExerciseError("return two things, (mean, std), each a tensor of shape (C,)")
    mean, std = (torch.as_tensor(v, dtype=torch.float32) if not isinstance(v, torch.Tensor) else v for v in got)
    x = imgs.float() / 255
    want_mean, want_std = x.mean((0, 2, 3)), x.std((0, 2, 3))
    c = imgs.shape[1]
    wrong = {(): "a single number for all channels: reduce over dims (0, 2, 3) only, keeping C",
             (imgs.shape[0],): "one value per image: reduce over the batch too, dims (0, 2, 3)",
             (imgs.shape[0], c): "one value per image and channel: reduce over the batch too, dims (0, 2, 3)",
             tuple(imgs.shape[1:]): "one value per pixel: reduce over height and width too, dims (0, 2, 3)"}
    _shape_hint(mean, (c,), "mean", wrong)
    _shape_hint(std, (c,), "std", wrong)
    _float_l00(mean, "mean")
    unscaled = "values are 255 times too large: divide the uint8 images by 255 first (x.float() / 255)"
    expect_close(mean, want_mean, "mean", atol=1e-4, hints=[
        (want_mean * 255, unscaled),
        (x.mean().expand(c), "every channel got the same value: you averaged over the channels too; "
                             "reduce over dims (0, 2, 3) only")])
    biased = x.std((0, 2, 3), unbiased=False)
    got_std = std.detach().float()
    if not torch.allclose(got_std, want_std, atol=1e-5) and torch.allclose(got_std, biased, atol=1e-5):
        return passed("per-channel mean and std (population std, unbiased=False; the difference is tiny)")
    expect_close(std, want_std, "std", atol=1e-5, hints=[
        (want_std * 255, unscaled),
        (want_std**2, "this is the variance: take its square root (or use .std)"),
        (x.std().expand(c), "every channel got the same value: you took the std over the channels too; "
                            "reduce over dims (0, 2, 3) only"),
        (x.std((2, 3)).mean(0), "you averaged the std of each image; the dataset std is over all pixels of "
                                "all images at once: x.std(dim=(0, 2, 3))")])
    return passed("per-channel mean and std")


def check_normalize(normalize) -> bool:
    """Exercise 00.2: ``normalize(images_uint8, mean, std)`` -> float (B, C, H, W): (x / 255 - mean) / std."""
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (4, 3, 5, 3), generator=g, dtype=torch.uint8)  # W == C on purpose
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    got = _answer("normalising a batch", normalize, imgs.clone(), mean, std)
    if got is _NOT_YET:
        return False
    x = imgs.float() / 255
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    want = (x - m) / s
    _shape_hint(got, tuple(imgs.shape), "normalised batch", {})
    _float_l00(got, "normalised batch")
    expect_close(got, want, "normalised batch", atol=1e-5, hints=[
        ((imgs.float() - m) / s, "forgot to scale to [0, 1]: divide the uint8 values by 255 before "
                                 "subtracting the mean"),
        ((x - torch.tensor(mean)) / torch.tensor(std), "mean and std were broadcast over the last dim (width), "
                                                       "not the channels: reshape them to (C, 1, 1)"),
        (x - m, "subtracted the mean but did not divide by the std"),
        ((x - m) * s, "multiplied by the std; divide by it instead"),
        (x / s - m, "divided before subtracting: it is (x - mean) / std"),
        (x, "only scaled to [0, 1]; now subtract the mean and divide by the std")])
    return passed("normalising a batch: (x / 255 - mean) / std per channel")


def check_to_tensor(to_tensor) -> bool:
    """Exercise 00.3: ``to_tensor(array_hwc_uint8)`` -> float (C, H, W) in [0, 1], like torchvision's ToTensor."""
    import numpy as np

    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)  # (H, W, C) as PIL / NumPy store images
    got = _answer("(H, W, C) uint8 array -> (C, H, W) float tensor", to_tensor, arr.copy())
    if got is _NOT_YET:
        return False
    t = torch.from_numpy(arr)
    want = t.permute(2, 0, 1).float() / 255
    _shape_hint(got, (3, 4, 5), "image tensor", {
        (4, 5, 3): "still (H, W, C): move the channels first with permute(2, 0, 1)",
        (3, 5, 4): "this is (C, W, H), height and width swapped: use permute(2, 0, 1), not permute(2, 1, 0)",
        (1, 4, 5, 3): "keep a single image (C, H, W), no batch dimension"})
    _float_l00(got, "image tensor")
    expect_close(got, want, "image tensor", atol=1e-6, hints=[
        (t.permute(2, 0, 1).float(), "values are in 0..255: divide by 255 to get [0, 1]"),
        (t.reshape(3, 4, 5).float() / 255, "reshape/view keeps the memory order, so the colours are scrambled "
                                           "across pixels: move axes with permute(2, 0, 1)"),
        (t.reshape(3, 4, 5).float(), "used reshape (colours scrambled, use permute(2, 0, 1)) and forgot to "
                                     "divide by 255")])
    return passed("(H, W, C) uint8 -> (C, H, W) float in [0, 1], what ToTensor does")


# lesson 01 ----------------------------------------------------------------------------------------
def _patch_input_l01() -> torch.Tensor:
    """A (2, 3, 8, 12) float batch: not square, so rows and columns cannot be confused unnoticed."""
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 8, 12, generator=g)


def check_patchify(patchify) -> bool:
    """Exercise 01.1: ``patchify(x, patch_size)`` -> (B, N, P*P*C), row-major patches, each flattened (p1 p2 c)."""
    from einops import rearrange

    x, p = _patch_input_l01(), 4
    got = _answer("patchify by hand", patchify, x.clone(), p)
    if got is _NOT_YET:
        return False
    b, c, hh, ww = x.shape
    n, k = (hh // p) * (ww // p), p * p * c
    want = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
    _shape_hint(got, (b, n, k), "patches", {
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
    return passed("patchify: (B, C, H, W) -> (B, N, P*P*C)")


def check_num_tokens(num_tokens) -> bool:
    """Exercise 01.2: ``num_tokens(img_size, patch_size, class_token)`` -> N, the sequence length."""
    cases = [(224, 16, True), (224, 16, False), (28, 4, True), (32, 4, False), (224, 14, True), (384, 16, True)]
    got0 = _answer("counting tokens", num_tokens, *cases[0])
    if got0 is _NOT_YET:
        return False
    for img, p, cls in cases:
        got = got0 if (img, p, cls) == cases[0] else num_tokens(img, p, cls)
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
    return passed("token counts, N = (H/P)*(W/P) + 1 with the class token")


def check_unpatchify(unpatchify) -> bool:
    """Exercise 01.3: ``unpatchify(patches, patch_size, channels, height, width)`` -> (B, C, H, W)."""
    from einops import rearrange

    x, p = _patch_input_l01(), 4
    b, c, hh, ww = x.shape
    patches = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
    got = _answer("unpatchify", unpatchify, patches.clone(), p, c, hh, ww)
    if got is _NOT_YET:
        return False
    _shape_hint(got, tuple(x.shape), "images", {
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
    return passed("unpatchify undoes patchify exactly")


def check_linear_to_conv(linear_to_conv) -> bool:
    """Exercise 01.4: ``linear_to_conv(linear, patch_size, in_chans)`` -> nn.Conv2d equal to Linear on patches."""
    from einops import rearrange
    from torch import nn

    p, c, d = 2, 3, 5
    torch.manual_seed(4)
    lin = nn.Linear(p * p * c, d)
    got = _answer("Linear -> Conv2d", linear_to_conv, lin, p, c)
    if got is _NOT_YET:
        return False
    if not isinstance(got, nn.Conv2d):
        raise ExerciseError(f"return an nn.Conv2d, got {type(got).__name__}")
    ks, st = tuple(got.kernel_size), tuple(got.stride)
    if ks != (p, p) or st != (p, p):
        raise ExerciseError(f"the Conv2d has kernel_size {ks} and stride {st}; both must equal the patch size "
                            f"({p}, {p}) so the kernel sees each patch exactly once")
    if got.in_channels != c or got.out_channels != d:
        raise ExerciseError(f"the Conv2d maps {got.in_channels} -> {got.out_channels} channels; it should map "
                            f"in_chans={c} -> D={d}")
    w = lin.weight.detach()
    want_w = w.reshape(d, p, p, c).permute(0, 3, 1, 2)
    expect_close(got.weight, want_w, "conv.weight", atol=1e-6, hints=[
        (w.reshape(d, c, p, p), "reshaped the Linear weight straight to (D, C, P, P); its inputs are ordered "
                                "(p1 p2 c), so reshape to (D, P, P, C) first, then permute(0, 3, 1, 2)"),
        (w.reshape(d, p, p, c).permute(0, 3, 2, 1), "p1 and p2 are swapped: permute (D, p1, p2, C) to "
                                                    "(D, C, p1, p2) with permute(0, 3, 1, 2)")])
    if got.bias is None or not torch.allclose(got.bias.detach(), lin.bias.detach(), atol=1e-6):
        raise ExerciseError("the weights are right but the bias was not copied: conv.bias = linear.bias")
    x = torch.randn(2, c, 6, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        via_lin = lin(rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p))  # (B, N, D)
        via_conv = got(x).flatten(2).transpose(1, 2)  # (B, N, D)
    expect_close(via_conv, via_lin, "Conv2d output (flattened to (B, N, D))", atol=1e-5)
    return passed("a Conv2d with kernel = stride = P computes the same as Linear on flattened patches")


# lesson 02 ----------------------------------------------------------------------------------------
def check_prepend_class_token(prepend_class_token) -> bool:
    """Exercise 02.1: ``prepend_class_token(tokens (B, L, D), cls (1, 1, D))`` -> (B, L + 1, D), class token first."""
    from torch import nn

    g = torch.Generator().manual_seed(6)
    b, n, d = 3, 4, 8
    tokens = torch.randn(b, n, d, generator=g)
    cls = nn.Parameter(torch.randn(1, 1, d, generator=g))
    got = _answer("prepending the class token", prepend_class_token, tokens.clone(), cls)
    if got is _NOT_YET:
        return False
    want = torch.cat([cls.detach().expand(b, -1, -1), tokens], dim=1)
    _shape_hint(got, (b, n + 1, d), "tokens with class token", {
        (b, n, d): "added the class token to every patch instead of putting it in front: concatenate along "
                   "the token dim, torch.cat([cls, x], dim=1)",
        (1, n + 1, d): "only one image came back: expand the class token to the batch first, cls.expand(B, -1, -1)",
        (b, n, d + d): "concatenated along the feature dim; the class token is a new token: dim=1",
        (b + 1, n, d): "concatenated along the batch dim; the class token is a new token: dim=1"})
    expect_close(got, want, "tokens with class token", atol=1e-6, hints=[
        (torch.cat([tokens, cls.detach().expand(b, -1, -1)], dim=1),
         "the class token was appended at the end; it goes first, at index 0 (the model reads x[:, 0])")])
    if not got.requires_grad:
        raise ExerciseError("the values are right but no gradient reaches the class token (used .data, .detach() "
                            "or a copy?); concatenate the parameter itself so it can be learned")
    got.sum().backward()
    if cls.grad is None or not torch.allclose(cls.grad, torch.full_like(cls, float(b))):
        raise ExerciseError("the gradient of the class token is wrong: every image should use the same "
                            "parameter, e.g. cls.expand(B, -1, -1)")
    return passed("class token prepended at index 0, shared by the batch, trainable")


def check_sincos_1d(sincos_1d) -> bool:
    """Exercise 02.2: ``sincos_1d(num_positions, dim)`` -> (N, D): sines of all frequencies, then cosines."""
    from .embeddings import sincos_1d as ref

    got0 = _answer("the 1-D sin-cos table", sincos_1d, 12, 16)
    if got0 is _NOT_YET:
        return False
    for n, d in ((12, 16), (5, 8)):
        got = got0 if (n, d) == (12, 16) else sincos_1d(n, d)
        want = ref(n, d)
        what = f"sincos_1d({n}, {d})"
        _shape_hint(got, (n, d), what, {(d, n): "transposed: one row per position, (num_positions, dim)",
                                             (n, d // 2): "only half the dims: sines fill the first half, "
                                                          "cosines the second"})
        _float_l00(got, what)
        pos = torch.arange(n, dtype=torch.float64)[:, None]
        i = torch.arange(d // 2, dtype=torch.float64)
        ang = pos / 10000 ** (i / (d // 2))
        expect_close(got, want, what, atol=1e-5, hints=[
            (torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(n, d).float(),
             "sines and cosines are interleaved (sin, cos, sin, cos…, the original Transformer layout); this "
             "course puts all sines first, then all cosines: torch.cat([sin, cos], dim=1)"),
            (torch.cat([ang.cos(), ang.sin()], dim=1).float(), "cosines first; put the sines first"),
            (torch.cat([(pos / 10000 ** (i / d)).sin(), (pos / 10000 ** (i / d)).cos()], 1).float(),
             "the frequencies are off: the exponent is i / (D/2) for i = 0 … D/2-1, you divided by D"),
            (ref(n + 1, d)[1:], "positions start at 1; they start at 0 (torch.arange(num_positions))"),
            (torch.cat([(pos * 10000 ** (i / (d // 2))).sin(), (pos * 10000 ** (i / (d // 2))).cos()], 1).float(),
             "the frequencies grow instead of shrink: omega_i = 1 / 10000**(i / (D/2))")])
    return passed("1-D sin-cos position table")


def check_resize_pos_embed(resize_pos_embed) -> bool:
    """Exercise 02.3: ``resize_pos_embed(pos_embed (1, 1 + g*g, D), new_grid)`` -> (1, 1 + new_grid**2, D), bicubic."""
    import torch.nn.functional as F

    g, new, d = 4, 6, 8
    gen = torch.Generator().manual_seed(7)
    pe = torch.randn(1, 1 + g * g, d, generator=gen)
    got = _answer("resizing a position grid", resize_pos_embed, pe.clone(), new)
    if got is _NOT_YET:
        return False

    def grid_resize(grid, **kw):  # grid: (1, D, g, g)
        if kw["mode"] != "nearest":
            kw.setdefault("align_corners", False)
        out = F.interpolate(grid, size=(new, new), **kw)  # (1, D, new, new)
        return out.permute(0, 2, 3, 1).reshape(1, new * new, d)  # (1, new*new, D)

    cls, grid = pe[:, :1], pe[:, 1:].reshape(1, g, g, d).permute(0, 3, 1, 2)  # (1, D, g, g)
    want = torch.cat([cls, grid_resize(grid, mode="bicubic")], dim=1)
    want_aa = torch.cat([cls, grid_resize(grid, mode="bicubic", antialias=True)], dim=1)
    _shape_hint(got, (1, 1 + new * new, d), "resized pos_embed", {
        (1, new * new, d): "the class token's embedding is missing: split it off before interpolating "
                           "(pos_embed[:, :1]) and concatenate it back in front",
        (1, d, new, new): "still in image layout (1, D, g, g): permute back and flatten to (1, N, D)",
        (1, new, new, d): "flatten the (new, new) grid into new*new tokens and put the class token back in front"})
    if isinstance(got, torch.Tensor) and torch.allclose(got.detach().float(), want_aa, atol=1e-5):
        return passed("position grid resized (bicubic, with antialias=True as timm does)")
    expect_close(got, want, "resized pos_embed", atol=1e-5, hints=[
        (torch.cat([cls, grid_resize(pe[:, 1:].reshape(1, d, g, g), mode="bicubic")], dim=1),
         "reshaped (1, N, D) straight to (1, D, g, g), which scrambles the embeddings: reshape to (1, g, g, D) "
         "and permute(0, 3, 1, 2) so D becomes the channel dim"),
        (torch.cat([cls, grid_resize(grid.transpose(2, 3), mode="bicubic")], dim=1),
         "rows and columns are swapped: keep the grid (1, D, rows, cols) in the same order going back"),
        (torch.cat([cls, grid_resize(grid, mode="bilinear")], dim=1),
         "this is bilinear interpolation; use mode='bicubic' (the paper's code and timm do)"),
        (torch.cat([cls, grid_resize(grid, mode="nearest")], dim=1),
         "this is nearest-neighbour resizing; use mode='bicubic'"),
        (torch.cat([cls, grid_resize(grid, mode="bicubic", align_corners=True)], dim=1),
         "align_corners=True stretches the grid differently; use align_corners=False (timm's default)")])
    return passed("position grid resized (bicubic), class token kept in front")


# ---- lessons 03-05 (attention, encoder block, the model) ----------------------------------------
__all__ += ["check_scaled_dot_product", "check_split_heads", "check_merge_heads", "check_multi_head_attention"]


# lesson 03 ----------------------------------------------------------------------------------------
def check_scaled_dot_product(attention) -> bool:
    """Exercise 03.1: ``attention(q, k, v)`` -> softmax(q k^T / sqrt(d)) v; q, k (B, N, d), v (B, N, d_v)."""
    import math

    g = torch.Generator().manual_seed(30)
    b, n, d, dv = 2, 6, 8, 5
    q, k, v = torch.randn(b, n, d, generator=g) * 2, torch.randn(b, n, d, generator=g) * 2, torch.randn(b, n, dv,
                                                                                                       generator=g)
    got = _answer("scaled dot-product attention", attention, q.clone(), k.clone(), v.clone())
    if got is _NOT_YET:
        return False
    s = q @ k.transpose(-2, -1)  # (B, N, N), unscaled
    want = (s / math.sqrt(d)).softmax(-1) @ v
    _shape_hint(got, (b, n, dv), "attention output", {
        (b, n, n): "this is the (B, N, N) matrix of weights (or scores); multiply the weights by v"})
    expect_close(got, want, "attention output", atol=1e-5, hints=[
        (s.softmax(-1) @ v, "forgot the scale: divide the scores by sqrt(d) before the softmax"),
        ((s / d).softmax(-1) @ v, "divided by d; the scale is 1 / sqrt(d)"),
        ((s * math.sqrt(d)).softmax(-1) @ v, "multiplied by sqrt(d); divide by it"),
        ((s / math.sqrt(dv)).softmax(-1) @ v, "scaled by sqrt of v's width; use d, the width of q and k"),
        ((s / math.sqrt(d)).softmax(-2) @ v, "softmax over the wrong dim (-2, the queries): each query's row "
                                             "of weights must sum to 1, softmax(dim=-1)"),
        ((s / math.sqrt(d)).softmax(-1).transpose(-2, -1) @ v, "the weights are transposed: use weights @ v, "
                                                               "row i of the weights belongs to query i"),
        ((s / math.sqrt(d)).transpose(-2, -1).softmax(-1) @ v, "the scores are transposed (k @ q^T): they "
                                                               "should be q @ k.transpose(-2, -1)"),
        ((s / math.sqrt(d)) @ v, "forgot the softmax: weights = scores.softmax(dim=-1)")])
    return passed("scaled dot-product attention, softmax(q k^T / sqrt(d)) v")


def _heads_input_l03():
    g = torch.Generator().manual_seed(31)
    return torch.randn(2, 5, 12, generator=g)  # (B, N, D) with h = 3, d = 4; N differs from h and d


def check_split_heads(split_heads) -> bool:
    """Exercise 03.2: ``split_heads(x (B, N, D), num_heads)`` -> (B, h, N, d), head i = features i*d:(i+1)*d."""
    x, h = _heads_input_l03(), 3
    b, n, dim = x.shape
    d = dim // h
    got = _answer("splitting the heads", split_heads, x.clone(), h)
    if got is _NOT_YET:
        return False
    want = x.view(b, n, h, d).transpose(1, 2)
    _shape_hint(got, (b, h, n, d), "heads", {
        (b, n, h, d): "split into (B, N, h, d) but did not move the head dim in front of the tokens: "
                      "add .transpose(1, 2)",
        (b, h, d, n): "tokens and features are swapped: the result is (B, h, N, d)",
        (b, d, n, h): "split as (B, N, d, h): the head index is the slower-moving one, view(B, N, h, d)"})
    expect_close(got, want, "heads", atol=0, rtol=0, hints=[
        (x.view(b, h, n, d), "reshaped straight to (B, h, N, d), which mixes tokens into the heads: view as "
                             "(B, N, h, d) first, then transpose(1, 2)"),
        (x.view(b, n, d, h).permute(0, 3, 1, 2), "each head got every h-th feature (interleaved): head i owns the "
                                                 "contiguous block i*d:(i+1)*d, so view(B, N, h, d)")])
    return passed("heads split: (B, N, D) -> (B, h, N, d)")


def check_merge_heads(merge_heads) -> bool:
    """Exercise 03.3: ``merge_heads(x (B, h, N, d))`` -> (B, N, D), the heads concatenated."""
    x, h = _heads_input_l03(), 3
    b, n, dim = x.shape
    d = dim // h
    heads = x.view(b, n, h, d).transpose(1, 2)  # (B, h, N, d)
    got = _answer("merging the heads", merge_heads, heads.clone())
    if got is _NOT_YET:
        return False
    _shape_hint(got, (b, n, dim), "merged heads", {
        (b, h, n * d): "merged the tokens with the features; move the head dim next to d first, transpose(1, 2)",
        (b, n, h, d): "the heads are not concatenated yet: reshape (B, N, h, d) to (B, N, h*d)"})
    expect_close(got, x, "merged heads", atol=0, rtol=0, hints=[
        (heads.reshape(b, n, dim), "reshaped without transposing: tokens of different heads are mixed; "
                                   "transpose(1, 2) to (B, N, h, d) before reshaping"),
        (heads.permute(0, 2, 3, 1).reshape(b, n, dim), "the features are interleaved across heads (permuted to "
                                                       "(B, N, d, h)); concatenate whole heads: (B, N, h, d)")])
    return passed("heads merged: (B, h, N, d) -> (B, N, D)")


def check_multi_head_attention(mha) -> bool:
    """Exercise 03.4: ``mha(x, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads)`` -> (B, N, D)."""
    import math

    import torch.nn.functional as F

    g = torch.Generator().manual_seed(32)
    b, n, dim, h = 2, 7, 16, 4
    d = dim // h
    x = torch.randn(b, n, dim, generator=g)
    wq, bq = torch.randn(3 * dim, dim, generator=g) * 0.5, torch.randn(3 * dim, generator=g) * 0.1
    wp, bp = torch.randn(dim, dim, generator=g) * 0.3, torch.randn(dim, generator=g) * 0.1
    got = _answer("multi-head self-attention", mha, x.clone(), wq.clone(), bq.clone(), wp.clone(), bp.clone(), h)
    if got is _NOT_YET:
        return False

    def ref(scale=None, split="3hd", proj=True, bias=True):
        qkv = F.linear(x, wq, bq if bias else None)  # (B, N, 3D)
        if split == "3hd":
            q, k, v = qkv.view(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        else:  # "h3d": per-head interleaved q, k, v
            q, k, v = qkv.view(b, n, h, 3, d).permute(3, 0, 2, 1, 4)
        s = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale is None else scale)
        out = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, dim)  # (B, N, D)
        return F.linear(out, wp, bp) if proj else out

    _shape_hint(got, (b, n, dim), "attention output", {
        (b, h, n, d): "the heads are not merged back: transpose(1, 2) and reshape to (B, N, D), then apply proj",
        (b, n, 3 * dim): "that is the qkv projection's output; split it into q, k, v and heads"})
    expect_close(got, ref(), "attention output", atol=1e-4, hints=[
        (ref(scale=math.sqrt(dim)), "scaled by sqrt(D), the full width; each head uses sqrt(d) with d = D / h"),
        (ref(scale=1.0), "forgot the 1/sqrt(d) scale"),
        (ref(proj=False), "forgot the output projection (proj_weight, proj_bias) after merging the heads"),
        (ref(bias=False), "forgot the qkv bias"),
        (ref(split="h3d"), "split qkv as (h, 3, d); the fused layout is (3, h, d): all queries, then all keys, "
                           "then all values")])
    return passed("multi-head self-attention from the fused qkv weights")


# lesson 04 ----------------------------------------------------------------------------------------
__all__ += ["check_layer_norm", "check_gelu", "check_pre_norm_block", "check_block_params"]


def check_layer_norm(layer_norm) -> bool:
    """Exercise 04.1: ``layer_norm(x, weight, bias, eps)`` normalises the last dim, like nn.LayerNorm."""
    g = torch.Generator().manual_seed(40)
    d, eps = 8, 1e-6
    x = torch.randn(2, 4, d, generator=g) * 3 + 1
    x[0, 0] = 0.5 + 1e-3 * torch.randn(d, generator=g)  # a nearly constant token: here eps matters
    w, b = torch.randn(d, generator=g), torch.randn(d, generator=g)
    got = _answer("LayerNorm by hand", layer_norm, x.clone(), w.clone(), b.clone(), eps)
    if got is _NOT_YET:
        return False
    mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    want = torch.nn.functional.layer_norm(x, (d,), w, b, eps)
    xc = x - mu
    _shape_hint(got, tuple(x.shape), "LayerNorm output", {
        (2, 4, 1): "that is one number per token (the mean or the std); return the normalised tokens"})
    expect_close(got, want, "LayerNorm output", atol=1e-4, hints=[
        (xc / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b,
         "used the unbiased variance (divides by D - 1); LayerNorm divides by D: var(unbiased=False)"),
        (xc / torch.sqrt(var) * w + b, "forgot eps: divide by sqrt(var + eps); it matters for nearly constant tokens"),
        (xc / (torch.sqrt(var) + eps) * w + b, "eps is added to the std; it goes inside the square root, "
                                               "sqrt(var + eps)"),
        (xc / torch.sqrt(var + 1e-5) * w + b, "used eps=1e-5 (PyTorch's default) instead of the eps argument"),
        (xc / torch.sqrt(var + eps), "forgot the learned scale and shift: multiply by weight, add bias"),
        (xc / torch.sqrt(var + eps) * w, "forgot the bias (the learned shift beta)"),
        (x / torch.sqrt(var + eps) * w + b, "forgot to subtract the mean"),
        ((x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True, unbiased=False) + eps) * w + b,
         "normalised over the batch (dim 0), like BatchNorm; LayerNorm normalises each token over its "
         "features, dim=-1"),
        ((x - x.mean(-2, keepdim=True)) / torch.sqrt(x.var(-2, keepdim=True, unbiased=False) + eps) * w + b,
         "normalised over the tokens (dim -2); normalise each token over its features, dim=-1")])
    return passed("LayerNorm by hand (biased variance, eps inside the square root)")


def check_gelu(gelu) -> bool:
    """Exercise 04.2: ``gelu(x)`` -> x * Phi(x), the exact (erf) GELU."""
    import math

    x = torch.linspace(-4, 4, 161)
    got = _answer("GELU", gelu, x.clone())
    if got is _NOT_YET:
        return False
    want = x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    _shape_hint(got, tuple(x.shape), "GELU output", {})
    expect_close(got, want, "GELU output", atol=1e-5, rtol=1e-5, hints=[
        (torch.nn.functional.gelu(x, approximate="tanh"), "this is the tanh approximation (differs by up to 5e-4); "
                                                          "use the exact form with torch.erf"),
        (x * torch.sigmoid(1.702 * x), "this is the sigmoid approximation x * sigmoid(1.702 x); use torch.erf"),
        (x * 0.5 * (1 + torch.erf(x)), "forgot to divide by sqrt(2) inside erf: Phi(x) = (1 + erf(x / sqrt(2))) / 2"),
        (0.5 * (1 + torch.erf(x / math.sqrt(2))), "this is Phi(x) alone; GELU multiplies it by x"),
        (x * (1 + torch.erf(x / math.sqrt(2))), "forgot the factor 1/2: Phi(x) = (1 + erf(x / sqrt(2))) / 2"),
        (torch.relu(x), "this is ReLU")])
    return passed("exact GELU, x * Phi(x)")


def _block_l04():
    from .blocks import Block

    blk = Block(16, num_heads=4, mlp_ratio=2.0)
    g = torch.Generator().manual_seed(41)
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        blk.norm1.weight.add_(1.0)  # LayerNorm scales around 1, so the norms do matter
        blk.norm2.weight.add_(1.0)
    return blk.eval()


def check_pre_norm_block(block_forward) -> bool:
    """Exercise 04.3: ``block_forward(block, x)`` -> x + attn(norm1(x)), then + mlp(norm2(.)) (paper Eq. 2-3)."""
    blk = _block_l04()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(42)) * 2
    with torch.no_grad():
        got = _answer("the pre-norm block", block_forward, blk, x.clone())
        if got is _NOT_YET:
            return False
        a, m, n1, n2 = blk.attn, blk.mlp, blk.norm1, blk.norm2
        want = blk(x)
        h = x + a(n1(x))
        hints = [
            (n2(n1(x + a(x)) + m(n1(x + a(x)))), "this is the post-norm block (LayerNorm after the addition, "
                                                 "the original Transformer); ViT normalises the branch input: "
                                                 "x + attn(norm1(x))"),
            (a(n1(x)) + m(n2(a(n1(x)))), "forgot the residual around attention: x = x + attn(norm1(x))"),
            (h + m(n2(h)) - h, "forgot the residual around the MLP: x = x + mlp(norm2(x))"),
            ((lambda y: y + m(n2(y)))(n1(x) + a(n1(x))), "normalised the residual stream itself (x = norm1(x) "
                                                         "first); only the branch input is normalised, the "
                                                         "stream stays as it is"),
            (h + m(n1(h)), "used norm1 before the MLP as well; the MLP has its own norm2"),
            ((lambda y: y + a(n1(y)))(x + m(n2(x))), "ran the MLP before attention; attention comes first (Eq. 2)"),
            (h, "forgot the MLP half of the block (Eq. 3)"),
            (x + a(n1(x)) + m(n2(x)), "the MLP read the block's input instead of the output of the attention step: "
                                      "x = x + attn(norm1(x)) first, then x = x + mlp(norm2(x))")]
    _shape_hint(got, tuple(x.shape), "block output", {})
    expect_close(got, want, "block output", atol=1e-5, hints=hints)
    return passed("the pre-norm encoder block, x + MSA(LN(x)) then x + MLP(LN(x))")


def check_block_params(block_params) -> bool:
    """Exercise 04.4: ``block_params(dim, mlp_ratio)`` -> parameters of one encoder block (an int)."""
    from .blocks import Block

    cases = [(768, 4.0), (96, 2.0), (192, 4.0), (64, 3.0)]
    first = _answer("parameters of a block", block_params, *cases[0])
    if first is _NOT_YET:
        return False
    for dim, ratio in cases:
        got = first if (dim, ratio) == cases[0] else block_params(dim, ratio)
        hid = int(dim * ratio)
        with torch.device("meta"):
            want = sum(p.numel() for p in Block(dim, 4, ratio).parameters())
        where = f"block_params({dim}, {ratio})"
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, float) and got == int(got):
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            raise ExerciseError(f"{where} should return an int, got {type(got).__name__} {got!r}")
        if got == want:
            continue
        d = want - got
        hints = {
            4 * dim: "forgot the two LayerNorms (a weight and a bias of size D each)",
            2 * dim: "counted one LayerNorm; the block has two (norm1 and norm2), each with weight and bias",
            3 * dim + dim + hid + dim: "forgot the biases of the linear layers",
            2 * dim * dim + 2 * dim: "counted the qkv projection as D x D; it makes q, k and v: 3D x D plus 3D biases",
            dim * dim + dim: "forgot the attention's output projection (proj, D x D plus D)",
            dim * hid + dim: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
            dim * hid + hid: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
        }
        if d in hints:
            raise ExerciseError(f"{where} = {got:,}, short by {d:,}: {hints[d]}")
        raise ExerciseError(f"{where} = {got:,} but a block has {want:,} parameters")
    return passed("parameters of an encoder block (12 D^2 + 13 D with MLP ratio 4)")


# lesson 05 ----------------------------------------------------------------------------------------
__all__ += ["check_vit_param_count", "check_mean_pool", "check_vit_forward"]


def check_vit_param_count(vit_param_count) -> bool:
    """Exercise 05.1: ``vit_param_count(config)`` -> the parameters of ``VisionTransformer(config)`` (an int)."""
    from .config import ViTConfig
    from .model import VisionTransformer

    cases = [ViTConfig.vit_b_16(), ViTConfig.fashion_mnist_cpu(), ViTConfig.vit_l_32(), ViTConfig.tiny(num_classes=0),
             ViTConfig.tiny(class_token=False, pool="mean"), ViTConfig.tiny(pos_embed="sincos2d")]
    first = _answer("counting a ViT's parameters", vit_param_count, cases[0])
    if first is _NOT_YET:
        return False
    for cfg in cases:
        got = first if cfg is cases[0] else vit_param_count(cfg)
        with torch.device("meta"):
            want = sum(p.numel() for p in VisionTransformer(cfg).parameters())
        where = f"vit_param_count({cfg.name}{', num_classes=0' if cfg.num_classes == 0 else ''}" + (
            ", class_token=False" if not cfg.class_token else "") + (
            ", pos_embed='sincos2d'" if cfg.pos_embed == "sincos2d" else "") + ")"
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, float) and got == int(got):
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            raise ExerciseError(f"{where} should return an int, got {type(got).__name__} {got!r}")
        if got == want:
            continue
        D, n, c, p = cfg.embed_dim, cfg.num_tokens, cfg.num_classes, cfg.patch_size
        d = want - got
        hints = {
            D: "short by D: the class token (1 x D) or the class token's row of pos_embed (it has N = patches + 1 "
               "rows) is missing",
            -D: "D too many: is there a class token in this config? (class_token=False: no cls_token, and "
                "pos_embed has one row per patch)",
            n * D: "forgot the learned position embeddings (N x D)",
            -n * D: "counted position embeddings that are not parameters: with pos_embed='sincos2d' they are a "
                    "fixed buffer",
            2 * D: "forgot the final LayerNorm (norm, 2D) after the last block",
            D * c + c: "forgot the classification head (D x num_classes plus biases)",
            D * p * p * cfg.in_chans + D: "forgot the patch embedding (a P*P*C -> D projection with bias)",
            D * p * p * cfg.in_chans: "forgot the patch embedding's weights (P*P*C x D)",
        }
        if d in hints:
            raise ExerciseError(f"{where} = {got:,}, short by {d:,}: {hints[d]}" if d > 0 else
                                f"{where} = {got:,}, {-d:,} too many: {hints[d]}")
        if cfg.num_classes == 0 and d < 0:
            raise ExerciseError(f"{where} = {got:,} but the model has {want:,}: with num_classes=0 there is no head")
        raise ExerciseError(f"{where} = {got:,} but the model has {want:,} parameters "
                            f"({'short by' if d > 0 else 'too many by'} {abs(d):,})")
    return passed("ViT parameter count from the config")


def check_mean_pool(mean_pool) -> bool:
    """Exercise 05.2: ``mean_pool(tokens (B, N, D))`` -> (B, D), the mean of the patch tokens (not the class token)."""
    g = torch.Generator().manual_seed(50)
    b, n, d = 3, 6, 4
    x = torch.randn(b, n, d, generator=g)
    x[:, 0] += 5.0  # a class token that stands out
    got = _answer("mean pooling", mean_pool, x.clone())
    if got is _NOT_YET:
        return False
    want = x[:, 1:].mean(1)
    _shape_hint(got, (b, d), "pooled features", {
        (b, n): "averaged over the features (dim -1); average over the tokens, dim=1",
        (b, n - 1): "averaged over the features (dim -1); average over the patch tokens, dim=1",
        (n, d): "averaged over the batch (dim 0); average over the tokens, dim=1",
        (n - 1, d): "averaged over the batch (dim 0); average over the patch tokens, dim=1",
        (b, 1, d): "keep no token dim: mean(dim=1) without keepdim"})
    expect_close(got, want, "pooled features", atol=1e-6, hints=[
        (x.mean(1), "included the class token: average the patch tokens only, tokens[:, 1:].mean(dim=1)"),
        (x[:, 0], "this is the class token (cls pooling); mean pooling averages the patch tokens, tokens[:, 1:]"),
        (x[:, :-1].mean(1), "dropped the last token instead of the first; the class token is at index 0"),
        (x[:, 1:].sum(1), "summed instead of averaging"),
        (x[:, 1:].sum(1) / n, "divided by N including the class token; there are N - 1 patch tokens")])
    return passed("mean pooling over the patch tokens, class token excluded")


def check_vit_forward(vit_forward) -> bool:
    """Exercise 05.3: ``vit_forward(model, images)`` -> logits, using the model's parts (class-token pooling)."""
    from .config import ViTConfig
    from .model import VisionTransformer

    torch.manual_seed(51)
    model = VisionTransformer(ViTConfig.tiny()).eval()
    g = torch.Generator().manual_seed(52)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    x = torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        got = _answer("the ViT forward pass", vit_forward, model, x.clone())
        if got is _NOT_YET:
            return False
        want = model(x)
        patches = model.patch_embed(x)  # (B, N-1, D)
        cls = model.cls_token.expand(2, -1, -1)

        def run(tokens, norm=True, pool="cls"):
            for blk in model.blocks:
                tokens = blk(tokens)
            if norm:
                tokens = model.norm(tokens)
            return model.head(tokens[:, 0] if pool == "cls" else tokens[:, 1:].mean(1) if pool == "mean"
                              else tokens[:, -1])

        first = torch.cat([cls, patches], 1)
        hints = [(run(first), "forgot the position embeddings: add model.pos_embed after prepending the class token"),
                 (run(first + model.pos_embed, norm=False), "forgot the final LayerNorm (model.norm) after the blocks"),
                 (run(first + model.pos_embed, pool="mean"), "pooled by the mean of the patch tokens; this model "
                                                             "reads the class token, tokens[:, 0]"),
                 (run(torch.cat([patches, cls], 1) + model.pos_embed, pool="last"),
                  "put the class token at the end; it goes first (index 0)"),
                 (run(torch.cat([patches, cls], 1) + model.pos_embed), "put the class token at the end; it goes "
                                                                      "first, and the head reads index 0")]
    _shape_hint(got, tuple(want.shape), "logits", {
        (2, 17, 10): "the head was applied to every token; pool first (the class token, tokens[:, 0])",
        (2, 32): "these are the pooled features; apply model.head"})
    expect_close(got, want, "logits", atol=1e-4, hints=hints)
    return passed("the ViT forward pass from its parts")


# ---- lesson 06 (training) -----------------------------------------------------------------------


def _attempt(fn, *args):
    """Call the learner's function; None (and a 'Not attempted' line) if it still raises NotImplementedError."""
    try:
        return fn(*args)
    except NotImplementedError:
        print(f"Not attempted yet: {getattr(fn, '__name__', 'the function')} still raises NotImplementedError")
        return None


def check_lr_schedule(fn) -> bool | None:
    """Lesson 06: ``fn(step, total_steps, peak_lr, warmup_steps)`` -> linear warm-up from 0, then cosine to 0."""
    import math

    total, peak, warm = 100, 1e-3, 10

    def ref(s, t, p, w):
        if s < w:
            return p * s / w
        return p * 0.5 * (1 + math.cos(math.pi * (s - w) / (t - w)))

    steps = [0, 1, 5, 9, 10, 11, 30, 55, 80, 99, 100]
    try:
        got = torch.tensor([float(fn(s, total, peak, warm)) for s in steps], dtype=torch.float64)
    except NotImplementedError:
        print(f"Not attempted yet: {getattr(fn, '__name__', 'the function')} still raises NotImplementedError")
        return None
    want = torch.tensor([ref(s, total, peak, warm) for s in steps], dtype=torch.float64)
    hints = [
        (torch.tensor([peak * 0.5 * (1 + math.cos(math.pi * s / total)) for s in steps], dtype=torch.float64),
         "there is no warm-up: the learning rate should start at 0 and rise linearly to the peak over warmup_steps"),
        (torch.tensor([peak * s / warm if s < warm else peak * 0.5 * (1 + math.cos(math.pi * s / total))
                       for s in steps], dtype=torch.float64),
         "the cosine starts counting at step 0 instead of at the end of the warm-up: use (step - warmup_steps) / "
         "(total_steps - warmup_steps)"),
        (torch.tensor([peak * s / warm if s < warm else peak * (1 - (s - warm) / (total - warm)) for s in steps],
                      dtype=torch.float64),
         "that decays linearly; the schedule is a half cosine: 0.5 * (1 + cos(pi * progress))"),
        (torch.tensor([peak * s / warm if s < warm else peak * math.cos(math.pi * (s - warm) / (total - warm))
                       for s in steps], dtype=torch.float64),
         "cos(pi * progress) goes negative; use 0.5 * (1 + cos(pi * progress)) so it ends at 0"),
    ]
    expect_close(got, want, "the learning rate at steps " + str(steps), hints=hints, atol=1e-9, rtol=1e-6)
    return passed("linear warm-up to the peak, then a half cosine down to zero at the last step")


def check_smoothed_loss(fn) -> bool | None:
    """Lesson 06: ``fn(logits, targets, eps)`` -> cross-entropy with label smoothing, averaged over the batch."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(6)
    logits = torch.randn(8, 5, generator=g) * 2
    y = torch.randint(0, 5, (8,), generator=g)
    eps = 0.2
    got = _attempt(fn, logits.clone(), y.clone(), eps)
    if got is None:
        return None
    got = torch.as_tensor(got, dtype=torch.float32)
    want = F.cross_entropy(logits, y, label_smoothing=eps)
    logp = logits.log_softmax(-1)
    k = logits.shape[1]
    other = torch.full_like(logp, eps / (k - 1)).scatter(1, y[:, None], 1 - eps)
    hints = [
        (F.cross_entropy(logits, y), "that is plain cross-entropy: the smoothing eps was not used"),
        (-(other * logp).sum(1).mean(),
         "you spread eps over the K-1 wrong classes only; the usual definition (PyTorch, Szegedy et al. 2016) "
         "spreads eps / K over all K classes, the true one included, so the target is 1 - eps + eps / K"),
        (-(((1 - eps) * F.one_hot(y, k) + eps / k) * logits.softmax(-1).log()).sum(1).sum(),
         "you summed over the batch; average over it (mean)"),
        (-(((1 - eps) * F.one_hot(y, k) + eps / k) * logits.softmax(-1)).sum(1).mean(),
         "the loss multiplies the soft targets by log-probabilities (log_softmax), not probabilities"),
    ]
    expect_close(got.reshape(()), want, "the smoothed loss", hints=[(h.reshape(()), m) for h, m in hints],
                 atol=1e-5, rtol=1e-5)
    return passed("soft targets (1 - eps) * one_hot + eps / K, cross-entropy averaged over the batch; equals "
                  "F.cross_entropy(..., label_smoothing=eps)")


def _tiny_classifier(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))


def check_train_step(fn) -> bool | None:
    """Lesson 06: ``fn(model, optimizer, x, y)`` does one step (forward, loss, backward, step) and returns the loss."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(6, 1, 3, 4, generator=g) for _ in range(3)]
    ys = [torch.randint(0, 3, (6,), generator=g) for _ in range(3)]

    def run(step_fn):
        m = _tiny_classifier()
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        losses = [step_fn(m, opt, x, y) for x, y in zip(xs, ys)]
        return torch.cat([p.detach().flatten() for p in m.parameters()]), losses

    def ref(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def no_zero(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def zero_after_backward(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.zero_grad()
        opt.step()
        return loss.item()

    try:
        got, losses = run(fn)
    except NotImplementedError:
        print(f"Not attempted yet: {getattr(fn, '__name__', 'train_step')} still raises NotImplementedError")
        return None
    want, want_losses = run(ref)
    start = torch.cat([p.detach().flatten() for p in _tiny_classifier().parameters()])
    if torch.allclose(got, start):
        raise ExerciseError("the weights did not change: call loss.backward() and then optimizer.step()")
    hints = [(run(no_zero)[0], "gradients pile up from step to step: call optimizer.zero_grad() before "
                               "loss.backward()"),
             (run(zero_after_backward)[0], "optimizer.zero_grad() came after loss.backward(), so the step used "
                                           "zero gradients; clear them before backward")]
    expect_close(got, want, "the weights after three steps", hints=hints, atol=1e-6, rtol=1e-5)
    if losses[0] is None or abs(float(losses[0]) - want_losses[0]) > 1e-5:
        raise ExerciseError(f"the weights are right but the returned loss is {losses[0]!r}; return loss.item(), "
                            "the loss computed before the step")
    return passed("forward, loss, zero_grad, backward, step: the weights match the reference after three steps")


def check_confusion(fn) -> bool | None:
    """Lesson 06: ``fn(pred, target, num_classes)`` -> (K, K) counts, row = true class, column = predicted."""
    pred = torch.tensor([0, 1, 1, 2, 2, 2, 0, 1])
    target = torch.tensor([0, 1, 2, 2, 0, 2, 1, 1])
    got = _attempt(fn, pred.clone(), target.clone(), 3)
    if got is None:
        return None
    want = torch.zeros(3, 3, dtype=torch.long)
    for p, t in zip(pred, target):
        want[t, p] += 1
    got = torch.as_tensor(got).double()
    want = want.double()
    expect_close(got, want, "the confusion matrix", hints=[
        (want.T, "rows and columns are swapped: row i should count images whose TRUE class is i"),
        (want / want.sum(1, keepdim=True), "the rows are normalised; return raw counts"),
    ], atol=1e-5, rtol=0)
    return passed("counts with rows = true class and columns = predicted class; the diagonal holds the correct ones")
