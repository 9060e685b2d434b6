"""Lesson 07's checks: the worked solutions pass, each typical mistake raises its specific message, a stub is
not attempted."""

from __future__ import annotations

import pytest
import torch

from vit_lessons.exercises import (
    ExerciseError,
    check_cls_attention_map,
    check_mean_distance,
    check_rollout,
    check_window_attention,
)
from vit_lessons.fig7 import patch_distances

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "07_looking_inside"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_the_package_agrees_with_the_worked_solutions(sol):
    from vit_lessons.explain import attention_rollout, mean_attention_distance

    g = torch.Generator().manual_seed(3)
    atts = [torch.randn(2, 4, 17, 17, generator=g).softmax(-1) for _ in range(3)]  # (B, h, N + 1, N + 1) per block
    torch.testing.assert_close(sol.my_rollout(atts), attention_rollout(atts), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sol.my_mean_distance(atts[1], 4, 7), mean_attention_distance([atts[1]], 4, 7)[0],
                               atol=1e-5, rtol=1e-5)


def _cls(fuse="mean", col=False, renorm=False):
    def f(a, g):
        m = a.mean(1) if fuse == "mean" else a[:, 0]  # (B, N + 1, N + 1)
        r = m[:, 1:, 0] if col else m[:, 0, 1:]  # (B, N)
        if renorm:
            r = r / r.sum(-1, keepdim=True)
        return r.reshape(-1, g, g)
    return f


def _roll(identity=True, renorm=True, left=False):
    def f(atts):
        n = atts[0].shape[-1]  # N + 1 tokens
        eye = torch.eye(n, dtype=atts[0].dtype)
        out = eye.expand(atts[0].shape[0], n, n)  # (B, N + 1, N + 1)
        for a in atts:
            m = a.mean(1) + (eye if identity else 0)
            if renorm:
                m = m / m.sum(-1, keepdim=True)
            out = out @ m if left else m @ out
        return out
    return f


def _dist(drop_cls=True, renorm=True, pixels=True, flip=False):
    def f(a, g, p):
        w = a[..., 1:, 1:] if drop_cls else a
        if renorm:
            w = w / w.sum(-1, keepdim=True)
        d = patch_distances(g, p if pixels else 1).to(a.dtype)
        if not drop_cls:
            d = torch.nn.functional.pad(d, (1, 0, 1, 0))
        out = (w * d).sum(-1).mean(dim=(0, 2))
        return out.flip(0) if flip else out
    return f


def _window(euclid=False, self_too=True, renorm=True, batched=False):
    def f(g, r):
        rr, cc = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        pos = torch.stack([rr.flatten(), cc.flatten()], 1).float()
        diff = pos[:, None] - pos[None]
        d = diff.norm(dim=-1) if euclid else diff.abs().amax(-1)
        near = (d <= r).float()
        if not self_too:
            near.fill_diagonal_(0)
        out = near / near.sum(-1, keepdim=True) if renorm else near
        return out[None, None] if batched else out
    return f


MISTAKES = {
    check_cls_attention_map: [
        (_cls(fuse="first"), "head 0 only"),
        (_cls(col=True), "column 0"),
        (_cls(renorm=True), "renormalised"),
        (lambda a, g: a.mean(1)[:, 0, :].reshape(-1, 1, 10), "shape"),
    ],
    check_rollout: [
        (_roll(identity=False), "residual connection is missing"),
        (_roll(renorm=False), "not renormalised"),
        (_roll(left=True), "wrong order"),
    ],
    check_mean_distance: [
        (_dist(pixels=False), "distances in patches"),
        (_dist(renorm=False), "not renormalised"),
        (_dist(drop_cls=False), "class token is still in"),
        (_dist(flip=True), "wrong order"),
    ],
    check_window_attention: [
        (_window(euclid=True), "round"),
        (_window(self_too=False), "attend to itself"),
        (_window(renorm=False), "do not sum to 1"),
        (_window(batched=True), r"\(N, N\) matrix itself"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_stubs_are_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    for check in (check_cls_attention_map, check_rollout, check_mean_distance, check_window_attention):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet: Exercise 07.") == 4
