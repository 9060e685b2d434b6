"""Lesson 09's checks: the worked solutions pass, each typical mistake raises its specific message, and the
predictions of Exercises 09.1 and 09.3 are asked for and compared."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import ExerciseError, check_distill_gradient, check_shift_stack, check_spt_view
from vit_lessons.locality import ShiftedPatchEmbed, shift_stack

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "09_small_data"
my_gradient_prediction = -0.5  # the mistakes below are checked with a prediction present
my_view_prediction = 169


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _grad(square=True, reverse=False, t_tau=True, mean=True, sign=1.0, loss_only=False):
    """A learner's gradient of the soft term, by autograd: right, or with one typical mistake."""
    def f(s, t, tau):
        s = s.detach().clone().requires_grad_(True)
        p, log_q = F.softmax(t / (tau if t_tau else 1.0), -1), F.log_softmax(s / tau, -1)
        kl = log_q.exp() * (log_q - p.log()) if reverse else p * (p.log() - log_q)
        loss = (kl.sum(-1).mean() if mean else kl.sum()) * (tau**2 if square else 1.0)
        if loss_only:
            return loss.detach()
        loss.backward()
        return sign * s.grad
    return f


def _rolled(x, s):
    return torch.cat([x] + [torch.roll(x, (a, b), (2, 3)) for a, b in ((s, s), (s, -s), (-s, s), (-s, -s))], 1)


def _seen(img, patch, shift, token, wrap=False, own_patch=True, swap=False):
    """A learner's my_spt_view through autograd on a shifted stack, right or with one typical slip."""
    g = img // patch
    r, c = divmod(token, g)
    if swap:
        r, c = c, r
    x = torch.ones(1, 1, img, img, requires_grad=True)
    st = _rolled(x, shift) if wrap else shift_stack(x, shift)  # (1, 5, H, W)
    st = st if own_patch else st[:, 1:]
    st[0, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].sum().backward()
    return x.grad[0, 0] != 0


def _square(img, patch, shift, token):
    r, c = divmod(token, img // patch)
    m = torch.zeros(img, img, dtype=torch.bool)
    m[max(r * patch - shift, 0):(r + 1) * patch + shift, max(c * patch - shift, 0):(c + 1) * patch + shift] = True
    return m


def _own_patch(img, patch, shift, token):
    r, c = divmod(token, img // patch)
    m = torch.zeros(img, img, dtype=torch.bool)
    m[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = True
    return m


def with_prediction(fn, name, value):
    """``fn`` defined again in a namespace where ``name = value``: how a notebook cell holds a prediction."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, name: value}, fn.__name__, fn.__defaults__,
                              fn.__closure__)


MISTAKES = {
    check_distill_gradient: [
        (_grad(square=False), "tau\\^2 factor is missing"),
        (_grad(sign=-1.0), "sign is flipped"),
        (_grad(mean=False), "summed over the batch"),
        (_grad(reverse=True), "KL\\(student"),
        (_grad(t_tau=False), "divided by tau too"),
        (_grad(loss_only=True), "probably the loss"),
        (lambda s, t, tau: _grad()(s, t, tau).T, "shape"),
    ],
    check_shift_stack: [
        (_rolled, "torch.roll wraps"),
        (lambda x, s: torch.cat([shift_stack(x, s).split(x.shape[1], 1)[k] for k in (0, 4, 3, 2, 1)], 1),
         "opposite way"),
    ],
    check_spt_view: [
        (_own_patch, "plain ViT's token"),
        (_square, "one square reaching"),
        (lambda *a: _seen(*a, wrap=True), "opposite border"),
        (lambda *a: _seen(*a, swap=True), "row and column are swapped"),
        (lambda *a: _seen(*a, own_patch=False), "own patch is missing"),
        (lambda img, *a: _seen(img, *a)[:-1], "shape"),
        (lambda *a: _seen(*a) & ~_own_patch(*a) | _own_patch(*a).roll(1, 0), "pixels differ"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_a_view_as_zeros_and_ones_passes():
    assert check_spt_view(lambda *a: _seen(*a).float()) is True


def test_the_view_matches_the_package_spt():
    """The reference the check uses is what the package's ShiftedPatchEmbed really sees (shift = half a patch)."""
    torch.manual_seed(0)
    spt = ShiftedPatchEmbed(28, 7, 1, 16)
    for token in (0, 5, 15):
        x = torch.randn(1, 1, 28, 28, requires_grad=True)
        spt(x)[0, token].abs().sum().backward()
        assert torch.equal(x.grad[0, 0] != 0, _seen(28, 7, spt.shift, token))
    assert int(_seen(28, 7, 3, 5).sum()) == 169 and int(_seen(28, 7, 3, 0).sum()) == 100


@pytest.mark.parametrize("check, fn, name, guess, said", [
    (check_distill_gradient, _grad(), "my_gradient_prediction", -0.5, "your prediction -0.5 was right"),
    (check_distill_gradient, _grad(), "my_gradient_prediction", 0.0, "you predicted 0, the computation gives -0.5"),
    (check_spt_view, _seen, "my_view_prediction", 169, "your prediction 169 was right"),
    (check_spt_view, _seen, "my_view_prediction", 245, "you predicted 245, the computation gives 169"),
])
def test_the_prediction_is_compared_not_marked(check, fn, name, guess, said, capsys):
    assert check(with_prediction(fn, name, guess)) is True
    out = capsys.readouterr().out
    assert out.startswith("Correct: Exercise 09.") and said in out, out


@pytest.mark.parametrize("check, fn, name", [(check_distill_gradient, _grad(), "my_gradient_prediction"),
                                             (check_spt_view, _seen, "my_view_prediction")])
def test_a_missing_prediction_is_asked_for(check, fn, name):
    with pytest.raises(ExerciseError, match=f"write your prediction first: `{name} = <a number>`"):
        check(with_prediction(fn, name, None))


def test_stubs_are_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")
    for check in (check_distill_gradient, check_shift_stack, check_spt_view):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet") == 3
