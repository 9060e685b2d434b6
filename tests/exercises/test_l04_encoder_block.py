"""Lesson 04's checks: the worked solutions and PyTorch pass, each typical mistake raises its message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.blocks import DropPath
from vit_lessons.exercises import (
    ExerciseError,
    check_block_params,
    check_drop_path,
    check_gelu,
    check_layer_norm,
    check_pre_norm_block,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "04_encoder_block"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_versions_pass():
    assert check_layer_norm(lambda x, w, b, eps: F.layer_norm(x, (x.shape[-1],), w, b, eps)) is True
    assert check_gelu(F.gelu) is True
    assert check_pre_norm_block(lambda blk, x: blk(x)) is True
    assert check_drop_path(lambda x, p, training: DropPath(p).train(training)(x)) is True


def _ln(unbiased=False, eps_where="inside", eps=None, affine="both", mean=True, dim=-1):
    def f(x, w, b, e):
        e = e if eps is None else eps
        mu = x.mean(dim, keepdim=True) if mean else 0
        var = x.var(dim, keepdim=True, unbiased=unbiased)
        y = (x - mu) / (torch.sqrt(var + e) if eps_where == "inside" else
                        torch.sqrt(var) + e if eps_where == "outside" else torch.sqrt(var))
        return y * w + b if affine == "both" else y * w if affine == "weight" else y
    return f


def _dp(per="sample", scale="divide", keep_prob="1-p", eval_identity=True, mask_dims=None, inplace=False):
    def f(x, p, training):
        if (not training and eval_identity) or p == 0:
            return x
        shape = x.shape if per == "number" else (x.shape[0],) + (1,) * ((mask_dims or x.ndim) - 1)
        keep = (torch.rand(shape) >= p if keep_prob == "1-p" else torch.rand(shape) < p).to(x.dtype)
        s = {"divide": 1 / (1 - p), "none": 1.0, "multiply": 1 - p}[scale]
        if inplace:
            return x.mul_(keep * s)
        return x * keep * s
    return f


def _post(b, x):
    x = b.norm1(x + b.attn(x))
    return b.norm2(x + b.mlp(x))


def _bp(norms=2, qkv=3, proj=True, mlp_layers=2, biases=True, as_float=False):
    def f(dim, ratio=4.0):
        hid = int(dim * ratio)
        b = 1 if biases else 0
        n = norms * 2 * dim + qkv * (dim * dim + b * dim) + (dim * dim + b * dim if proj else 0)
        n += (dim * hid + b * hid) + ((hid * dim + b * dim) if mlp_layers == 2 else 0)
        return float(n) + 0.5 if as_float else n
    return f


MISTAKES = {
    check_layer_norm: [
        (_ln(unbiased=True), "unbiased variance"),
        (_ln(eps_where="none"), "forgot eps"),
        (_ln(eps_where="outside"), "inside the square root"),
        (_ln(eps=1e-5), "PyTorch's default"),
        (_ln(affine="none"), "forgot the learned scale and shift"),
        (_ln(affine="weight"), "forgot the bias"),
        (_ln(mean=False), "subtract the mean"),
        (_ln(dim=0), "like BatchNorm"),
        (_ln(dim=-2), "over the tokens"),
        (lambda x, w, b, e: x.mean(-1, keepdim=True), "one number per token"),
    ],
    check_gelu: [
        (lambda x: F.gelu(x, approximate="tanh"), "tanh approximation"),
        (lambda x: x * torch.sigmoid(1.702 * x), "sigmoid approximation"),
        (lambda x: x * 0.5 * (1 + torch.erf(x)), r"divide by sqrt\(2\)"),
        (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), r"Phi\(x\) alone"),
        (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "factor 1/2"),
        (torch.relu, "ReLU"),
    ],
    check_pre_norm_block: [
        (_post, "post-norm"),
        (lambda b, x: (lambda h: h + b.mlp(b.norm2(h)))(b.attn(b.norm1(x))), "residual around attention"),
        (lambda b, x: b.mlp(b.norm2(x + b.attn(b.norm1(x)))), "residual around the MLP"),
        (lambda b, x: (lambda y: y + b.mlp(b.norm2(y)))(b.norm1(x) + b.attn(b.norm1(x))), "normalised the residual"),
        (lambda b, x: (lambda h: h + b.mlp(b.norm1(h)))(x + b.attn(b.norm1(x))), "has its own norm2"),
        (lambda b, x: (lambda y: y + b.attn(b.norm1(y)))(x + b.mlp(b.norm2(x))), "MLP before attention"),
        (lambda b, x: x + b.attn(b.norm1(x)), "forgot the MLP"),
        (lambda b, x: x + b.attn(b.norm1(x)) + b.mlp(b.norm2(x)), "read the block's input"),
    ],
    check_block_params: [
        (_bp(norms=0), "forgot the two LayerNorms"),
        (_bp(norms=1), "counted one LayerNorm"),
        (_bp(biases=False), "forgot the biases"),
        (_bp(qkv=1), "counted the qkv projection as D x D"),
        (_bp(proj=False), "output projection"),
        (_bp(mlp_layers=1), "only one MLP layer"),
        (_bp(as_float=True), "should return an int"),
        (lambda dim, ratio=4.0: 12 * dim * dim + 13 * dim, r"block_params\(96, 2.0\)"),  # right only for ratio 4
    ],
    check_drop_path: [
        (_dp(per="number"), "that is dropout"),
        (_dp(scale="none"), "forgot to scale"),
        (_dp(scale="multiply"), "multiplied the kept samples by 1 - p"),
        (_dp(keep_prob="p"), "keep with probability 1 - p"),
        (_dp(eval_identity=False), "outside training drop path is the identity"),
        (_dp(mask_dims=3), r"\(B, C, H, W\) feature map it fails"),
        (_dp(inplace=True), "in place"),
        (lambda x, p, training: x if not training or p == 0 else x * 0, "with p = 0.25 about 25%"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)
