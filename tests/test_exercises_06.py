"""Lesson 06's exercise checks: the worked solutions pass, typical mistakes get their specific hint."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import (
    ExerciseError,
    check_confusion,
    check_lr_schedule,
    check_smoothed_loss,
    check_train_step,
)

SOL = Path(__file__).resolve().parent.parent / "notebooks" / "solutions" / "06_training.py"


@pytest.fixture(scope="module")
def sol():
    spec = importlib.util.spec_from_file_location("solutions_06", SOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(sol, capsys):
    assert check_lr_schedule(sol.lr_schedule)
    assert check_smoothed_loss(sol.smoothed_loss)
    assert check_train_step(sol.train_step)
    assert check_confusion(sol.confusion)
    assert capsys.readouterr().out.count("Correct:") == 4


@pytest.mark.parametrize("check", [check_lr_schedule, check_smoothed_loss, check_train_step, check_confusion])
def test_unattempted_stub_prints_not_attempted(check, capsys):
    assert check(stub) is None
    assert "Not attempted yet" in capsys.readouterr().out


def test_lr_schedule_mistakes():
    def no_warmup(s, t, p, w):
        return p * 0.5 * (1 + math.cos(math.pi * s / t))

    def linear(s, t, p, w):
        return p * s / w if s < w else p * (1 - (s - w) / (t - w))

    def cos_from_zero(s, t, p, w):
        return p * s / w if s < w else p * 0.5 * (1 + math.cos(math.pi * s / t))

    def negative(s, t, p, w):
        return p * s / w if s < w else p * math.cos(math.pi * (s - w) / (t - w))

    for fn, hint in ((no_warmup, "no warm-up"), (linear, "decays linearly"), (cos_from_zero, "starts counting"),
                     (negative, "goes negative")):
        with pytest.raises(ExerciseError, match=hint):
            check_lr_schedule(fn)


def test_smoothed_loss_mistakes():
    with pytest.raises(ExerciseError, match="plain cross-entropy"):
        check_smoothed_loss(lambda lg, y, e: F.cross_entropy(lg, y))

    def k_minus_1(lg, y, e):
        t = torch.full_like(lg, e / (lg.shape[1] - 1)).scatter(1, y[:, None], 1 - e)
        return -(t * lg.log_softmax(-1)).sum(1).mean()

    with pytest.raises(ExerciseError, match="K-1 wrong classes"):
        check_smoothed_loss(k_minus_1)

    def summed(lg, y, e):
        t = (1 - e) * F.one_hot(y, lg.shape[1]) + e / lg.shape[1]
        return -(t * lg.log_softmax(-1)).sum()

    with pytest.raises(ExerciseError, match="summed over the batch"):
        check_smoothed_loss(summed)


def test_train_step_mistakes():
    def no_zero_grad(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def no_step(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        return loss.item()

    def zero_late(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.zero_grad()
        opt.step()
        return loss.item()

    def returns_tensor_after(m, opt, x, y):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return F.cross_entropy(m(x), y).item()

    with pytest.raises(ExerciseError, match="zero_grad"):
        check_train_step(no_zero_grad)
    with pytest.raises(ExerciseError, match="did not change"):
        check_train_step(no_step)
    with pytest.raises(ExerciseError, match="zero gradients|did not change"):
        check_train_step(zero_late)
    with pytest.raises(ExerciseError, match="returned loss"):
        check_train_step(returns_tensor_after)


def test_confusion_mistakes():
    def transposed(p, t, k):
        return torch.bincount(p * k + t, minlength=k * k).view(k, k)

    def normalised(p, t, k):
        c = torch.bincount(t * k + p, minlength=k * k).view(k, k).float()
        return c / c.sum(1, keepdim=True)

    with pytest.raises(ExerciseError, match="swapped"):
        check_confusion(transposed)
    with pytest.raises(ExerciseError, match="normalised"):
        check_confusion(normalised)
