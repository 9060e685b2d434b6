"""Lesson 03's checks: the worked solutions, the package and PyTorch pass, each typical mistake raises its message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.attention import Attention, scaled_dot_product_attention
from vit_lessons.exercises import (
    ExerciseError,
    check_masked_attention,
    check_merge_heads,
    check_multi_head_attention,
    check_scaled_dot_product,
    check_split_heads,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "03_attention"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_and_sdpa_pass():
    assert check_scaled_dot_product(lambda q, k, v: scaled_dot_product_attention(q, k, v)[0]) is True
    assert check_scaled_dot_product(F.scaled_dot_product_attention) is True


def test_multi_head_attention_package_passes():
    def via_package(x, wq, bq, wp, bp, h):
        a = Attention(x.shape[-1], h)
        with torch.no_grad():
            a.qkv.weight.copy_(wq)
            a.qkv.bias.copy_(bq)
            a.proj.weight.copy_(wp)
            a.proj.bias.copy_(bp)
        return a(x)

    assert check_multi_head_attention(via_package) is True


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


def _mha(scale="d", proj=True, bias=True, split="3hd", merge=True):
    def f(x, wq, bq, wp, bp, h):
        B, N, D = x.shape
        d = D // h
        qkv = F.linear(x, wq, bq if bias else None)
        if split == "3hd":
            q, k, v = qkv.view(B, N, 3, h, d).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = qkv.view(B, N, h, 3, d).permute(3, 0, 2, 1, 4)
        sc = {"d": math.sqrt(d), "D": math.sqrt(D), "none": 1.0}[scale]
        out = (q @ k.transpose(-2, -1) / sc).softmax(-1) @ v
        if not merge:
            return out
        out = out.transpose(1, 2).reshape(B, N, D)
        return F.linear(out, wp, bp) if proj else out
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
    check_split_heads: [
        (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), r"add \.transpose\(1, 2\)"),
        (lambda x, h: x.view(x.shape[0], h, x.shape[1], -1), "mixes tokens into the heads"),
        (lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).permute(0, 3, 1, 2), "interleaved"),
        (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).permute(0, 2, 3, 1), "tokens and features are swapped"),
        (lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).transpose(1, 2), "slower-moving"),
    ],
    check_merge_heads: [
        (lambda x: x.reshape(x.shape[0], x.shape[2], -1), "reshaped without transposing"),
        (lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1), "interleaved across heads"),
        (lambda x: x.transpose(1, 2), "not concatenated yet"),
        (lambda x: x.reshape(x.shape[0], x.shape[1], -1), "merged the tokens with the features"),
    ],
    check_multi_head_attention: [
        (_mha(scale="D"), r"sqrt\(D\), the full width"),
        (_mha(scale="none"), "forgot the 1/sqrt"),
        (_mha(proj=False), "forgot the output projection"),
        (_mha(bias=False), "forgot the qkv bias"),
        (_mha(split="h3d"), r"\(h, 3, d\)"),
        (_mha(merge=False), "heads are not merged back"),
        (lambda x, wq, bq, wp, bp, h: F.linear(x, wq, bq), "qkv projection's output"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 03.5: attention with a padding mask ----
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
