"""Lesson 09's race, its routes: what each contestant of ``bench small-data`` trains (model and recipe)
for a given number of seconds. The race itself is vit_lessons/bench/small_data.py.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import dataclasses

from ..train import RECIPES, default_setup
from ..train.recipes import cnn_setup

__all__ = ["ROUTES", "HYBRID_STEM", "route_setup"]

HYBRID_STEM = (16, 32)  # the hybrid's conv stem (preset fashion_mnist_hybrid): 3x3 conv + BN + ReLU, 1 -> 16 -> 32
# route -> what it is, for tables and the lesson
ROUTES = {
    "cnn": "the CNN alone (--teacher-preset), the whole budget",
    "vit": "the course's ViT recipe (lesson 06)",
    "vit-spt": "ViT + shifted patch tokenization (Lee et al. 2021)",
    "vit-lsa": "ViT + locality self-attention (Lee et al. 2021)",
    "hybrid": "the paper's hybrid (Sec. 3.1): the course ViT cutting its patches from a conv stem's feature map "
              "(1 -> 16 -> 32 channels)",
    "distill-soft": "ViT student, soft distillation from the CNN (teacher time counted)",
    "distill-hard": "ViT student, hard distillation from the CNN (teacher time counted)",
    "distill-token": "ViT student with DeiT's distillation token (teacher time counted)",
    "distill-hybrid": "hybrid student, soft distillation from the CNN (teacher time counted)",
}


def route_setup(route: str, budget: float, evals_per_epoch: int = 1, teacher: str = "", alpha: float = 0.5,
                tau: float = 1.0, teacher_preset: str = "cnn_teacher"):
    """(config, recipe) of one route with ``budget`` seconds of training (a distilled route: its student)."""
    common = dict(time_budget=budget, evals_per_epoch=evals_per_epoch)
    if route == "cnn":
        return cnn_setup("fashion-mnist", teacher_preset, **common)
    cfg, recipe = default_setup("fashion-mnist", **common)
    if route == "vit":
        return cfg, recipe
    if route in ("vit-spt", "vit-lsa"):
        return cfg.replace(**{route[4:]: True}), recipe
    if route in ("hybrid", "distill-hybrid"):
        cfg, recipe = RECIPES["fashion-mnist-hybrid"].setup(**common)  # preset fashion_mnist_hybrid
    if route == "hybrid":
        return cfg, recipe
    if route.startswith("distill-") and route in ROUTES:
        mode = "soft" if route == "distill-hybrid" else route[len("distill-"):]
        student = cfg if route == "distill-hybrid" else cfg.replace(distilled=mode == "token")
        return student, dataclasses.replace(recipe, distill=mode, teacher=teacher, distill_alpha=alpha,
                                            distill_tau=tau)
    raise ValueError(f"unknown route {route!r}; choose from {list(ROUTES)}")
