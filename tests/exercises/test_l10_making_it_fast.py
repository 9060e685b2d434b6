"""Lesson 10's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import statistics
import time

import pytest

from vit_lessons.bench.flops import step_flops
from vit_lessons.exercises import ExerciseError, check_attention_memory, check_race, check_step_flops
from vit_lessons.exercises.l10_making_it_fast import RACE_CONFIGS

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


def _race(turns=False, inverse=False, warm=True, pooled=False, once=False):
    """A race answer with one mistake switched on: not in turns, inverted, not warmed up and pooled, too few runs."""
    def f(a, b, rounds):
        if warm:
            a(), b()
        secs = {a: [], b: []}

        def timed(step):
            t0 = time.perf_counter()
            step()
            secs[step].append(time.perf_counter() - t0)
        order = [a, b] * (1 if once else rounds) if turns else [a] * rounds + [b] * rounds
        for step in order:
            timed(step)
        if pooled:
            return sum(secs[b]) / sum(secs[a])
        ratios = [y / x for x, y in zip(secs[a], secs[b])]
        return statistics.median(1 / r for r in ratios) if inverse else statistics.median(ratios)
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
    check_race: [
        (_race(), "take turns"),  # all of A, then all of B
        (_race(turns=True, inverse=True), "that is B's speed over A's"),
        (_race(turns=True, warm=False, pooled=True), "the first call of each step is slow"),
        (_race(turns=True, once=True), "run each at least once per round"),
        (lambda a, b, rounds: "fast", "return a number"),
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

    for check in (check_step_flops, check_race, check_attention_memory):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet: Exercise 10.") == 3


def _race_with_guess(guess):
    """The right race, defined in a namespace that holds the learner's prediction (None: no prediction written)."""
    ns = {"ref": _race(turns=True)} | ({} if guess is None else {"predicted_speedup": guess})
    exec("def my_race(a, b, rounds):\n    return ref(a, b, rounds)\n", ns)
    return ns["my_race"]


def test_race_prediction_is_required_and_judged_by_flops(capsys):
    with pytest.raises(ExerciseError, match="write your prediction first: `predicted_speedup = <a number>`"):
        check_race(_race_with_guess(None))
    a, b = RACE_CONFIGS.values()
    flop_ratio = step_flops(b, 1, True) / step_flops(a, 1, True)
    assert 1.8 < flop_ratio < 2.1  # twice as wide and half as deep: about twice the FLOPs per token
    assert check_race(_race_with_guess(round(flop_ratio, 2))) is True
    assert "was right" in capsys.readouterr().out
    assert check_race(_race_with_guess(1.0)) is True
    out = capsys.readouterr().out
    assert "you predicted 1, the computation gives" in out and "Measured in turns here" in out
