"""Lesson 09's checks: the worked solutions pass, each typical mistake raises its specific message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import ExerciseError, check_hard_distill_loss, check_shift_stack, check_soft_target_loss
from vit_lessons.locality import shift_stack

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "09_small_data"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _kl(s, t, tau, square=True, reverse=False, t_tau=True):
    p, log_q = F.softmax(t / (tau if t_tau else 1), -1), F.log_softmax(s / tau, -1)
    kl = (log_q.exp() * (log_q - p.log())).sum(-1).mean() if reverse else (p * (p.log() - log_q)).sum(-1).mean()
    return kl * (tau**2 if square else 1)


def _rolled(x, s):
    return torch.cat([x] + [torch.roll(x, (a, b), (2, 3)) for a, b in ((s, s), (s, -s), (-s, s), (-s, -s))], 1)


MISTAKES = {
    check_soft_target_loss: [
        (lambda s, t, tau: _kl(s, t, tau, square=False), "tau\\*\\*2"),
        (lambda s, t, tau: _kl(s, t, tau, reverse=True), "KL\\(student"),
        (lambda s, t, tau: _kl(s, t, tau, t_tau=False), "divided by tau too"),
        (lambda s, t, tau: _kl(s, t, tau) * len(s), "do not sum"),
    ],
    check_hard_distill_loss: [
        (lambda s, y, t, a: a * F.cross_entropy(s, y) + (1 - a) * F.cross_entropy(s, t.argmax(-1)), "alpha weights"),
        (lambda s, y, t, a: (1 - a) * F.cross_entropy(s, y) + a * F.cross_entropy(s, F.softmax(t, -1)),
         "not its probabilities"),
        (lambda s, y, t, a: F.cross_entropy(s, t.argmax(-1)), "true labels' term is missing"),
    ],
    check_shift_stack: [
        (_rolled, "torch.roll wraps"),
        (lambda x, s: torch.cat([shift_stack(x, s).split(x.shape[1], 1)[k] for k in (0, 4, 3, 2, 1)], 1),
         "opposite way"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_stub_is_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")
    for check in (check_soft_target_loss, check_hard_distill_loss, check_shift_stack):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet") == 3
