"""The learning rate over training (linear warm-up, then cosine to zero) and which weights decay.

Built in notebooks/06_training.
"""

from __future__ import annotations

import math

from torch import nn

from .recipes import Recipe

__all__ = ["lr_at", "param_groups"]


def lr_at(progress: float, recipe: Recipe) -> float:
    """Learning rate at ``progress`` in [0, 1] of training: linear warm-up, then cosine to zero (or constant)."""
    p = min(max(progress, 0.0), 1.0)
    if recipe.warmup > 0 and p < recipe.warmup:
        return recipe.lr * p / recipe.warmup
    if recipe.schedule == "constant":
        return recipe.lr
    q = (p - recipe.warmup) / (1 - recipe.warmup)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * q))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: biases, norms and the model's ``no_weight_decay()`` names (class and
    distillation tokens, position embedding: timm's convention) are exempt."""
    exempt = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and name not in exempt else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
