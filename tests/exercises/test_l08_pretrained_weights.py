"""Lesson 08's checks: the worked solutions pass, each typical mistake raises its specific message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import stub

from vit_lessons.exercises import (
    ExerciseError,
    check_bigger_patches,
    check_freeze_backbone,
    check_logistic_probe,
    check_train_last_blocks,
)
from vit_lessons.exercises.l08_pretrained_weights import table_probe_acc

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "08_pretrained_weights"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _freeze(rule):
    def f(model):
        for name, p in model.named_parameters():
            p.requires_grad_(rule(name))
    return f


def _last(blocks, head=True, norm=True, early=False, only_false=False):
    """A last-k-blocks answer; ``blocks(L, k)`` says which block indices train."""
    def f(model, k):
        L = len(model.blocks)
        keep = tuple(f"blocks.{i}." for i in blocks(L, k)) + (("head.",) if head else ()) + (
            ("norm.",) if norm else ()) + (("cls_token", "pos_embed", "patch_embed.") if early else ())
        for name, p in model.named_parameters():
            if only_false and name.startswith(keep):
                continue  # never switches a frozen parameter back on
            p.requires_grad_(name.startswith(keep))
    return f


def _last_slice(model, k):  # model.blocks[-k:]: every block when k = 0
    for p in model.parameters():
        p.requires_grad_(False)
    for m in (*model.blocks[-k:], model.norm, model.head):
        for p in m.parameters():
            p.requires_grad_(True)


LAST = lambda L, k: range(L - k, L)  # noqa: E731 - the right blocks


def _bigger(kind):
    def f(w, factor):
        if kind == "same":
            return w
        if kind == "interp-bilinear":
            return F.interpolate(w, scale_factor=factor, mode="bilinear") / factor**2
        big = w.repeat(1, 1, factor, factor) if kind == "tile" else w.repeat_interleave(factor, -1).repeat_interleave(
            factor, -2)
        return big / {"none": 1, "by-f": factor}.get(kind, factor**2)
    return f


def _probe(cheat=None, scale=1.0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def f(train_f, train_y, test_f, test_y):
        if cheat == "string":
            return "high"
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        if cheat == "fit-test":
            return clf.fit(test_f.numpy(), test_y.numpy()).score(test_f.numpy(), test_y.numpy()) * scale
        clf.fit(train_f.numpy(), train_y.numpy())
        if cheat == "score-train":
            return clf.score(train_f.numpy(), train_y.numpy()) * scale
        if cheat == "nearest-mean":  # another classifier: a different accuracy on the crafted features
            means = torch.stack([train_f[train_y == c].mean(0) for c in range(3)])
            return float(((test_f[:, None] - means).norm(dim=-1).argmin(1) == test_y).float().mean())
        return clf.score(test_f.numpy(), test_y.numpy()) * scale
    return f


CASES = {
    check_freeze_backbone: [
        (_freeze(lambda n: False), "nothing trains any more"),
        (_freeze(lambda n: True), "every parameter still trains"),
        (_freeze(lambda n: n.startswith("head.") or n in ("cls_token", "pos_embed")),
         r"still training: \['cls_token', 'pos_embed'\]"),
        (_freeze(lambda n: n == "head.weight"), r"frozen but should train: \['head.bias'\]"),
    ],
    check_train_last_blocks: [
        (_last_slice, r"model.blocks\[-0:\] is the whole list"),
        (_last(lambda L, k: range(k)), "those are the first k"),
        (_last(LAST, head=False), "the head is frozen"),
        (_last(LAST, norm=False), "final LayerNorm"),
        (_last(LAST, early=True), r"\['cls_token', 'patch_embed.proj.bias', 'patch_embed.proj.weight'\] train"),
        (_last(lambda L, k: range(max(L - k - 1, 0), L)), "expected the parameters of blocks"),
        (_last(LAST, only_false=True), "k = 1 and then k = 3"),
    ],
    check_bigger_patches: [
        (_bigger("none"), "divide by factor² = 4"),
        (_bigger("by-f"), "dividing by factor = 2 is not enough"),
        (_bigger("tile"), "repeat_interleave along the last two dimensions"),
        (_bigger("interp-bilinear"), "bilinear interpolation blends"),
        (_bigger("same"), "the filters still have P x P pixels"),
        (lambda w, f: None, "return the new filters"),
    ],
    check_logistic_probe: [
        (_probe("fit-test"), "saw the test labels or scored the training features"),
        (_probe("score-train"), "saw the test labels or scored the training features"),
        (_probe(scale=100), "not a percentage"),
        (_probe("string"), "return the test accuracy as a number, got str"),
        (_probe("nearest-mean"), "a standardised logistic regression gets"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(CASES))
def test_mistakes_are_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


@pytest.mark.parametrize("check", list(CASES))
def test_not_attempted_returns_none(check, capsys):
    assert check(stub) is None
    assert capsys.readouterr().out.startswith("Not attempted yet: Exercise 08.")


def _probe_with_guess(guess):
    """A right answer, defined in a namespace that holds the learner's prediction (None: no prediction written)."""
    ns = {"ref": _probe()} | ({} if guess is None else {"predicted_probe_acc": guess})
    exec("def my_logistic_probe(*a):\n    return ref(*a)\n", ns)
    return ns["my_logistic_probe"]


def test_probe_prediction_is_required_and_compared(capsys):
    with pytest.raises(ExerciseError, match="write your prediction first: `predicted_probe_acc = <a number>`"):
        check_logistic_probe(_probe_with_guess(None))
    assert check_logistic_probe(_probe_with_guess(0.0)) is True
    out = capsys.readouterr().out
    assert "you predicted 0, the computation gives" in out and f"table's probe: {table_probe_acc():.1%}" in out
    assert table_probe_acc() == pytest.approx(0.635, abs=0.001)  # the 50-per-class row of the committed table
