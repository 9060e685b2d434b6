"""Lesson 05's checks: the worked solutions and the package pass, each typical mistake raises its message."""

from __future__ import annotations

import pytest
import torch

from vit_lessons import VisionTransformer, count_params
from vit_lessons.exercises import (
    ExerciseError,
    check_distilled_forward,
    check_distilled_keys,
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
    assert check_distilled_forward(lambda m, x: m(x)) is True


def test_checks_do_not_change_global_rng():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
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


@pytest.mark.parametrize("forgot, match", [
    (lambda c: c.embed_dim * c.num_classes + c.num_classes, "with distilled=True there are two"),
    (lambda c: c.embed_dim, "or the distillation token"),
    (lambda c: c.embed_dim * (1 + (c.pos_embed == "learned")) + c.embed_dim * c.num_classes + c.num_classes,
     "forgot all that distilled=True adds"),
])
def test_vit_param_count_distilled_mistakes(sol, forgot, match):
    def wrong(cfg):
        return sol.my_vit_param_count(cfg) - (forgot(cfg) if cfg.distilled else 0)

    with pytest.raises(ExerciseError, match=match):
        check_vit_param_count(wrong)


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


# ---- 05.4: the distillation token's forward pass ----
def _dist(order="cd", pos=True, read=(0, 1), heads="both", fuse="mean"):
    def f(model, images):
        x = model.patch_embed(images)
        b = x.shape[0]
        cls, dist = model.cls_token.expand(b, -1, -1), model.dist_token.expand(b, -1, -1)
        prefix = [cls, dist] if order == "cd" else [dist, cls] if order == "dc" else [cls]
        x = torch.cat(prefix + [x], dim=1)
        if pos:
            x = x + model.pos_embed
        for blk in model.blocks:
            x = blk(x)
        x = model.norm(x)
        a, d = model.head(x[:, read[0]]), model.head_dist(x[:, read[1]])
        if heads == "cls":
            return a
        if heads == "dist":
            return d
        if fuse == "sum":
            return a + d
        if fuse == "probs":
            return (a.softmax(-1) + d.softmax(-1)) / 2
        if fuse == "logprobs":
            return ((a.softmax(-1) + d.softmax(-1)) / 2).log()
        return (a + d) / 2
    return f


def test_distilled_forward_solution_passes(sol):
    assert check_distilled_forward(sol.my_distilled_forward) is True
    assert check_distilled_forward(_dist()) is True


@pytest.mark.parametrize("fn, match", [
    (_dist(heads="cls"), "only the class token's head"),
    (_dist(heads="dist"), "only the distillation head"),
    (_dist(read=(0, 0)), "both heads read the class token"),
    (_dist(read=(1, 0)), "each other's token"),
    (_dist(fuse="sum"), "summed the two heads"),
    (_dist(fuse="probs"), "late fusion"),
    (_dist(fuse="logprobs"), "took the log"),
    (_dist(order="dc"), "put the distillation token first"),
    (_dist(order="dc", read=(1, 0)), "put the distillation token first"),
    (_dist(pos=False), "forgot the position embeddings"),
    (_dist(order="c"), "pos_embed has N [+] 2 rows"),
    (lambda m, x: m.forward_features(x)[:, 0], "these are features"),
    (lambda m, x: (_dist()(m, x) + 0.1), "wrong values"),
])
def test_distilled_forward_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        check_distilled_forward(fn)


def test_distilled_forward_other_errors_are_not_hidden():
    def broken(model, images):
        raise RuntimeError("an unrelated bug")

    with pytest.raises(RuntimeError, match="unrelated bug"):
        check_distilled_forward(broken)


# ---- 05.5: what a distillation token adds to the state dict ----
def _keys(pos="learned_only", head="if_classes", bias=True, weight_shape="KD", token_shape=None, extra=()):
    def f(cfg):
        D, K, n = cfg.embed_dim, cfg.num_classes, cfg.num_patches + 2
        keys = {"dist_token": token_shape or (1, 1, D)}
        if pos == "always" or (pos == "learned_only" and cfg.pos_embed == "learned"):
            keys["pos_embed"] = (1, n, D)
        if head == "always" or (head == "if_classes" and K):
            keys["head_dist.weight"] = (K, D) if weight_shape == "KD" else (D, K)
            if bias:
                keys["head_dist.bias"] = (K,)
        for k in extra:
            keys[k] = (1, 1, D) if k == "cls_token" else (99,)
        return keys
    return f


def test_distilled_keys_prediction_passes(sol):
    assert check_distilled_keys(_keys()) is True
    assert check_distilled_keys(sol.my_distilled_keys) is True


@pytest.mark.parametrize("fn, match", [
    (_keys(pos="never"), "pos_embed is missing"),
    (_keys(pos="always"), "persistent=False"),
    (_keys(head="always"), "no head_dist"),
    (_keys(bias=False), "head_dist.bias is missing"),
    (_keys(weight_shape="DK"), r"\(out_features, in_features\)"),
    (_keys(token_shape=(64,)), r"stored like cls_token, \(1, 1, D\)"),
    (_keys(extra=("cls_token",)), "in both models with the same shape"),
    (_keys(extra=("dist_head.weight",)), "the names follow timm"),
    (lambda cfg: ["dist_token"], "should return a dict"),
    (lambda cfg: {"dist_token": "(1, 1, D)"}, "is not a shape"),
])
def test_distilled_keys_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        check_distilled_keys(fn)
