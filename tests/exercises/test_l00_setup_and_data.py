"""Lesson 00's checks: the worked solutions pass and each typical mistake raises its specific message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.functional import to_tensor

from vit_lessons.exercises import (
    ExerciseError,
    check_channel_stats,
    check_normalize,
    check_streaming_stats,
    check_to_tensor,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "00_setup_and_data"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_channel_stats_accepts_population_std(capsys):
    assert check_channel_stats(lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).std((0, 2, 3), unbiased=False)))
    assert "population" in capsys.readouterr().out


def test_to_tensor_reference_is_torchvision():
    a = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    torch.testing.assert_close(to_tensor(a), torch.from_numpy(a).permute(2, 0, 1).float() / 255, atol=1e-7, rtol=0)


def _x01(im):
    return im.float() / 255


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


MISTAKES = {
    check_channel_stats: [
        (lambda im: (im.float().mean((0, 2, 3)), im.float().std((0, 2, 3))), "255 times too large"),
        (lambda im: (_x01(im).mean().expand(3), _x01(im).std().expand(3)), "averaged over the channels"),
        (lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).var((0, 2, 3))), "variance"),
        (lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).std((2, 3)).mean(0)), "averaged the std of each image"),
        (lambda im: (_x01(im).mean((2, 3)), _x01(im).std((2, 3))), "one value per image and channel"),
        (lambda im: (_x01(im).mean(), _x01(im).std()), "single number"),
        (lambda im: _x01(im).mean((0, 2, 3)), "return two things"),
    ],
    check_normalize: [
        (_norm(scale=False), "forgot to scale"),
        (_norm(view=False), "broadcast over the last dim"),
        (_norm(divide=False), "did not divide by the std"),
        (_norm(op="mul"), "multiplied by the std"),
        (lambda im, mean, std: im.float() / 255, "only scaled"),
        (lambda im, mean, std: im, "should be a float tensor"),
        (lambda im, mean, std: _norm()(im, mean, std)[0], "shape"),
    ],
    check_to_tensor: [
        (lambda a: torch.from_numpy(a).float() / 255, r"still \(H, W, C\)"),
        (lambda a: torch.from_numpy(a).permute(2, 1, 0).float() / 255, "height and width swapped"),
        (lambda a: torch.from_numpy(a).permute(2, 0, 1).float(), "divide by 255"),
        (lambda a: torch.from_numpy(a).reshape(3, 4, 5).float() / 255, "permute"),
        (lambda a: torch.from_numpy(a).permute(2, 0, 1), "float tensor"),
        (lambda a: np.transpose(a, (2, 0, 1)) / 255, "torch.Tensor"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 00.4: statistics from batches of different sizes ----
def _stream(how="ok"):
    def f(batches):
        batches = [b.double() / (1 if how == "raw" else 255) for b in batches]
        if how == "avg_std":
            return (torch.cat(batches).mean((0, 2, 3)), torch.stack([b.std((0, 2, 3)) for b in batches]).mean(0))
        if how == "avg_mean":
            means = torch.stack([b.mean((0, 2, 3)) for b in batches]).mean(0)
            return means, torch.cat(batches).std((0, 2, 3))
        x = torch.cat(batches)
        if how == "population":
            return x.mean((0, 2, 3)), x.std((0, 2, 3), correction=0)
        if how == "scalar":
            return x.mean(), x.std()
        if how == "one":
            return x.mean((0, 2, 3))
        return x.mean((0, 2, 3)), x.std((0, 2, 3))
    return f


def test_streaming_stats_reads_the_batches_once(capsys):
    assert check_streaming_stats(_stream()) is True  # cat of an iterator reads it once


@pytest.mark.parametrize("how, match", [
    ("avg_std", "averaged the standard deviations"), ("avg_mean", "averaged the batch means"),
    ("population", "population std"), ("raw", "0..255 units"), ("scalar", "one number for all channels"),
    ("one", r"return a pair \(mean, std\)")])
def test_streaming_stats_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_streaming_stats(_stream(how))
