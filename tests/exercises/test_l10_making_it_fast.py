"""Lesson 10's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import statistics

import pytest

from vit_lessons.bench.flops import step_flops
from vit_lessons.exercises import ExerciseError, check_attention_memory, check_paired_ratio, check_step_flops

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "10_making_it_fast"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_passes():
    assert check_step_flops(lambda cfg, train: step_flops(cfg, 1, train)) is True


def _flops(tokens="n", macs=False, attention=True, backward="2x"):
    def f(cfg, train):
        n = cfg.num_tokens if tokens == "n" else cfg.num_patches
        d, m, L = cfg.embed_dim, cfg.mlp_hidden_dim, cfg.depth
        pe = 2 * cfg.num_patches * cfg.patch_size**2 * cfg.in_chans * d
        fwd = pe + L * (8 * n * d * d + 4 * n * d * m + (4 * n * n * d if attention else 0)) + 2 * d * cfg.num_classes
        total = {"2x": 3 * fwd - pe, "3x": 3 * fwd, "none": fwd}[backward] if train else fwd
        return total // 2 if macs else total
    return f


def _memory(tokens="n", heads=True, depth=True, nbytes=True):
    def f(cfg, batch, bytes_per_number):
        n = cfg.num_tokens if tokens == "n" else cfg.num_patches
        return ((cfg.depth if depth else 1) * batch * (cfg.num_heads if heads else 1) * n * n
                * (bytes_per_number if nbytes else 1))
    return f


MISTAKES = mistakes({
    check_step_flops: [
        (_flops(macs=True), "counts multiply-adds; a multiply-add is 2 FLOPs"),
        (_flops(tokens="N"), r"n = N \+ 1 tokens, not the N patches"),
        (_flops(attention=False), "the attention itself is missing"),
        (_flops(backward="3x"), "the images need no gradient"),
        (_flops(backward="none"), "also runs the backward pass"),
        (lambda cfg, train: 1.5, "should return an int"),
        (lambda cfg, train: 12345, r"got 12,345 FLOPs, expected"),
    ],
    check_paired_ratio: [
        (lambda a, b: statistics.median(x / y for x, y in zip(a, b)), "B's speed over A's"),
        (lambda a, b: statistics.median(b) / statistics.median(a), "ratio of the two medians"),
        (lambda a, b: statistics.mean(y / x for x, y in zip(a, b)), "take the median of the ratios"),
        (lambda a, b: "fast", "return a number"),
        (lambda a, b: 2.0, "got 2, expected 1.1"),
    ],
    check_attention_memory: [
        (_memory(tokens="N"), r"n = N \+ 1, not the N patches"),
        (_memory(heads=False), "every head has its own"),
        (_memory(depth=False), "times depth"),
        (_memory(nbytes=False), "bytes per number"),
    ],
})


@pytest.mark.parametrize("check, fn, match", MISTAKES)
def test_mistakes_get_their_message(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    for check in (check_step_flops, check_paired_ratio, check_attention_memory):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet: Exercise 10.") == 3
