"""Lesson 02's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.embeddings import resize_pos_embed, sincos_1d, sincos_2d
from vit_lessons.exercises import (
    ExerciseError,
    check_prepend_class_token,
    check_resize_pos_embed,
    check_sincos_1d,
    check_sincos_2d,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "02_embeddings"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_embeddings_pass(capsys):
    assert check_sincos_1d(sincos_1d) is True
    assert check_resize_pos_embed(lambda pe, g: resize_pos_embed(pe, g)) is True  # bicubic, antialias=True
    assert "antialias" in capsys.readouterr().out


def _angles(n, d, div=None, grow=False, start=0):
    pos = torch.arange(start, start + n, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    freq = 10000 ** (i / (div or d // 2))
    return pos * freq if grow else pos / freq


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


MISTAKES = {
    check_prepend_class_token: [
        (lambda x, c: torch.cat([x, c.expand(x.shape[0], -1, -1)], 1), "appended at the end"),
        (lambda x, c: x + c, "added the class token to every patch"),
        (lambda x, c: torch.cat([c, x[:1]], 1), "expand the class token"),
        (lambda x, c: torch.cat([c.expand(x.shape[0], x.shape[1], -1), x], 2), "feature dim"),
        (lambda x, c: torch.cat([c.expand(-1, x.shape[1], -1), x], 0), "batch dim"),
        (lambda x, c: torch.cat([c.data.expand(x.shape[0], -1, -1), x], 1), "no gradient"),
    ],
    check_sincos_1d: [
        (lambda n, d: torch.stack([_angles(n, d).sin(), _angles(n, d).cos()], -1).reshape(n, d).float(),
         "interleaved"),
        (lambda n, d: torch.cat([_angles(n, d).cos(), _angles(n, d).sin()], 1).float(), "cosines first"),
        (lambda n, d: torch.cat([_angles(n, d, div=d).sin(), _angles(n, d, div=d).cos()], 1).float(), "divided by D"),
        (lambda n, d: torch.cat([_angles(n, d, start=1).sin(), _angles(n, d, start=1).cos()], 1).float(),
         "start at 1"),
        (lambda n, d: torch.cat([_angles(n, d, grow=True).sin(), _angles(n, d, grow=True).cos()], 1).float(),
         "grow"),
        (lambda n, d: _angles(n, d).sin().float(), "only half"),
        (lambda n, d: torch.cat([_angles(n, d).sin(), _angles(n, d).cos()], 1).float().T, "transposed"),
    ],
    check_resize_pos_embed: [
        (_resize(keep_cls=False), "class token's embedding is missing"),
        (_resize(layout="reshape"), r"straight to \(1, D, g, g\)"),
        (_resize(layout="transpose"), "rows and columns are swapped"),
        (_resize(mode="bilinear"), "bilinear"),
        (_resize(mode="nearest"), "nearest"),
        (_resize(align_corners=True), "align_corners"),
        (lambda pe, new: torch.zeros(1, pe.shape[-1], new, new), "image layout"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 02.4: 2-D sin-cos from the 1-D table ----
def _sc2d(how="ok"):
    def f(gh, gw, d):
        half = d if how == "full_width" else d // 2
        r, c = sincos_1d(gh, half), sincos_1d(gw, half)
        r, c = r[:, None].expand(gh, gw, -1), c[None].expand(gh, gw, -1)
        if how == "cols_first":
            r, c = c, r
        grid = torch.stack([r, c], -1).reshape(gh, gw, -1) if how == "interleave" else torch.cat([r, c], -1)
        if how == "grid":
            return grid
        if how == "col_major":
            return grid.transpose(0, 1).reshape(gh * gw, -1)
        return grid.reshape(gh * gw, -1)
    return f


def test_sincos_2d_solution_and_package():
    assert check_sincos_2d(_sc2d()) is True
    assert check_sincos_2d(lambda gh, gw, d: sincos_2d((gh, gw), d)) is True


@pytest.mark.parametrize("how, match", [
    ("cols_first", "column code comes first"), ("col_major", "column by column"),
    ("interleave", "interleaved"), ("grid", "still a grid"), ("full_width", "width dim/2")])
def test_sincos_2d_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_sincos_2d(_sc2d(how))
