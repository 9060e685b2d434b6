"""Lesson 00's checks: the worked solutions pass and each typical mistake raises its specific message."""

from __future__ import annotations

import pytest
import torch

from vit_lessons.exercises import (
    ExerciseError,
    check_channel_stats,
    check_predict_normalised_stats,
    check_streaming_stats,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "00_setup_and_data"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_channel_stats_accepts_population_std(capsys):
    assert check_channel_stats(lambda im: (_x01(im).mean((0, 2, 3)), _x01(im).std((0, 2, 3), unbiased=False)))
    assert "population" in capsys.readouterr().out


def _x01(im):
    return im.float() / 255


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
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


# ---- 00.3: statistics from batches of different sizes ----
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


# ---- 00.2: predicting the statistics of a (wrongly) normalised batch ----
def _predict(how="ok"):
    def f(data_mean, data_std, mean, std, divide_by_255=True):
        mu, sd, m, s = (torch.as_tensor(v, dtype=torch.float64) for v in (data_mean, data_std, mean, std))
        k = 1.0 if divide_by_255 or how == "no_255" else 255.0
        if how == "no_255_after":
            return (1.0 if divide_by_255 else 255.0) * (mu - m) / s, (1.0 if divide_by_255 else 255.0) * sd / s
        mean_z = {"sign": (m - k * mu) / s, "no_div": k * mu - m}.get(how, (k * mu - m) / s)
        std_z = {"shift": (k * sd - m) / s, "no_div_std": k * sd, "var": (k * sd / s) ** 2}.get(how, k * sd / s)
        if how == "scalar":
            return mean_z.mean(), std_z.mean()
        if how == "one":
            return mean_z
        return tuple(mean_z.tolist()) if how == "tuple" else mean_z, std_z
    return f


def test_predict_normalised_stats_passes(capsys):
    assert check_predict_normalised_stats(_predict()) is True
    assert check_predict_normalised_stats(_predict("tuple")) is True  # a tuple of floats is a fine answer
    assert "all four pipelines" in capsys.readouterr().out


@pytest.mark.parametrize("how, match", [
    ("sign", "sign is flipped"), ("no_div", "divide by the std as well"), ("no_255", "255 times the"),
    ("no_255_after", "only the pixels are 255 times larger"), ("shift", "leaves the spread alone"),
    ("no_div_std", "divides the spread too"), ("var", "variance"), ("scalar", "one number for all channels"),
    ("one", r"return a pair \(mean, std\)")])
def test_predict_normalised_stats_mistakes(how, match):
    with pytest.raises(ExerciseError, match=match):
        check_predict_normalised_stats(_predict(how))


def test_predict_normalised_stats_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")
    assert check_predict_normalised_stats(stub) is None
    assert "Not attempted yet: Exercise 00.2" in capsys.readouterr().out
