"""Lesson 01's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vit_lessons.exercises import (
    ExerciseError,
    check_inflate,
    check_num_patches,
    check_overlapping_patches,
    check_patchify,
    check_tubelets,
)
from vit_lessons.patches import patchify

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "01_patches"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_patchify_passes():
    assert check_patchify(patchify) is True


def _patchify_as(pattern):
    return lambda x, p: rearrange(x, f"b c (h p1) (w p2) -> {pattern}", p1=p, p2=p)


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


# ---- 01.2: N after padding or cropping ----
def _n(how="ok"):
    def f(h, w, p, mode):
        up = (mode == "pad") != (how == "swap")
        if how == "extra" and mode == "pad":
            return (h // p + 1) * (w // p + 1)
        if how == "round":
            return round(h / p) * round(w / p)
        if how == "area":
            return -(-(h * w) // (p * p)) if mode == "pad" else h * w // (p * p)
        if how == "float":
            return float(h // p * (w // p))
        n = (-(-h // p)) * (-(-w // p)) if up else (h // p) * (w // p)
        return n + (1 if how == "cls" else 0) + (1 if how == "odd" and (h, w) == (6, 30) else 0)
    return f


def test_num_patches_passes_and_is_counted(capsys):
    assert check_num_patches(_n()) is True
    assert "15 cropped, 24 padded" in capsys.readouterr().out  # 30 x 45, P = 8: 3 x 5 and 4 x 6
    assert check_num_patches(lambda h, w, p, m: torch.tensor(_n()(h, w, p, m))) is True  # a 0-d tensor is an int


@pytest.mark.parametrize("how, match", [
    ("swap", "swapped"), ("extra", r"\(-H\) % P"), ("round", "round"), ("area", "cannot straddle"),
    ("cls", "class token"), ("float", "return an int"), ("odd", r"num_patches\(6, 30, 8, 'pad'\) = 5, but padding")])
def test_num_patches_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_num_patches(_n(how))


# ---- 01.3: tubelets of a clip, three ways ----
def _tubes_reshape(v, t, p):
    b, c, tt, h, w = v.shape
    x = v.reshape(b, c, tt // t, t, h // p, p, w // p, p).permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, -1, t * p * p * c)


def _tubes_unfold(v, t, p):
    x = v.unfold(2, t, t).unfold(3, p, p).unfold(4, p, p)  # (B, C, T/t, H/P, W/P, t, P, P)
    return x.permute(0, 2, 3, 4, 5, 6, 7, 1).flatten(1, 3).flatten(2)


def _tubes_conv(v, t, p):
    c = v.shape[1]
    k = t * p * p * c
    eye = torch.eye(k).reshape(k, t, p, p, c).permute(0, 4, 1, 2, 3)  # one kernel per (pt p1 p2 c) entry
    return F.conv3d(v, eye, stride=(t, p, p)).flatten(2).transpose(1, 2)  # (B, N, t*P*P*C)


@pytest.mark.parametrize("way", [_tubes_reshape, _tubes_unfold, _tubes_conv])
def test_tubelets_three_ways_pass(way):
    assert check_tubelets(way) is True


@pytest.mark.parametrize("pattern, match", [
    ("b (nt nh nw) (c pt p1 p2)", r"\(c pt p1 p2\)"), ("b (nh nw nt) (pt p1 p2 c)", "time first"),
    ("b (nt nh nw) (p1 p2 pt c)", "frame index goes first"), ("b (nt nw nh) (pt p1 p2 c)", "column by column"),
    ("b (pt p1 p2 c) (nt nh nw)", r"transpose\(1, 2\)"), ("b nt nh nw (pt p1 p2 c)", "not flattened")])
def test_tubelets_mistakes(pattern, match):
    f = lambda v, t, p: rearrange(v, f"b c (nt pt) (nh p1) (nw p2) -> {pattern}", pt=t, p1=p, p2=p)  # noqa: E731
    with pytest.raises(ExerciseError, match=match):
        check_tubelets(f)


def test_tubelets_frame_by_frame_and_wrong_layout_named():
    frames = lambda v, t, p: rearrange(v, "b c tt (nh p1) (nw p2) -> b (tt nh nw) (p1 p2 c)", p1=p, p2=p)  # noqa: E731
    with pytest.raises(ExerciseError, match="uniform frame sampling"):
        check_tubelets(frames)
    swapped = lambda v, t, p: rearrange(v, "b (nt pt) c (nh p1) (nw p2) -> b (nt nh nw) (pt p1 p2 c)",  # noqa: E731
                                        pt=t, p1=p, p2=p)
    with pytest.raises(ExerciseError, match=r"read as \(B, T, C, H, W\)"):
        check_tubelets(swapped)


# ---- 01.4: a patch embedding inflated to tubelets ----
def _inflate(how="ok"):
    def f(conv, t):
        d, c, p = conv.out_channels, conv.in_channels, conv.kernel_size[0]
        kernel = (p, p, t) if how == "time_last" else (t, p, p)
        conv3d = nn.Conv3d(c, d, kernel_size=kernel, stride=(1, p, p) if how == "stride" else kernel,
                           bias=how != "no_bias")
        w = conv.weight.detach()
        with torch.no_grad():
            if how == "time_last":
                conv3d.weight.copy_(w.unsqueeze(-1).repeat(1, 1, 1, 1, t) / t)
            elif how == "central":
                conv3d.weight.zero_()
                conv3d.weight[:, :, t // 2] = w
            elif how == "first_frame":
                conv3d.weight.zero_()
                conv3d.weight[:, :, 0] = w
            else:
                scale = {"no_div": 1, "div_twice": t * t}.get(how, t)
                conv3d.weight.copy_(w.unsqueeze(2).repeat(1, 1, t, 1, 1) / scale)
            if how != "no_bias":
                conv3d.bias.copy_(conv.bias / t if how == "bias_div" else conv.bias)
        if how == "in_place":
            conv.bias.data.zero_()
        return conv3d
    return f


@pytest.mark.parametrize("how, kind", [("ok", "Eq. 8"), ("central", "Eq. 9"), ("first_frame", "neither")])
def test_inflate_accepts_every_split_a_still_clip_cannot_tell(how, kind, capsys):
    assert check_inflate(_inflate(how)) is True
    assert kind in capsys.readouterr().out


@pytest.mark.parametrize("how, match", [
    ("no_div", "divide the repeated filter by t"), ("div_twice", "divided by t twice"), ("time_last", "time last"),
    ("stride", "neither overlap"), ("no_bias", "no bias"), ("bias_div", "added once per token"),
    ("in_place", "Conv2d was changed")])
def test_inflate_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_inflate(_inflate(how))


def test_inflate_returns_a_conv3d():
    with pytest.raises(ExerciseError, match="return an nn.Conv3d"):
        check_inflate(lambda conv, t: conv)
