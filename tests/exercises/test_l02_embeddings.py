"""Lesson 02's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vit_lessons.embeddings import resize_pos_embed, sincos_1d, sincos_2d
from vit_lessons.exercises import (
    ExerciseError,
    check_at_new_size,
    check_rope_2d,
    check_sincos_1d,
    check_sincos_2d,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "02_embeddings"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_embeddings_pass():
    assert check_sincos_1d(sincos_1d) is True


def _angles(n, d, div=None, grow=False, start=0):
    pos = torch.arange(start, start + n, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    freq = 10000 ** (i / (div or d // 2))
    return pos * freq if grow else pos / freq


MISTAKES = {
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
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 02.2: 2-D sin-cos for a rectangular grid ----
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


# ---- 02.3: a trained model at a new image size ----
def _at_new_size(how="ok"):
    def f(model, img_size):
        new = model if how == "in_place" else copy.deepcopy(model)
        old = model.pos_embed.detach().clone()
        new.set_img_size(img_size)
        if how == "rebuild":
            return new  # learned tables interpolated, sin-cos ones rebuilt in new units
        grid = img_size // model.config.patch_size
        kw = {"mode": "bilinear"} if how == "bilinear" else {}
        table = resize_pos_embed(old, grid, **kw)
        if how == "no_cls":
            table = torch.cat([torch.zeros_like(table[:, :1]), table[:, 1:]], dim=1)
        if how == "no_antialias":
            table = resize_pos_embed(old, grid, antialias=False)
        new.pos_embed = nn.Parameter(table) if isinstance(new.pos_embed, nn.Parameter) else table
        if how == "old_size":
            new.set_img_size(model.config.img_size if how != "old_size" else 32)
            new.pos_embed = nn.Parameter(table) if isinstance(new.pos_embed, nn.Parameter) else table
        return new
    return f


@pytest.mark.parametrize("how", ["ok", "no_antialias"])  # upsampling: antialias changes nothing
def test_at_new_size_passes(how):
    assert check_at_new_size(_at_new_size(how)) is True


@pytest.mark.parametrize("how, match", [
    ("rebuild", "rebuilt for the new grid"), ("bilinear", "bilinear"), ("no_cls", "class token's row changed"),
    ("in_place", "was changed"), ("old_size", "cannot read 40 px images")])
def test_at_new_size_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_at_new_size(_at_new_size(how))


def test_at_new_size_returns_a_model():
    with pytest.raises(ExerciseError, match="return the model"):
        check_at_new_size(lambda model, img_size: None)


# ---- 02.4: rotary position embeddings in 2-D ----
def _rope(how="ok"):
    def f(x, rows, cols):
        d = x.shape[-1]
        q = d // 4

        def turn(h, pos):
            t = sincos_1d(int(pos.max()) + 1, 2 * q)[pos]  # (N, D/2): sines, then cosines
            sin, cos = t[:, :q], t[:, q:]
            if how == "minus":
                sin = -sin
            a, b = h[..., :q], h[..., q:]
            if how == "scale":
                return torch.cat([a * cos, b * cos], -1)
            return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)

        if how == "add":
            return x + sincos_2d((int(rows.max()) + 1, int(cols.max()) + 1), d)
        second = {"rows_twice": rows, "swap": rows}.get(how, cols)
        first = cols if how == "swap" else rows
        return torch.cat([turn(x[..., : d // 2], first), turn(x[..., d // 2:], second)], -1)
    return f


def test_rope_2d_passes_and_reports_the_offset(capsys):
    assert check_rope_2d(_rope()) is True
    assert "offset (-1, 3)" in capsys.readouterr().out


@pytest.mark.parametrize("how, match", [
    ("add", "was added"), ("rows_twice", "turned with the row"), ("swap", "swapped"), ("minus", "other way"),
    ("scale", "changed length")])
def test_rope_2d_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_rope_2d(_rope(how))


def test_rope_2d_absolute_mistake_fails_the_invariance():
    # right on the check's grid, but adds a position-dependent bias: the shifted scores give it away
    def shifted(x, rows, cols):
        out = _rope()(x, rows, cols)
        return out if len(rows) > 1 else out + 0.1 * rows.float()[:, None]
    with pytest.raises(ExerciseError, match="changed their score"):
        check_rope_2d(shifted)
