"""The learning-rate schedule and the weight-decay groups."""

import pytest
import torch

from vit_lessons import VisionTransformer, ViTConfig
from vit_lessons.train import Recipe, lr_at, param_groups


def test_lr_schedule_warmup_then_cosine_to_zero():
    r = Recipe(lr=1.0, warmup=0.1)
    assert lr_at(0.0, r) == 0.0
    assert lr_at(0.05, r) == pytest.approx(0.5)
    assert lr_at(0.1, r) == pytest.approx(1.0)
    assert lr_at(0.55, r) == pytest.approx(0.5)
    assert lr_at(1.0, r) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(2.0, r) == pytest.approx(0.0, abs=1e-12)  # past the budget: clamped
    c = Recipe(lr=1e-2, warmup=0.0, schedule="constant")
    assert lr_at(0.0, c) == lr_at(0.7, c) == 1e-2
    with pytest.raises(ValueError, match="schedule"):
        Recipe(schedule="step")


def test_weight_decay_only_on_weight_matrices():
    model = VisionTransformer(ViTConfig.tiny())
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} >= {"cls_token", "pos_embed", "norm.weight", "head.bias"}
    assert all(p.ndim >= 2 for p in decay["params"]) and "head.weight" in {names[id(p)] for p in decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    model.head.weight.requires_grad_(False)  # a frozen weight is in neither group
    assert sum(len(g["params"]) for g in param_groups(model, 0.05)) == len(list(model.parameters())) - 1
    assert isinstance(decay["params"][0], torch.nn.Parameter)
