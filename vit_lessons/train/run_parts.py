"""What a training run is made of, before the loop: the model it trains (built, initialised, transferred,
frozen; a masked autoencoder when pretraining), the loss a step minimises, and how many images it holds out.

:class:`~vit_lessons.train.trainer.Trainer` calls these; they are functions so a notebook can call them too.

Built in notebooks/06_training.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .. import transfer
from ..attention import mimetic_init_
from ..cnn import build_model
from ..config import ViTConfig
from ..data import default_val_size
from ..mae import MaskedAutoencoder
from .distill import Distiller
from .recipes import Recipe

__all__ = ["build_run_model", "make_loss", "resolve_val_size"]


def build_run_model(config: ViTConfig, recipe: Recipe, resume: bool = False) -> nn.Module:
    """The model a run trains: built from ``config`` (a ViT, or lesson 09's CNN), initialised, transferred and
    frozen as ``recipe`` says; with ``recipe.distill == 'token'`` its training forward returns both heads.
    With ``recipe.pretrain == 'mae'``: a :class:`~vit_lessons.mae.MaskedAutoencoder` with ``config`` as its encoder."""
    if recipe.pretrain == "mae":
        model = MaskedAutoencoder(config, recipe.decoder_dim, recipe.decoder_depth, recipe.decoder_heads,
                                  recipe.mask_ratio)
        if recipe.init == "mimetic":
            mimetic_init_(model.encoder)
        return model
    model = build_model(config)
    if recipe.init == "mimetic":
        mimetic_init_(model)  # draws from the global generator, seeded by the caller: the same on every process
    if recipe.init_from and not resume:  # fine-tuning: the backbone's weights, all but the fresh head
        transfer.start_from(model, recipe.init_from)
    transfer.freeze(model, recipe.freeze)  # before the optimizer is built, so it holds what trains
    if recipe.distill == "token":
        if getattr(model, "dist_token", None) is None:
            raise ValueError("--distill token needs a student with a distillation token: build it with "
                             "ViTConfig(distilled=True) (the command line does this for --distill token)")
        model.distilled_training = True  # a training forward returns (class-token, distillation-token) logits
    return model


def make_loss(recipe: Recipe, distiller: Distiller | None = None):
    """``loss(outputs, x, y) -> (loss, correct)``: what a step minimises, and how many of the batch it got right
    (a tensor, so nothing waits for the device). Cross-entropy with label smoothing; the distiller's loss (then
    ``y`` holds image indices, see :class:`~vit_lessons.train.distill.Distiller`); or a masked autoencoder's
    own loss, which has no right answers (correct is NaN)."""
    if recipe.pretrain == "mae":
        return lambda out, x, y: (out[0], out[0].new_tensor(math.nan))  # out: (loss, pred, mask)

    def hits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (logits.detach().argmax(1) == y).sum()

    if distiller is not None:
        def distilled(out, x: torch.Tensor, idx: torch.Tensor):
            loss, logits, y = distiller.loss(out, x, idx)
            return loss, hits(logits, y)
        return distilled

    def cross_entropy(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        return F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing), hits(logits, y)

    return cross_entropy


def resolve_val_size(recipe: Recipe, n_train: int) -> int:
    """How many training images a run holds out: ``recipe.val_size``, or the dataset's default for -1."""
    return default_val_size(n_train) if recipe.val_size < 0 else recipe.val_size
