"""Lesson 11's checks: the worked solutions pass, each typical mistake raises its specific message, and the
prediction of Exercise 11.3 is asked for and compared."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.exercises import (
    ExerciseError,
    check_encoder_flops,
    check_grid_masking,
    check_knn_predict,
    check_random_masking,
)

from .conftest import assert_solutions_pass, mistakes
from .test_l06_training import with_prediction

SOLUTIONS = "11_self_supervised"
my_flops_prediction = 3.5  # the mistakes below are checked with a prediction present


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def _masking(invert=False, shuffled=False, restore_is_shuffle=False, last=False, floor=False, fresh=False):
    """A learner's my_random_masking: right, or with one typical slip."""
    def f(batch, n, ratio, generator):
        k = int(n * (1 - ratio)) if floor else round(n * (1 - ratio))
        noise = torch.rand(batch, n, generator=torch.Generator().manual_seed(99) if fresh else generator)
        shuffle = noise.argsort(1)
        restore = shuffle.argsort(1)
        mask = torch.ones(batch, n)
        mask[:, :k] = 0
        if not shuffled:
            mask = mask.gather(1, restore)
        if invert:
            mask = 1 - mask
        keep = shuffle[:, -k:] if last else shuffle[:, :k]
        return keep, mask, shuffle if restore_is_shuffle else restore
    return f


def _grid(invert=False, random_restore=False, offset=0, count=2):
    """A learner's my_grid_masking: right, or with one typical slip."""
    def f(batch, g):
        keep = [r * g + c for r in range(offset, g, 2) for c in range(offset, g, count)]
        order = keep + [i for i in range(g * g) if i not in keep]
        shuffle = torch.tensor(order).repeat(batch, 1)
        restore = torch.randperm(g * g).repeat(batch, 1) if random_restore else shuffle.argsort(1)
        mask = torch.ones(batch, g * g)
        mask[:, keep] = 0
        if invert:
            mask = 1 - mask
        return shuffle[:, :len(keep)], mask, restore
    return f


def _flops(cls=True, attn=2, mlp=None, all_patches=False, per_block=False):
    def f(cfg, r):
        N = (cfg.img_size // cfg.patch_size) ** 2
        n = (N if r == 0 or all_patches else round(N * (1 - r))) + (1 if cls else 0)
        D, h = cfg.embed_dim, int(cfg.embed_dim * (mlp or cfg.mlp_ratio))
        one = n * (4 * D * D + 2 * D * h) + attn * n * n * D
        return one if per_block else cfg.depth * one
    return f


def _knn(cosine=True, weighted=True, extra=0):
    def f(train, labels, test, k, num_classes):
        if cosine:
            sim = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
        else:
            sim = -torch.cdist(test, train)
        top, idx = sim.topk(k + extra, dim=1)
        votes = torch.zeros(len(test), num_classes, dtype=top.dtype)
        votes.scatter_add_(1, labels[idx], top if weighted else torch.ones_like(top))
        return votes.argmax(1)
    return f


MISTAKES = {
    check_random_masking: [
        (_masking(invert=True), "inverted"),
        (_masking(shuffled=True), "shuffled order"),
        (_masking(restore_is_shuffle=True), "undo it"),
        (_masking(last=True), "last K"),
        (_masking(floor=True), "keeps K = round"),
        (_masking(fresh=True), "same generator"),
    ],
    check_grid_masking: [
        (_grid(invert=True), "inverted"),
        (_grid(offset=1), "top-left"),
        (_grid(count=1), "3 of every 4"),
        (_grid(random_restore=True), "ids_restore does not undo"),
    ],
    check_encoder_flops: [
        (with_prediction(_flops(cls=False), "my_flops_prediction", 3.5), "class token"),
        (with_prediction(_flops(attn=0), "my_flops_prediction", 3.5), "attention's own products"),
        (with_prediction(_flops(attn=1), "my_flops_prediction", 3.5), "only one of the two"),
        (with_prediction(_flops(mlp=4.0), "my_flops_prediction", 3.5), "not 4 x D"),
        (with_prediction(_flops(all_patches=True), "my_flops_prediction", 3.5), "all N patches"),
        (with_prediction(_flops(per_block=True), "my_flops_prediction", 3.5), "one block"),
    ],
    check_knn_predict: [
        (_knn(cosine=False), "Euclidean"),
        (_knn(weighted=False), "one vote"),
        (_knn(extra=1), "k \\+ 1"),
        (lambda tr, lab, te, k, c: _knn()(tr, lab, te, k, c)[:-1], "shape"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


@pytest.mark.parametrize("guess, said", [(3.5, "your prediction 3.5 was right"),
                                         (1.0, "you predicted 1, the computation gives 3.556")])
def test_the_prediction_is_compared_not_marked(guess, said, capsys):
    assert check_encoder_flops(with_prediction(_flops(), "my_flops_prediction", guess)) is True
    out = capsys.readouterr().out
    assert out.startswith("Correct: Exercise 11.3") and said in out, out


def test_a_missing_prediction_is_asked_for():
    with pytest.raises(ExerciseError, match="write your prediction first: `my_flops_prediction = <a number>`"):
        check_encoder_flops(with_prediction(_flops(), "my_flops_prediction", None))


def test_stubs_are_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")
    for check in (check_random_masking, check_grid_masking, check_encoder_flops, check_knn_predict):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet") == 4
