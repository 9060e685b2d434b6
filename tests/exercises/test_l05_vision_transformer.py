"""Lesson 05's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch

from vit_lessons import VisionTransformer, ViTConfig, count_params
from vit_lessons.exercises import (
    ExerciseError,
    check_mean_pool,
    check_vit_forward,
    check_vit_forward_any,
    check_vit_param_count,
)

from .conftest import assert_solutions_pass, mistakes

SOLUTIONS = "05_vision_transformer"


def test_solutions_pass(sol, capsys):
    assert_solutions_pass(sol, capsys)


def test_package_versions_pass():
    def build_and_count(cfg):
        with torch.device("meta"):
            return count_params(VisionTransformer(cfg))

    assert check_vit_param_count(build_and_count) is True
    assert check_vit_forward(lambda m, x: m(x)) is True
    assert check_vit_forward_any(lambda m, x: m(x)) is True


def test_mean_pool_matches_package():
    m = VisionTransformer(ViTConfig.tiny(pool="mean"))
    assert check_mean_pool(m.pool) is True


def test_checks_do_not_change_global_rng():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    check_mean_pool(lambda t: t[:, 1:].mean(1))
    check_vit_forward(lambda m, x: m(x))  # builds a seeded model inside
    torch.testing.assert_close(torch.rand(3), a, rtol=0, atol=0)


@pytest.mark.parametrize("delta, match", [
    (lambda c: c.embed_dim, "class token"),
    (lambda c: c.num_tokens * c.embed_dim, "position embeddings"),
    (lambda c: 2 * c.embed_dim, "final LayerNorm"),
    (lambda c: c.embed_dim * c.num_classes + c.num_classes, "classification head"),
    (lambda c: c.embed_dim * c.patch_size**2 * c.in_chans + c.embed_dim, "patch embedding"),
    (lambda c: 7, "short by 7"),
])
def test_vit_param_count_mistakes(sol, delta, match):
    with pytest.raises(ExerciseError, match=match):
        check_vit_param_count(lambda cfg: sol.my_vit_param_count(cfg) - delta(cfg))


def test_vit_param_count_option_mistakes(sol):
    def no_head_option(cfg):  # always counts a head, even for num_classes=0 -> wrong only there
        n = sol.my_vit_param_count(cfg)
        return n + (cfg.embed_dim * 1000 + 1000 if cfg.num_classes == 0 else 0)

    with pytest.raises(ExerciseError, match="no head"):
        check_vit_param_count(no_head_option)

    def always_cls(cfg):
        return sol.my_vit_param_count(cfg.replace(class_token=True, pool="cls"))

    with pytest.raises(ExerciseError, match="class_token=False"):
        check_vit_param_count(always_cls)

    def sincos_learned(cfg):
        return sol.my_vit_param_count(cfg.replace(pos_embed="learned"))

    with pytest.raises(ExerciseError, match="fixed buffer"):
        check_vit_param_count(sincos_learned)

    with pytest.raises(ExerciseError, match="should return an int"):
        check_vit_param_count(lambda cfg: "86M")


def _fwd(pos=True, norm=True, pool="cls", cls_first=True, head=True):
    def f(model, x):
        t = model.patch_embed(x)
        cls = model.cls_token.expand(x.shape[0], -1, -1)
        t = torch.cat([cls, t] if cls_first else [t, cls], dim=1)
        if pos:
            t = t + model.pos_embed
        for blk in model.blocks:
            t = blk(t)
        if norm:
            t = model.norm(t)
        if pool == "all":
            return model.head(t)
        t = t[:, 0] if pool == "cls" else t[:, 1:].mean(1) if pool == "mean" else t[:, -1]
        return model.head(t) if head else t
    return f


def _any(skip="prefix", pool="config", ret=True):
    def f(model, images):
        prefix = 1 if model.config.class_token else 0
        x = model.embed(images)  # (B, N + prefix, D)
        for blk in model.blocks:
            x = blk(x)
        x = model.norm(x)
        how = model.config.pool if pool == "config" else pool
        start = {"prefix": prefix, "one": 1, "none": 0}[skip]
        out = model.head(x[:, 0] if how == "cls" else x[:, start:].mean(1))
        return out if ret else None
    return f


MISTAKES = {
    check_mean_pool: [
        (lambda t: t.mean(1), "included the class token"),
        (lambda t: t[:, 0], "this is the class token"),
        (lambda t: t[:, :-1].mean(1), "dropped the last token"),
        (lambda t: t[:, 1:].sum(1), "summed instead of averaging"),
        (lambda t: t[:, 1:].sum(1) / t.shape[1], "counting the class token"),
        (lambda t: t[:, 1:].mean(-1), "averaged over the features"),
        (lambda t: t.mean(-1), "averaged over the features"),
        (lambda t: t[:, 1:].mean(0), "averaged over the batch"),
        (lambda t: t[:, 1:].mean(1, keepdim=True), "without keepdim"),
    ],
    check_vit_forward: [
        (_fwd(pos=False), "forgot the position embeddings"),
        (_fwd(norm=False), "forgot the final LayerNorm"),
        (_fwd(pool="mean"), "mean of the patch tokens"),
        (_fwd(cls_first=False, pool="last"), "class token at the end"),
        (_fwd(cls_first=False), "class token at the end"),
        (_fwd(pool="all"), "applied to every token"),
        (_fwd(head=False), "apply model.head"),
    ],
    check_vit_forward_any: [
        (_any(skip="one"), "this model has no class token"),
        (_any(skip="none"), "the class token included"),
        (_any(pool="cls"), "read token 0"),
        (_any(pool="mean"), "with pool='cls' the head reads the class token"),
        (_any(ret=False), "returned None"),
        (lambda m, x: m.forward_features(x).mean(1), "has shape"),
    ],
}


@pytest.mark.parametrize("check, fn, match", mistakes(MISTAKES))
def test_mistake_is_named(check, fn, match):
    with pytest.raises(ExerciseError, match=match):
        check(fn)
