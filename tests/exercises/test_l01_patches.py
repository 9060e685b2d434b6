"""Lesson 01's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vit_lessons.exercises import (
    ExerciseError,
    check_linear_to_conv,
    check_num_tokens,
    check_overlapping_patches,
    check_patchify,
    check_unpatchify,
)
from vit_lessons.patches import patchify, unpatchify

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "01_patches"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_patchify_passes():
    assert check_patchify(patchify) is True
    assert check_unpatchify(lambda t, p, c, h, w: unpatchify(t, p, c, height=h)) is True


def _patchify_as(pattern):
    return lambda x, p: rearrange(x, f"b c (h p1) (w p2) -> {pattern}", p1=p, p2=p)


def _unpatchify_as(pattern, swap=False):
    def f(t, p, c, h, w):
        gh, gw = (w // p, h // p) if swap else (h // p, w // p)
        return rearrange(t, f"{pattern} -> b c (h p1) (w p2)", h=gh, w=gw, p1=p, p2=p)
    return f


def _to_conv(weight_fn, bias=True, kernel=None):
    def f(lin, p, c):
        d = lin.out_features
        conv = nn.Conv2d(c, d, kernel_size=kernel or p, stride=kernel or p, bias=bias)
        with torch.no_grad():
            if kernel is None:
                conv.weight.copy_(weight_fn(lin.weight, d, p, c))
            if bias:
                conv.bias.copy_(lin.bias)
        return conv
    return f


MISTAKES = {
    check_patchify: [
        (_patchify_as("b (h w) (c p1 p2)"), r"\(c p1 p2\)"),
        (_patchify_as("b (h w) (p2 p1 c)"), "rows and columns inside each patch are swapped"),
        (_patchify_as("b (w h) (p1 p2 c)"), "column by column"),
        (_patchify_as("b (p1 p2 c) (h w)"), "transposed"),
        (_patchify_as("b h w (p1 p2 c)"), "not flattened"),
        (lambda x, p: x.reshape(x.shape[0], -1, p * p * x.shape[1]), "without permuting"),
        (lambda x, p: x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, p * p * x.shape[1]), "never split H and W"),
    ],
    check_num_tokens: [
        (lambda s, p, c=True: (s // p) ** 2, "forgot the class token"),
        (lambda s, p, c=True: (s // p) ** 2 + 1, "although class_token=False"),
        (lambda s, p, c=True: s // p + int(c), "along one side only"),
        (lambda s, p, c=True: s * s // p + int(c), "not P"),
        (lambda s, p, c=True: (s / p) ** 2 + int(c), "return an int"),
        (lambda s, p, c=True: 7, "should be"),
        (lambda s, p, c=True: "197", "should return an int"),
    ],
    check_unpatchify: [
        (_unpatchify_as("b (h w) (c p1 p2)"), r"read as \(c p1 p2\)"),
        (_unpatchify_as("b (w h) (p1 p2 c)"), "column by column"),
        (_unpatchify_as("b (h w) (p1 p2 c)", swap=True), "height and width swapped"),
        (lambda t, p, c, h, w: t.reshape(t.shape[0], c, h, w), "without permuting"),
        (lambda t, p, c, h, w: rearrange(t, "b (h w) (p1 p2 c) -> b (h p1) (w p2) c", h=h // p, p1=p, p2=p),
         "channels are last"),
    ],
    check_linear_to_conv: [
        (_to_conv(lambda w, d, p, c: w.reshape(d, c, p, p)), "reshape to \\(D, P, P, C\\) first"),
        (_to_conv(lambda w, d, p, c: w.reshape(d, p, p, c).permute(0, 3, 2, 1)), "p1 and p2 are swapped"),
        (_to_conv(lambda w, d, p, c: w.reshape(d, p, p, c).permute(0, 3, 1, 2), bias=False), "bias"),
        (_to_conv(None, kernel=1), "kernel_size"),
        (lambda lin, p, c: lin, "return an nn.Conv2d"),
        (lambda lin, p, c: nn.Conv2d(c, 2 * lin.out_features, p, p), "channels"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 01.5: overlapping patches with unfold ----
def _overlap(how="ok"):

    def f(x, p, s):
        cols = F.unfold(x, kernel_size=p, stride=p if how == "no_stride" else s)  # (B, C*P*P, N)
        if how == "not_transposed":
            return cols
        cols = cols.transpose(1, 2)  # (B, N, C*P*P)
        if how == "cpp":
            return cols
        if how == "swap_inside":
            return rearrange(cols, "b n (c p1 p2) -> b n (p2 p1 c)", p1=p, p2=p)
        out = rearrange(cols, "b n (c p1 p2) -> b n (p1 p2 c)", p1=p, p2=p)
        if how == "col_major":
            gh, gw = (x.shape[2] - p) // s + 1, (x.shape[3] - p) // s + 1
            out = rearrange(out, "b (h w) k -> b (w h) k", h=gh, w=gw)
        return out
    return f


def test_overlapping_patches_solution_and_package_at_stride_p():

    assert check_overlapping_patches(_overlap()) is True
    x = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_overlap()(x, 4, 4), patchify(x, 4), atol=0, rtol=0)  # stride P: plain patches


@pytest.mark.parametrize("how, match", [
    ("not_transposed", r"transpose\(1, 2\)"), ("no_stride", "non-overlapping patches"),
    ("cpp", r"\(c p1 p2\), F.unfold's order"), ("col_major", "column by column"),
    ("swap_inside", "rows and columns are swapped")])
def test_overlapping_patches_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_overlapping_patches(_overlap(how))
