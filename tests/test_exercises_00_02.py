"""Self-checks of lessons 00-02, both ways: the worked solution passes, each typical mistake
raises ExerciseError naming that mistake, and an unattempted stub prints "Not attempted"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import load_solution as _load
from conftest import stub as _stub
from einops import rearrange
from torch import nn

from vit_lessons import exercises as ex
from vit_lessons.exercises import ExerciseError


@pytest.fixture(scope="module")
def sol00():
    return _load("00_setup_and_data")


@pytest.fixture(scope="module")
def sol01():
    return _load("01_patches")


@pytest.fixture(scope="module")
def sol02():
    return _load("02_embeddings")




CHECKS = ["check_channel_stats", "check_normalize", "check_to_tensor", "check_patchify", "check_num_tokens",
          "check_unpatchify", "check_linear_to_conv", "check_prepend_class_token", "check_sincos_1d",
          "check_resize_pos_embed"]


@pytest.mark.parametrize("name", CHECKS)
def test_unattempted_stub_prints_not_attempted(name, capsys):
    assert getattr(ex, name)(_stub) is False
    out = capsys.readouterr().out
    assert out.startswith("Not attempted yet"), out


def test_checks_are_exported():
    assert set(CHECKS) <= set(ex.__all__)


# ---- lesson 00 --------------------------------------------------------------------------------
def test_solutions_00_pass(sol00, capsys):
    assert ex.check_channel_stats(sol00.my_channel_stats) is True
    assert ex.check_normalize(sol00.my_normalize) is True
    assert ex.check_to_tensor(sol00.my_to_tensor) is True
    assert capsys.readouterr().out.count("Correct:") == 3


def test_channel_stats_accepts_population_std(capsys):
    x01 = lambda im: im.float() / 255
    assert ex.check_channel_stats(lambda im: (x01(im).mean((0, 2, 3)), x01(im).std((0, 2, 3), unbiased=False)))
    assert "population" in capsys.readouterr().out


def _x01(im):
    return im.float() / 255


@pytest.mark.parametrize("fn, match", [
    (lambda im: (im.float().mean((0, 2, 3)), im.float().std((0, 2, 3))), "255 times too large"),
    (lambda im: (_x01(im).mean().expand(3), _x01(im).std().expand(3)), "averaged over the channels"),
    (lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).var((0, 2, 3))), "variance"),
    (lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).std((2, 3)).mean(0)), "averaged the std of each image"),
    (lambda im: (_x01(im).mean((2, 3)), _x01(im).std((2, 3))), "one value per image and channel"),
    (lambda im: (_x01(im).mean(), _x01(im).std()), "single number"),
    (lambda im: _x01(im).mean((0, 2, 3)), "return two things"),
])
def test_channel_stats_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_channel_stats(fn)


def _norm(scale=True, view=True, divide=True, op="div"):
    def f(im, mean, std):
        x = im.float() / 255 if scale else im.float()
        m, s = torch.tensor(mean), torch.tensor(std)
        if view:
            m, s = m.view(-1, 1, 1), s.view(-1, 1, 1)
        if not divide:
            return x - m
        return (x - m) / s if op == "div" else (x - m) * s
    return f


@pytest.mark.parametrize("fn, match", [
    (_norm(scale=False), "forgot to scale"),
    (_norm(view=False), "broadcast over the last dim"),
    (_norm(divide=False), "did not divide by the std"),
    (_norm(op="mul"), "multiplied by the std"),
    (lambda im, mean, std: im.float() / 255, "only scaled"),
    (lambda im, mean, std: im, "should be a float tensor"),
    (lambda im, mean, std: _norm()(im, mean, std)[0], "shape"),
])
def test_normalize_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_normalize(fn)


@pytest.mark.parametrize("fn, match", [
    (lambda a: torch.from_numpy(a).float() / 255, r"still \(H, W, C\)"),
    (lambda a: torch.from_numpy(a).permute(2, 1, 0).float() / 255, "height and width swapped"),
    (lambda a: torch.from_numpy(a).permute(2, 0, 1).float(), "divide by 255"),
    (lambda a: torch.from_numpy(a).reshape(3, 4, 5).float() / 255, "permute"),
    (lambda a: torch.from_numpy(a).permute(2, 0, 1), "float tensor"),
    (lambda a: np.transpose(a, (2, 0, 1)) / 255, "torch.Tensor"),
])
def test_to_tensor_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_to_tensor(fn)


def test_to_tensor_reference_is_torchvision():
    from torchvision.transforms.functional import to_tensor

    a = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    torch.testing.assert_close(to_tensor(a), torch.from_numpy(a).permute(2, 0, 1).float() / 255, atol=1e-7, rtol=0)


# ---- lesson 01 --------------------------------------------------------------------------------
def test_solutions_01_pass(sol01, capsys):
    assert ex.check_patchify(sol01.my_patchify) is True
    assert ex.check_num_tokens(sol01.my_num_tokens) is True
    assert ex.check_unpatchify(sol01.my_unpatchify) is True
    assert ex.check_linear_to_conv(sol01.my_linear_to_conv) is True
    assert capsys.readouterr().out.count("Correct:") == 4


def test_package_patchify_passes():
    from vit_lessons.patches import patchify, unpatchify

    assert ex.check_patchify(patchify)
    assert ex.check_unpatchify(lambda t, p, c, h, w: unpatchify(t, p, c, height=h))


def _patchify_as(pattern):
    return lambda x, p: rearrange(x, f"b c (h p1) (w p2) -> {pattern}", p1=p, p2=p)


@pytest.mark.parametrize("fn, match", [
    (_patchify_as("b (h w) (c p1 p2)"), r"\(c p1 p2\)"),
    (_patchify_as("b (h w) (p2 p1 c)"), "rows and columns inside each patch are swapped"),
    (_patchify_as("b (w h) (p1 p2 c)"), "column by column"),
    (_patchify_as("b (p1 p2 c) (h w)"), "transposed"),
    (_patchify_as("b h w (p1 p2 c)"), "not flattened"),
    (lambda x, p: x.reshape(x.shape[0], -1, p * p * x.shape[1]), "without permuting"),
    (lambda x, p: x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, p * p * x.shape[1]), "never split H and W"),
])
def test_patchify_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_patchify(fn)


@pytest.mark.parametrize("fn, match", [
    (lambda s, p, c=True: (s // p) ** 2, "forgot the class token"),
    (lambda s, p, c=True: (s // p) ** 2 + 1, "although class_token=False"),
    (lambda s, p, c=True: s // p + int(c), "along one side only"),
    (lambda s, p, c=True: s * s // p + int(c), "not P"),
    (lambda s, p, c=True: (s / p) ** 2 + int(c), "return an int"),
    (lambda s, p, c=True: 7, "should be"),
    (lambda s, p, c=True: "197", "should return an int"),
])
def test_num_tokens_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_num_tokens(fn)


def _unpatchify_as(pattern, swap=False):
    def f(t, p, c, h, w):
        gh, gw = (w // p, h // p) if swap else (h // p, w // p)
        return rearrange(t, f"{pattern} -> b c (h p1) (w p2)", h=gh, w=gw, p1=p, p2=p)
    return f


@pytest.mark.parametrize("fn, match", [
    (_unpatchify_as("b (h w) (c p1 p2)"), r"read as \(c p1 p2\)"),
    (_unpatchify_as("b (w h) (p1 p2 c)"), "column by column"),
    (_unpatchify_as("b (h w) (p1 p2 c)", swap=True), "height and width swapped"),
    (lambda t, p, c, h, w: t.reshape(t.shape[0], c, h, w), "without permuting"),
    (lambda t, p, c, h, w: rearrange(t, "b (h w) (p1 p2 c) -> b (h p1) (w p2) c", h=h // p, p1=p, p2=p),
     "channels are last"),
])
def test_unpatchify_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_unpatchify(fn)


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


@pytest.mark.parametrize("fn, match", [
    (_to_conv(lambda w, d, p, c: w.reshape(d, c, p, p)), "reshape to \\(D, P, P, C\\) first"),
    (_to_conv(lambda w, d, p, c: w.reshape(d, p, p, c).permute(0, 3, 2, 1)), "p1 and p2 are swapped"),
    (_to_conv(lambda w, d, p, c: w.reshape(d, p, p, c).permute(0, 3, 1, 2), bias=False), "bias"),
    (_to_conv(None, kernel=1), "kernel_size"),
    (lambda lin, p, c: lin, "return an nn.Conv2d"),
    (lambda lin, p, c: nn.Conv2d(c, 2 * lin.out_features, p, p), "channels"),
])
def test_linear_to_conv_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_linear_to_conv(fn)


# ---- lesson 02 --------------------------------------------------------------------------------
def test_solutions_02_pass(sol02, capsys):
    assert ex.check_prepend_class_token(sol02.my_prepend_class_token) is True
    assert ex.check_sincos_1d(sol02.my_sincos_1d) is True
    assert ex.check_resize_pos_embed(sol02.my_resize_pos_embed) is True
    assert capsys.readouterr().out.count("Correct:") == 3


def test_package_embeddings_pass(capsys):
    from vit_lessons.embeddings import resize_pos_embed, sincos_1d

    assert ex.check_sincos_1d(sincos_1d)
    assert ex.check_resize_pos_embed(lambda pe, g: resize_pos_embed(pe, g))  # bicubic, antialias=True
    assert "antialias" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    (lambda x, c: torch.cat([x, c.expand(x.shape[0], -1, -1)], 1), "appended at the end"),
    (lambda x, c: x + c, "added the class token to every patch"),
    (lambda x, c: torch.cat([c, x[:1]], 1), "expand the class token"),
    (lambda x, c: torch.cat([c.expand(x.shape[0], x.shape[1], -1), x], 2), "feature dim"),
    (lambda x, c: torch.cat([c.expand(-1, x.shape[1], -1), x], 0), "batch dim"),
    (lambda x, c: torch.cat([c.data.expand(x.shape[0], -1, -1), x], 1), "no gradient"),
])
def test_prepend_class_token_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_prepend_class_token(fn)


def _angles(n, d, div=None, grow=False, start=0):
    pos = torch.arange(start, start + n, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    freq = 10000 ** (i / (div or d // 2))
    return pos * freq if grow else pos / freq


@pytest.mark.parametrize("fn, match", [
    (lambda n, d: torch.stack([_angles(n, d).sin(), _angles(n, d).cos()], -1).reshape(n, d).float(), "interleaved"),
    (lambda n, d: torch.cat([_angles(n, d).cos(), _angles(n, d).sin()], 1).float(), "cosines first"),
    (lambda n, d: torch.cat([_angles(n, d, div=d).sin(), _angles(n, d, div=d).cos()], 1).float(), "divided by D"),
    (lambda n, d: torch.cat([_angles(n, d, start=1).sin(), _angles(n, d, start=1).cos()], 1).float(), "start at 1"),
    (lambda n, d: torch.cat([_angles(n, d, grow=True).sin(), _angles(n, d, grow=True).cos()], 1).float(), "grow"),
    (lambda n, d: _angles(n, d).sin().float(), "only half"),
    (lambda n, d: torch.cat([_angles(n, d).sin(), _angles(n, d).cos()], 1).float().T, "transposed"),
])
def test_sincos_1d_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_sincos_1d(fn)


def _resize(mode="bicubic", keep_cls=True, layout="ok", align_corners=False):
    def f(pe, new):
        cls, grid = pe[:, :1], pe[:, 1:]
        d = grid.shape[-1]
        g = int(grid.shape[1] ** 0.5)
        if layout == "reshape":
            grid = grid.reshape(1, d, g, g)
        else:
            grid = grid.reshape(1, g, g, d).permute(0, 3, 1, 2)
            if layout == "transpose":
                grid = grid.transpose(2, 3)
        kw = {} if mode == "nearest" else {"align_corners": align_corners}
        grid = F.interpolate(grid, size=(new, new), mode=mode, **kw)
        grid = grid.permute(0, 2, 3, 1).reshape(1, new * new, d)
        return torch.cat([cls, grid], 1) if keep_cls else grid
    return f


@pytest.mark.parametrize("fn, match", [
    (_resize(keep_cls=False), "class token's embedding is missing"),
    (_resize(layout="reshape"), "reshaped \\(1, N, D\\) straight"),
    (_resize(layout="transpose"), "rows and columns are swapped"),
    (_resize(mode="bilinear"), "bilinear"),
    (_resize(mode="nearest"), "nearest"),
    (_resize(align_corners=True), "align_corners"),
    (lambda pe, new: torch.zeros(1, pe.shape[-1], new, new), "image layout"),
])
def test_resize_pos_embed_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_resize_pos_embed(fn)
