"""Lesson 07's checks: the worked solutions pass, each typical mistake raises its specific message, a stub is
not attempted."""

from __future__ import annotations

import pytest
import torch

from vit_lessons.exercises import (
    ExerciseError,
    check_cls_attention_map,
    check_deletion_curve,
    check_mean_distance,
    check_rollout,
    check_window_attention,
    hint,
)
from vit_lessons.faithfulness import perturbation_curve
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


@pytest.mark.usefixtures("one_thread")  # a tiny model: more threads only wait on each other
def test_the_package_passes_the_deletion_check():
    assert check_deletion_curve(lambda model, images, relevance, labels, mean, std:
                                perturbation_curve(model, images, relevance)) is True


def _deletion(order="most-first", fill="mean", target="pred", out="prob", cumulative=True, columns="all",
              transpose_map=False, in_place=False, layout="rows"):
    """A learner's my_deletion_curve, written out step by step, right or with one typical mistake."""
    def f(model, images, relevance, labels, mean, std):
        B, C, H, W = images.shape
        r = relevance.transpose(-2, -1) if transpose_map else relevance
        gh, gw = r.shape[-2:]
        P, N = H // gh, gh * gw
        ranked = r.reshape(B, N).argsort(dim=1, descending=order == "most-first")  # (B, N)
        paint = {"mean": 0.0, "black": (0 - mean[0]) / std[0], "minus-mean": -mean[0], "pixel-mean": mean[0],
                 "batch-mean": images.mean().item(),
                 "image-mean": images.mean(dim=(1, 2, 3), keepdim=True).expand_as(images)}[fill]
        work = images if in_place else images.clone()
        with torch.no_grad():
            logits0 = model(images)  # (B, K)
            t = labels if target == "label" else logits0.argmax(-1)  # (B,)
            out_ = []
            for k in range(N + 1):
                pick = ranked[:, :k] if cumulative else ranked[:, max(k - 1, 0):k]
                gone = torch.zeros(B, N, dtype=torch.bool).scatter(1, pick, True)  # (B, N)
                mask = gone.view(B, 1, gh, 1, gw, 1).expand(B, C, gh, P, gw, P).reshape(B, C, H, W)
                if in_place:
                    work[mask] = 0.0
                    painted = work
                else:
                    painted = torch.where(mask, paint, work)
                logits = model(painted)  # (B, K)
                if out == "logit":
                    out_.append(logits.gather(1, t[:, None])[:, 0])
                elif target == "repredict":
                    out_.append(logits.softmax(-1).amax(-1))
                else:
                    out_.append(logits.softmax(-1).gather(1, t[:, None])[:, 0])
        curve = torch.stack(out_, dim=1)  # (B, N + 1)
        curve = {"all": curve, "no-first": curve[:, 1:], "no-last": curve[:, :-1]}[columns]
        return curve.T if layout == "transposed" else curve
    return f


@pytest.mark.usefixtures("one_thread")
def test_a_step_by_step_deletion_curve_passes():
    assert check_deletion_curve(_deletion()) is True


DELETION_MISTAKES = [dict(order="least-first"), dict(transpose_map=True), dict(fill="black"), dict(fill="minus-mean"),
                     dict(fill="pixel-mean"), dict(fill="batch-mean"), dict(fill="image-mean"), dict(target="label"),
                     dict(target="repredict"), dict(out="logit"), dict(cumulative=False)]


@pytest.mark.usefixtures("one_thread")
def test_deletion_mistakes_are_all_different():
    from vit_lessons.exercises.l07_looking_inside_more import deletion_setup

    model, x, r, labels, mean, std = deletion_setup()
    args = (model, x, r, labels, mean, std)
    right = _deletion()(*args)
    torch.testing.assert_close(right, perturbation_curve(model, x, r), atol=1e-6, rtol=1e-5)
    wrong = [_deletion(**kw)(*args) for kw in DELETION_MISTAKES]
    for i, a in enumerate([right] + wrong):  # the right curves and each mistake's, every pair far apart
        for b in wrong[i:]:
            assert (a - b).abs().max() > 1e-3


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
    check_deletion_curve: [
        (_deletion(order="least-first"), "least relevant patches go first"),
        (_deletion(transpose_map=True), "wrong patches"),
        (_deletion(fill="black"), "painted black"),
        (_deletion(fill="minus-mean"), "std forgotten"),
        (_deletion(fill="pixel-mean"), "mean in pixel units"),
        (_deletion(fill="batch-mean"), "this batch's mean"),
        (_deletion(fill="image-mean"), "each image's own mean"),
        (_deletion(target="label"), "follows the true label"),
        (_deletion(target="repredict"), "predicted again after every removal"),
        (_deletion(out="logit"), "those are logits"),
        (_deletion(cumulative=False), "only the k-th patch"),
        (_deletion(columns="no-first"), "column 0 is missing"),
        (_deletion(columns="no-last"), "the last one is missing"),
        (_deletion(layout="transposed"), "transpose it"),
        (_deletion(in_place=True), "in place"),
    ],
}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)


def test_stubs_are_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    for check in (check_cls_attention_map, check_rollout, check_mean_distance, check_window_attention,
                  check_deletion_curve):
        assert check(stub) is None
    assert capsys.readouterr().out.count("Not attempted yet: Exercise 07.") == 5


def test_deletion_hints_are_graded(capsys):
    hint("07.5")
    first = capsys.readouterr().out
    assert first.startswith("Exercise 07.5 · The deletion test for a map of your own, hint 1 of 3:")
    assert 'hint("07.5", 2)' in first
    hint("07.5", 2)
    assert "hint 2 of 3" in capsys.readouterr().out
    hint("07.5", 3)
    assert "notebooks/solutions/07_looking_inside.ipynb" in capsys.readouterr().out
