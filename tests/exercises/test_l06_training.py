"""Lesson 06's checks: the worked solutions pass, each typical mistake raises its specific message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import (
    ExerciseError,
    check_confusion,
    check_lr_schedule,
    check_lr_sweep,
    check_smoothed_loss,
    check_train_step,
)
from vit_lessons.exercises.l06_training import _sweep

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "06_training"


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


def _soft(lg, y, e, spread="all"):
    k = lg.shape[1]
    if spread == "others":
        return torch.full_like(lg, e / (k - 1)).scatter(1, y[:, None], 1 - e)
    return (1 - e) * F.one_hot(y, k) + e / k


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


def _counts(p, t, k):
    return torch.bincount(t * k + p, minlength=k * k).view(k, k)


MISTAKES = {
    check_lr_schedule: [
        (_lr(warm=False), "no warm-up"),
        (_lr(decay="linear"), "decays linearly"),
        (_lr(cos_from_zero=True), "starts counting"),
        (_lr(decay="full"), "goes negative"),
    ],
    check_smoothed_loss: [
        (lambda lg, y, e: F.cross_entropy(lg, y), "plain cross-entropy"),
        (lambda lg, y, e: -(_soft(lg, y, e, "others") * lg.log_softmax(-1)).sum(1).mean(), "K-1 wrong classes"),
        (lambda lg, y, e: -(_soft(lg, y, e) * lg.log_softmax(-1)).sum(), "summed over the batch"),
        (lambda lg, y, e: -(_soft(lg, y, e) * lg.softmax(-1)).sum(1).mean(), "not probabilities"),
    ],
    check_train_step: [
        (_step(zero_grad=False), "zero_grad"),
        (_step(step=False), "did not change"),
        (_step(zero_late=True), "zero gradients|did not change"),
        (_step(loss_after=True), "returned loss"),
    ],
    check_confusion: [
        (lambda p, t, k: _counts(t, p, k), "swapped"),
        (lambda p, t, k: _counts(p, t, k) / _counts(p, t, k).sum(1, keepdim=True), "normalised"),
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
