"""Lesson 04's checks: the worked solutions and PyTorch pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.blocks import DropPath
from vit_lessons.exercises import (
    ExerciseError,
    check_block_cost,
    check_drop_path,
    check_layer_norm,
    check_layerscale_block,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "04_encoder_block"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_versions_pass():
    assert check_layer_norm(lambda x, w, b, eps: F.layer_norm(x, (x.shape[-1],), w, b, eps)) is True
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


# ---- 04.2: a block's parameters and FLOPs ----
def _cost(norms=2, qkv=3, proj=True, mlp_layers=2, biases=True, hidden=None, macs=False, attn_products=2,
          attn_width="D", uses_heads=False):
    def f(dim, heads, ratio, n):
        hid = int(dim * ratio) if hidden is None else hidden(dim)
        b = 1 if biases else 0
        p = norms * 2 * dim + qkv * (dim * dim + b * dim) + (dim * dim + b * dim if proj else 0)
        p += (dim * hid + b * hid) + ((hid * dim + b * dim) if mlp_layers == 2 else 0)
        width = dim // heads if attn_width == "d" else dim
        fl = 2 * n * (qkv * dim * dim + (dim * dim if proj else 0) + mlp_layers * dim * hid)
        fl += attn_products * 2 * n * n * width
        if uses_heads:
            p += heads
        return p, fl // 2 if macs else fl
    return f


def test_block_cost_prediction_passes(capsys):
    assert check_block_cost(_cost()) is True
    assert "7,087,872 parameters" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (_cost(norms=0), "forgot the two LayerNorms"),
    (_cost(norms=1), "counted one LayerNorm"),
    (_cost(biases=False), "forgot the biases"),
    (_cost(qkv=1), "counted the qkv projection as D x D"),
    (_cost(proj=False), "output projection"),
    (_cost(mlp_layers=1), "only one MLP layer"),
    (_cost(hidden=lambda d: 4 * d), "hidden width of 4D"),
    (_cost(uses_heads=True), "neither the parameters nor the FLOPs"),
    (_cost(macs=True), "a multiply-add is 2 FLOPs"),
    (_cost(attn_products=0), "forgot attention's two n x n products"),
    (_cost(attn_products=1), "counted one of attention's two"),
    (_cost(attn_width="d"), "for one head"),
    (lambda dim, h, r, n: (_cost()(dim, h, r, n)[0], 2 * n * _cost()(dim, h, r, n)[0]), "2 FLOPs per parameter"),
    (lambda dim, h, r, n: (_cost()(dim, h, r, n)[0], _cost()(dim, h, r, n)[1] + 1), "predicted 2,907,909,121 FLOPs"),
    (lambda dim, h, r, n: _cost()(dim, h, r, n)[0], r"two numbers, \(params, flops\)"),
    (lambda dim, h, r, n: (12.5, 0), "should return an int"),
])
def test_block_cost_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        check_block_cost(fn)


def test_block_cost_mlp_and_qkv_flop_mistakes():
    def flops_off(delta):
        return lambda dim, h, r, n: (_cost()(dim, h, r, n)[0], _cost()(dim, h, r, n)[1] - delta(dim, int(dim * r), n))

    for delta, match in ((lambda d, hid, n: 4 * n * d * hid, "forgot the MLP"),
                         (lambda d, hid, n: 4 * n * d * d, "counted qkv as D -> D"),
                         (lambda d, hid, n: 2 * n * d * d, "forgot the output projection")):
        with pytest.raises(ExerciseError, match=match):
            check_block_cost(flops_off(delta))


# ---- 04.3: LayerScale ----
def _ls(where="out", swap=False, first=True, second=True, scalar=False, residual=True, parallel=False):
    def f(b, x, g1, g2):
        if swap:
            g1, g2 = g2, g1
        if scalar:
            g1, g2 = g1.mean(), g2.mean()
        g1 = g1 if first else torch.ones_like(g1)
        g2 = g2 if second else torch.ones_like(g2)
        if parallel:
            return x + g1 * b.attn(b.norm1(x)) + g2 * b.mlp(b.norm2(x))
        if where == "stream":
            h = g1 * (x + b.attn(b.norm1(x)))
            return g2 * (h + b.mlp(b.norm2(h)))
        if where == "input":
            h = x + b.attn(b.norm1(g1 * x))
            return h + b.mlp(b.norm2(g2 * h))
        if where == "normed":
            h = x + b.attn(g1 * b.norm1(x))
            return h + b.mlp(g2 * b.norm2(h))
        h = (x if residual else 0) + g1 * b.attn(b.norm1(x))
        return h + g2 * b.mlp(b.norm2(h))
    return f


def _timm_layerscale(b, x, g1, g2):
    """timm's LayerScale modules around the package's block parts: the same computation, written as modules."""
    from timm.layers import LayerScale

    ls1, ls2 = LayerScale(x.shape[-1]), LayerScale(x.shape[-1])
    with torch.no_grad():
        ls1.gamma.copy_(g1)
        ls2.gamma.copy_(g2)
    x = x + ls1(b.attn(b.norm1(x)))
    return x + ls2(b.mlp(b.norm2(x)))


def test_layerscale_solution_and_timm_pass(capsys):
    assert check_layerscale_block(_ls()) is True
    assert check_layerscale_block(_timm_layerscale) is True
    assert "changes its input by" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (lambda b, x, g1, g2: b(x), "not used: this is the plain pre-norm block"),
    (_ls(where="stream"), "scaled the whole stream"),
    (_ls(where="input"), "scaled the branch's input"),
    (_ls(where="normed"), "scaled the normalised input"),
    (_ls(swap=True), "swapped the two"),
    (_ls(second=False), "forgot gamma2"),
    (_ls(first=False), "forgot gamma1"),
    (_ls(scalar=True), "one number per branch"),
    (_ls(parallel=True), "read the block's input"),
    (_ls(residual=False), "forgot the residual around attention"),
    (lambda b, x, g1, g2: _ls()(b, x, g1, g2)[:, 0], "has shape"),
])
def test_layerscale_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        check_layerscale_block(fn)
