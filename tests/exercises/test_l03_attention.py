"""Lesson 03's checks: the worked solutions, the package and PyTorch pass, each typical mistake raises its message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.attention import scaled_dot_product_attention
from vit_lessons.exercises import (
    ExerciseError,
    check_masked_attention,
    check_scaled_dot_product,
    check_window_cost,
    check_windowed_attention,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "03_attention"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_and_sdpa_pass():
    assert check_scaled_dot_product(lambda q, k, v: scaled_dot_product_attention(q, k, v)[0]) is True
    assert check_scaled_dot_product(F.scaled_dot_product_attention) is True


def _sdpa(scale=None, dim=-1, transpose_w=False, transpose_s=False, softmax=True):
    def f(q, k, v):
        s = q @ k.transpose(-2, -1)
        s = s / (math.sqrt(q.shape[-1]) if scale is None else scale(q, v))
        if transpose_s:
            s = s.transpose(-2, -1)
        w = s.softmax(dim) if softmax else s
        if transpose_w:
            w = w.transpose(-2, -1)
        return w @ v
    return f


MISTAKES = {
    check_scaled_dot_product: [
        (_sdpa(scale=lambda q, v: 1.0), "forgot the scale"),
        (_sdpa(scale=lambda q, v: q.shape[-1]), "divided by d"),
        (_sdpa(scale=lambda q, v: 1 / math.sqrt(q.shape[-1])), r"multiplied by sqrt\(d\)"),
        (_sdpa(scale=lambda q, v: math.sqrt(v.shape[-1])), "width of q and k"),
        (_sdpa(dim=-2), "softmax over the wrong dim"),
        (_sdpa(transpose_w=True), "weights are transposed"),
        (_sdpa(transpose_s=True), "scores are transposed"),
        (_sdpa(softmax=False), "forgot the softmax"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1), "multiply the weights by v"),
        (lambda q, k, v: (_sdpa()(q, k, v), None), "return one tensor"),
        (lambda q, k, v: _sdpa()(q, k, v) + 0.1, "wrong values"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 03.2: attention with a padding mask ----
def _masked(how="ok"):
    def f(q, k, v, pad):
        scores = q @ k.transpose(-2, -1) / (1 if how == "no_scale" else math.sqrt(q.shape[-1]))
        if how == "unused":
            return scores.softmax(-1) @ v
        if how == "after":
            return scores.softmax(-1).masked_fill(pad[:, None, :], 0.0) @ v
        if how == "queries":
            return scores.masked_fill(pad[:, :, None], float("-inf")).softmax(-1) @ v
        if how == "inverted":
            return scores.masked_fill(~pad[:, None, :], float("-inf")).softmax(-1) @ v
        return scores.masked_fill(pad[:, None, :], float("-inf")).softmax(-1) @ v
    return f


def test_masked_attention_solution_and_sdpa():
    assert check_masked_attention(_masked()) is True
    # PyTorch's kernel takes the opposite convention: True = may attend
    assert check_masked_attention(lambda q, k, v, pad: F.scaled_dot_product_attention(
        q, k, v, attn_mask=~pad[:, None, :])) is True


@pytest.mark.parametrize("how, match", [
    ("unused", "mask is not used"), ("after", "after the softmax"), ("queries", "NaNs"),
    ("inverted", "NaNs"), ("no_scale", r"1/sqrt\(d\)")])
def test_masked_attention_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_masked_attention(_masked(how))


# ---- 03.3: attention inside windows ----
def _windowed(how="ok"):
    def f(q, k, v, grid, window):
        n = grid * grid
        row, col = torch.arange(n) // grid, torch.arange(n) % grid
        if how == "strips":  # window² consecutive tokens in raster order
            ids = torch.arange(n) // (window * window)
        elif how == "rows":
            ids = row // window
        elif how == "count":  # `window` read as the number of windows per side
            side = grid // window
            ids = (row // side) * window + col // side
        else:
            ids = (row // window) * (grid // window) + col // window
        allowed = ids[:, None] == ids[None, :]
        if how == "centred":
            allowed = torch.maximum((row[:, None] - row).abs(), (col[:, None] - col).abs()) <= window // 2
        if how == "inverted":
            allowed = ~allowed
        scores = q @ k.transpose(-2, -1) / (1.0 if how == "no_scale" else math.sqrt(q.shape[-1]))
        if how == "unused":
            return scores.softmax(-1) @ v
        if how == "after":
            return (scores.softmax(-1) * allowed) @ v
        if how == "all_masked":  # masks every key of some queries
            allowed = allowed & (torch.arange(n) > 0)[:, None]
        return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    return f


def _windowed_by_tiles(q, k, v, grid, window):
    """The other way to write it: cut the grid into tiles, attend inside each tile, put the tiles back."""
    b, n, d = q.shape
    m = grid // window

    def tiles(t):  # (B, N, d) -> (B, windows, window², d)
        return t.view(b, m, window, m, window, -1).transpose(2, 3).reshape(b, m * m, window * window, -1)

    out = F.scaled_dot_product_attention(tiles(q), tiles(k), tiles(v))  # (B, windows, window², d_v)
    return out.view(b, m, m, window, window, -1).transpose(2, 3).reshape(b, n, -1)


def test_windowed_attention_solution_and_tiles_pass():
    assert check_windowed_attention(_windowed()) is True
    assert check_windowed_attention(_windowed_by_tiles) is True


@pytest.mark.parametrize("how, match", [
    ("unused", "windows are not used"), ("strips", "consecutive patches in raster order"),
    ("rows", "bands of rows"), ("centred", "centred on itself"), ("inverted", "mask is inverted"),
    ("no_scale", r"1/sqrt\(d\)"), ("after", "after the softmax"), ("count", "side of one window"),
    ("all_masked", "NaNs")])
def test_windowed_attention_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_windowed_attention(_windowed(how))


def test_windowed_attention_wrong_shape():
    with pytest.raises(ExerciseError, match="multiply it by v"):
        check_windowed_attention(lambda q, k, v, g, w: (q @ k.transpose(-2, -1)).softmax(-1))


# ---- 03.4: what windows save ----
def _cost(weights=lambda g, w, D, h: h * g * g * w * w, flops=lambda g, w, D, h: 4 * g * g * w * w * D):
    return lambda g, w, D, h: (weights(g, w, D, h), flops(g, w, D, h))


def test_window_cost_prediction_passes_and_matches_the_count(capsys):
    assert check_window_cost(_cost()) is True
    assert "115,248 weights" in capsys.readouterr().out  # 12 heads x 196 queries x 49 keys


@pytest.mark.parametrize("fn, match", [
    (_cost(weights=lambda g, w, D, h: h * g**4), "full attention's h·n² weights"),
    (_cost(weights=lambda g, w, D, h: h * g * g), "one weight per query and head"),
    (_cost(weights=lambda g, w, D, h: g * g * w * w), "counted one head"),
    (_cost(weights=lambda g, w, D, h: h * g * g * w), "holds window² patches"),
    (_cost(weights=lambda g, w, D, h: h * g * g * w * w + 1), "predicted 115,249 weights, counted 115,248"),
    (_cost(flops=lambda g, w, D, h: 4 * g**4 * D), "full attention's 4 n² D"),
    (_cost(flops=lambda g, w, D, h: 2 * g * g * w * w * D), "a multiply-add is 2 FLOPs"),
    (_cost(flops=lambda g, w, D, h: 4 * g * g * w * w * (D // h)), "head width d"),
    (_cost(flops=lambda g, w, D, h: 4 * g * g * w * D), "holds window² patches"),
    (_cost(flops=lambda g, w, D, h: 4 * g * g * w * w * D + 8 * g * g * D * D), "projections"),
    (lambda g, w, D, h: 4 * g * g * w * w * D, r"two numbers, \(weights, flops\)"),
    (lambda g, w, D, h: ("115k", 1), "should return an int"),
])
def test_window_cost_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        check_window_cost(fn)


def test_window_cost_accepts_whole_floats():
    assert check_window_cost(_cost(flops=lambda g, w, D, h: 4.0 * g * g * w * w * D)) is True
