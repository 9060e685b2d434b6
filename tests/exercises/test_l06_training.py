"""Lesson 06's checks: the worked solutions pass, each typical mistake raises its specific message, the prediction
of Exercise 06.3 is asked for and compared."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import (
    ExerciseError,
    check_accumulated_step,
    check_lr_schedule,
    check_lr_sweep,
    check_smoothing_gap,
    check_train_step,
)
from vit_lessons.exercises.l06_training import _sweep

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "06_training"
my_gap_prediction = 4.5  # what the mistakes below are checked with: a prediction is there, the function is wrong


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _lr(warm=True, cos_from_zero=False, decay="half"):
    def f(s, t, p, w):
        if warm and s < w:
            return p * s / w
        prog = s / t if cos_from_zero or not warm else (s - w) / (t - w)
        return {"half": p * 0.5 * (1 + math.cos(math.pi * prog)), "linear": p * (1 - prog),
                "full": p * math.cos(math.pi * prog)}[decay]
    return f


def _step(zero_grad=True, zero_late=False, step=True, loss_after=False):
    def f(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        if zero_grad and not zero_late:
            opt.zero_grad()
        loss.backward()
        if zero_late:
            opt.zero_grad()
        if step:
            opt.step()
        return F.cross_entropy(m(x), y).item() if loss_after else loss.item()
    return f


def _gap(eps, k):
    return math.log((1 - eps + eps / k) / (eps / k))


def _acc(scale=True, zero="start", step="end", loss="mean"):
    """A learner's accumulated step, written out: right, or with one typical mistake."""
    def f(m, opt, x, y, k):
        if zero == "start":
            opt.zero_grad()
        losses = []
        for xb, yb in zip(x.chunk(k), y.chunk(k)):
            if zero == "each":
                opt.zero_grad()
            out = F.cross_entropy(m(xb), yb)
            (out / k if scale else out).backward()
            losses.append(out.item())
            if step == "each":
                opt.step()
        if step == "end":
            opt.step()
        return {"mean": sum(losses) / k, "last": losses[-1], "sum": sum(losses)}[loss]
    return f


def with_prediction(fn, name, value):
    """``fn`` defined again in a namespace where ``name = value``: how a notebook cell holds a prediction."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, name: value}, fn.__name__, fn.__defaults__,
                              fn.__closure__)


MISTAKES = {
    check_train_step: [
        (_step(zero_grad=False), "zero_grad"),
        (_step(step=False), "did not change"),
        (_step(zero_late=True), "zero gradients|did not change"),
        (_step(loss_after=True), "returned loss"),
    ],
    check_lr_schedule: [
        (_lr(warm=False), "no warm-up"),
        (_lr(decay="linear"), "decays linearly"),
        (_lr(cos_from_zero=True), "starts counting"),
        (_lr(decay="full"), "goes negative"),
    ],
    check_smoothing_gap: [
        (lambda e, k: math.log((1 - e) / (e / k)), r"1 - eps \+ eps / K"),
        (lambda e, k: math.log((1 - e) / (e / (k - 1))), "K - 1 wrong classes"),
        (lambda e, k: (1 - e + e / k) / (e / k), "ratio of the two probabilities"),
        (lambda e, k: math.log10((1 - e + e / k) / (e / k)), "natural logarithm"),
        (lambda e, k: -_gap(e, k), "sign is flipped"),
        (lambda e, k: math.inf, "plain\\* cross-entropy"),
        (lambda e, k: torch.full((2,), _gap(e, k)), "return one number"),
        (lambda e, k: _gap(e, k) + 0.1, "wrong values"),
    ],
    check_accumulated_step: [
        (_acc(scale=False), "k times too large"),
        (_acc(zero="each"), "throws away the earlier"),
        (_acc(step="each"), "one step per micro-batch"),
        (_acc(zero="never"), "still in .grad"),
        (_acc(step="never"), "did not change"),
        (_acc(loss="last"), "last micro-batch's loss"),
        (_acc(loss="sum"), "mean of the k micro-batch"),
    ],
    check_lr_sweep: [
        (lambda *a: _sweep(*a, fresh=False), "call make_model\\(\\) for each lr"),
        (lambda *a: _sweep(*a, zero_grad=False), "forgot optimizer.zero_grad"),
        (lambda *a: _sweep(*a, after=False), "measured before its update"),
        (lambda *a: _sweep(*a)[:-1], "one loss per learning rate"),
        (lambda *a: torch.tensor(_sweep(*a)), "return a list"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_accumulation_passes_and_equals_a_full_batch_step():
    """Right, step by step; and the check's reference really is one ordinary step on the whole batch."""
    assert check_accumulated_step(_acc()) is True
    assert check_accumulated_step(lambda m, opt, x, y, k: _step()(m, opt, x, y)) is True  # no split: the same step


@pytest.mark.parametrize("guess, said", [(4.5, "your prediction 4.5 was right"), (4.0, "you predicted 4, the "),
                                         (math.inf, "you predicted inf, the computation gives 4.511")])
def test_the_prediction_is_compared_not_marked(guess, said, capsys):
    assert check_smoothing_gap(with_prediction(_gap, "my_gap_prediction", guess)) is True
    out = capsys.readouterr().out
    assert out.startswith("Correct: Exercise 06.3") and said in out, out


@pytest.mark.parametrize("guess, match", [(None, "write your prediction first"), ("4.5", "not a number"),
                                          (True, "not a number")])
def test_a_missing_prediction_is_asked_for(guess, match):
    with pytest.raises(ExerciseError, match=match):
        check_smoothing_gap(with_prediction(_gap, "my_gap_prediction", guess))
    bare = types.FunctionType(_gap.__code__, {"math": math}, "_gap")  # a namespace with no prediction at all
    with pytest.raises(ExerciseError, match="`my_gap_prediction = <a number>`"):
        check_smoothing_gap(bare)


def test_stubs_are_not_attempted_even_without_a_prediction(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    for check in MISTAKES:
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet: Exercise 06.") == len(MISTAKES)
