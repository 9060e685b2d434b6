"""Lesson 08's checks: the worked solutions pass, each typical mistake raises its specific message."""

from __future__ import annotations

import pytest
import torch
from conftest import stub
from torch import nn

from vit_lessons.exercises import (
    ExerciseError,
    check_freeze_backbone,
    check_grey_to_rgb,
    check_new_head,
    check_probe_features,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "08_pretrained_weights"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _head(keep_old=False, ret=True, out_dim=None, touch_backbone=False):
    def f(model, k):
        old = model.head
        new = nn.Linear(model.config.embed_dim, out_dim or k)
        if keep_old:
            new.weight.data.copy_(old.weight.data[:k])
            new.bias.data.copy_(old.bias.data[:k])
        model.head = new
        if touch_backbone:
            model.norm.weight.data.mul_(2)
        return model if ret else None
    return f


def _freeze(rule):
    def f(model):
        for name, p in model.named_parameters():
            p.requires_grad_(rule(name))
    return f


def _features(kind):
    def f(model, x):
        if kind == "logits":
            return model(x)
        if kind == "mean":
            return model.forward_features(x)[:, 1:].mean(1)
        t = model.embed(x)
        for blk in model.blocks:
            t = blk(t)
        return t[:, 0]
    return f


CASES = {
    check_new_head: [
        (_head(ret=False), "return the model"),
        (_head(out_dim=5), r"logits of shape \(2, 5\), expected \(2, 7\)"),
        (_head(keep_old=True), "starts with the old head's weights"),
        (_head(touch_backbone=True), "norm.weight changed"),
    ],
    check_freeze_backbone: [
        (_freeze(lambda n: False), "nothing trains any more"),
        (_freeze(lambda n: True), "every parameter still trains"),
        (_freeze(lambda n: n.startswith("head.") or n in ("cls_token", "pos_embed")),
         r"still training: \['cls_token', 'pos_embed'\]"),
        (_freeze(lambda n: n == "head.weight"), r"frozen but should train: \['head.bias'\]"),
    ],
    check_grey_to_rgb: [
        (lambda w: w.repeat(1, 3, 1, 1), "divide by 3"),
        (lambda w: w.repeat(3, 1, 1, 1) / 3, r"expected \(6, 3, 4, 4\): repeat along dim 1"),
        (lambda w: w.repeat(1, 3, 1, 1) * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), "luminance"),
    ],
    check_probe_features: [
        (_features("logits"), "those are the logits"),
        (_features("mean"), "mean of the patch tokens"),
        (_features("pre-norm"), "before the final LayerNorm"),
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
