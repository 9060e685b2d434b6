"""Self-checks for lesson 03's exercises: scaled dot-product attention, a padding mask, attention inside
non-overlapping windows (Swin), and what those windows save, predicted and then counted.

Attention works on a sequence of any length n; in a ViT n = N + 1 (N patches and the class token). The shapes
here are written with n, as in the lesson's exercises. Used in notebooks/03_attention.
"""

from __future__ import annotations

import math

import torch
from torch.utils.flop_counter import FlopCounterMode

from ._common import ExerciseError, exercise, expect_close, expect_int, expect_shape

__all__ = ["check_scaled_dot_product", "check_masked_attention", "check_windowed_attention",
           "check_window_cost"]


@exercise("03.1", "Scaled dot-product attention (warm-up)", answer="my_attention", hints=(
    "Three steps: the score of every query against every key, a (B, n, n) matrix, scaled by 1/sqrt(d) with d "
    "the width of q and k; a softmax over the keys (the last dim), so each query's weights sum to 1; then the "
    "weighted sum of the values.",
    "return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1) @ v"))
def check_scaled_dot_product(attention) -> bool | None:
    """Exercise 03.1 · Scaled dot-product attention (warm-up): ``attention(q, k, v)`` -> softmax(q k^T / sqrt(d)) v.

    q, k are (B, n, d), v is (B, n, d_v); the result is (B, n, d_v). Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(30)
    b, n, d, dv = 2, 6, 8, 5
    q, k = torch.randn(b, n, d, generator=g) * 2, torch.randn(b, n, d, generator=g) * 2
    v = torch.randn(b, n, dv, generator=g)
    got = attention(q.clone(), k.clone(), v.clone())
    s = q @ k.transpose(-2, -1)  # (B, n, n), unscaled
    want = (s / math.sqrt(d)).softmax(-1) @ v  # (B, n, d_v)
    expect_shape(got, (b, n, dv), "attention output", {
        (b, n, n): "this is the (B, n, n) matrix of weights (or scores); multiply the weights by v"})
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
    return "softmax(q k^T / sqrt(d)) v"


@exercise("03.2", "Attention with a padding mask", answer="my_masked_attention", hints=(
    "Sequences of different lengths are padded to one length, and no query may read a padded key. Set those "
    "keys' scores to -inf *before* the softmax: the softmax then gives them weight 0 and shares the weight "
    "among the real keys. The mask is per key, so it covers columns of the (B, n, n) score matrix.",
    "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]); "
    "scores = scores.masked_fill(key_padding_mask[:, None, :], float('-inf')); return scores.softmax(-1) @ v"))
def check_masked_attention(masked_attention) -> bool | None:
    """Exercise 03.2 · Attention with a padding mask: ``masked_attention(q, k, v, key_padding_mask)``.

    q, k: (B, n, d); v: (B, n, d_v); ``key_padding_mask``: (B, n) bool, True where a token is padding.
    Returns (B, n, d_v), padded keys getting weight 0. Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(12)
    b, n, d = 3, 6, 8
    q, k, v = (torch.randn(b, n, d, generator=g) for _ in range(3))
    lengths = torch.tensor([6, 4, 2])  # real tokens per sequence; the rest is padding
    pad = torch.arange(n)[None] >= lengths[:, None]  # (B, n) True = padding
    got = masked_attention(q.clone(), k.clone(), v.clone(), pad.clone())
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, n, n)
    want = scores.masked_fill(pad[:, None, :], float("-inf")).softmax(-1) @ v  # (B, n, d_v)
    expect_shape(got, (b, n, d), "masked attention output")
    if torch.isnan(got).any():
        raise ExerciseError("the output has NaNs: a whole row of scores was -inf (masked the queries, or used the "
                            "mask the wrong way round?); mask the padded *keys*, key_padding_mask[:, None, :]")
    w = scores.softmax(-1)
    after = w.masked_fill(pad[:, None, :], 0.0)  # weights zeroed after the softmax, rows no longer sum to 1
    expect_close(got, want, "masked attention output", atol=1e-5, hints=[
        (w @ v, "the mask is not used: padded keys still get weight"),
        (after @ v, "the padded keys' weights were zeroed after the softmax, so each row sums to less than 1; "
                    "mask the scores with -inf before the softmax instead"),
        (scores.masked_fill(pad[:, :, None], float("-inf")).softmax(-1).nan_to_num(0.0) @ v,
         "masked the padded queries (rows); the mask is on the keys (columns): key_padding_mask[:, None, :]"),
        (scores.masked_fill(~pad[:, None, :], float("-inf")).softmax(-1) @ v,
         "the mask is inverted: True marks padding, which must get weight 0"),
        ((q @ k.transpose(-2, -1)).masked_fill(pad[:, None, :], float("-inf")).softmax(-1) @ v,
         "forgot the 1/sqrt(d) scale")])
    return "padded keys get weight 0, the real keys' weights still sum to 1"


def _window_ids(grid: int, window: int) -> torch.Tensor:
    """(N,) the window of each patch, patches in raster order on a grid x grid grid, windows window x window."""
    row, col = torch.arange(grid * grid).div(grid, rounding_mode="floor"), torch.arange(grid * grid) % grid
    return (row // window) * (grid // window) + col // window


def _attend(q, k, v, allowed=None, scale=True, zero_after=False):
    """softmax(q k^T / sqrt(d)) v with (N, N) ``allowed`` pairs; ``zero_after`` zeroes weights after the softmax."""
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)  # (B, N, N)
    if allowed is None:
        return scores.softmax(-1) @ v
    if zero_after:
        return (scores.softmax(-1) * allowed) @ v
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v  # (B, N, d_v)


@exercise("03.3", "Attention inside windows (Swin)", answer="my_windowed_attention", hints=(
    "Give every patch the number of its window: with row r and column c on the grid (patch i = r * grid + c), "
    "the window is (r // window, c // window). Two patches may attend to each other exactly when their windows "
    "are the same; set every other score to -inf before the softmax, as in exercise 03.2.",
    "r, c = torch.arange(n) // grid_size, torch.arange(n) % grid_size; "
    "win = (r // window) * (grid_size // window) + c // window; same = win[:, None] == win[None, :]; "
    "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]); "
    "return scores.masked_fill(~same, float('-inf')).softmax(-1) @ v"))
def check_windowed_attention(windowed_attention) -> bool | None:
    """Exercise 03.3 · Attention inside windows (Swin): ``windowed_attention(q, k, v, grid_size, window)``.

    q, k: (B, N, d), v: (B, N, d_v), the N = grid_size² patches in raster order; each patch attends only to the
    patches of its own window x window window (Liu et al. 2021, Sec. 3.2). Returns (B, N, d_v).
    Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(33)
    for grid, window in ((4, 2), (6, 3), (6, 2)):
        n, d = grid * grid, 8
        q, k, v = (torch.randn(2, n, d, generator=g) * 1.5 for _ in range(3))
        what = f"windowed attention on a {grid}x{grid} grid with {window}x{window} windows"
        got = windowed_attention(q.clone(), k.clone(), v.clone(), grid, window)
        ids = _window_ids(grid, window)
        same = ids[:, None] == ids[None, :]  # (N, N) True inside one window
        expect_shape(got, (2, n, d), what, {(2, n, n): "this is the (B, N, N) matrix of weights; multiply it by v"})
        if torch.isnan(got).any():
            raise ExerciseError(f"{what}: the output has NaNs, so some query had every key masked; mask the keys "
                                "*outside* the query's window, ~same, with -inf")
        row, col = torch.arange(n) // grid, torch.arange(n) % grid
        near = torch.maximum((row[:, None] - row).abs(), (col[:, None] - col).abs()) <= window // 2
        strips = (torch.arange(n) // (window * window))
        rows = row // window
        other = _window_ids(grid, grid // window) if grid // window != window else None
        hints = [
            (_attend(q, k, v), "the windows are not used: every patch attends to every patch"),
            (_attend(q, k, v, strips[:, None] == strips), f"took {window * window} consecutive patches in raster "
             "order as one window; that is a strip along a row, not a square: a window holds the patches whose "
             "row // window and column // window are both the same"),
            (_attend(q, k, v, rows[:, None] == rows), "grouped whole bands of rows; a window also splits the "
             "columns: patches share a window when row // window and column // window both agree"),
            (_attend(q, k, v, near), "each query looks at a window centred on itself (lesson 07's locality prior); "
             "Swin's windows are fixed, non-overlapping tiles of the grid, the same for every patch inside a tile"),
            (_attend(q, k, v, ~same), "the mask is inverted: each patch attends only to the patches outside its "
             "window"),
            (_attend(q, k, v, same, scale=False), "forgot the 1/sqrt(d) scale"),
            (_attend(q, k, v, same, zero_after=True), "zeroed the weights outside the window after the softmax, "
             "so the rows no longer sum to 1; mask the scores with -inf before the softmax")]
        if other is not None:
            hints.append((_attend(q, k, v, other[:, None] == other), f"made windows of grid_size // window = "
                          f"{grid // window} patches per side; `window` is the side of one window, in patches"))
        expect_close(got, _attend(q, k, v, same), what, atol=1e-5, hints=hints)
    return "each patch attends only inside its own window x window tile of the grid"


def _counted_window_cost(grid: int, window: int, dim: int, heads: int) -> tuple[int, int]:
    """Attention weights and FLOPs of the two products, counted by running windowed attention on one image."""
    d, m = dim // heads, grid // window  # head width, windows per side
    q, k, v = torch.randn(3, 1, heads, grid, grid, d).unbind(0)  # 3 x (1, h, grid, grid, d)

    def tiles(t):  # (1, h, grid, grid, d) -> (1, h, windows, window², d)
        return t.view(1, heads, m, window, m, window, d).transpose(3, 4).reshape(1, heads, m * m, window**2, d)

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        scores = tiles(q) @ tiles(k).transpose(-2, -1)  # (1, h, windows, window², window²)
        scores.softmax(-1) @ tiles(v)  # (1, h, windows, window², d)
    return scores.numel(), counter.get_total_flops()


@exercise("03.4", "What windows save, predicted then counted", answer="my_window_cost", hints=(
    "Count for one image. There are n = grid_size² queries in every head; with windows each query meets only the "
    "window² keys of its own window instead of all n. The weights are one number per (head, query, key) pair. "
    "Each of the two products (q k^T and weights @ v) costs one multiply-add per weight and per feature of a "
    "head, and a multiply-add is 2 FLOPs; the h heads together have D features.",
    "n, m2 = grid_size ** 2, window ** 2; return num_heads * n * m2, 4 * n * m2 * dim"))
def check_window_cost(window_cost) -> bool | None:
    """Exercise 03.4 · What windows save, predicted then counted: ``window_cost(grid_size, window, dim, num_heads)``
    -> (weights, flops).

    For one image of grid_size² patches attending inside window x window windows: the number of attention
    weights over all heads, and the FLOPs of q k^T and weights @ v. The check counts both by running windowed
    attention under PyTorch's FLOP counter. Used in notebooks/03_attention.
    """
    cases = [(14, 7, 768, 12), (8, 2, 96, 3), (6, 3, 48, 4)]  # ViT-B/16's grid in Swin's 7x7 windows first
    for grid, window, dim, heads in cases:
        where = f"window_cost({grid}, {window}, {dim}, {heads})"
        got = window_cost(grid, window, dim, heads)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{where} should return two numbers, (weights, flops); got {got!r}")
        weights, flops = expect_int(got[0], f"{where}[0], the weights,"), expect_int(got[1], f"{where}[1], the FLOPs,")
        n, m2, d = grid * grid, window * window, dim // heads
        want_w, want_f = _counted_window_cost(grid, window, dim, heads)
        if weights != want_w:
            msg = {heads * n * n: "that is full attention's h·n² weights; inside windows each query has only "
                                  "window² keys",
                   heads * n: "one weight per query and head; each query has window² weights, one per key of its "
                              "window",
                   n * m2: "counted one head; every head has its own weights: times num_heads",
                   heads * n * window: "a window of side `window` holds window² patches, not window"}
            raise ExerciseError(f"{where}: predicted {weights:,} weights, counted {want_w:,}"
                                + (f": {msg[weights]}" if weights in msg else ""))
        if flops != want_f:
            msg = {4 * n * n * dim: "that is full attention's 4 n² D",
                   2 * n * m2 * dim: "half of it: a multiply-add is 2 FLOPs, and there are two products (q k^T and "
                                     "weights @ v)",
                   4 * n * m2 * d: "used the head width d = D / h; the h heads together work on all D features",
                   4 * n * window * dim: "a window of side `window` holds window² patches, not window",
                   4 * n * m2 * dim + 8 * n * dim * dim: "counted the qkv and output projections (8 n D²) too; "
                                                          "only the two products with the attention weights"}
            raise ExerciseError(f"{where}: predicted {flops:,} FLOPs, counted {want_f:,}"
                                + (f": {msg[flops]}" if flops in msg else ""))
    grid, window, dim, heads = cases[0]
    w, f = _counted_window_cost(grid, window, dim, heads)
    return (f"ViT-B/16's {grid}x{grid} patches in {window}x{window} windows: {w:,} weights and {f / 1e6:.1f} MFLOPs, "
            f"predicted and counted; full attention would take {grid**2 // window**2}x as many")
