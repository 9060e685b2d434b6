"""Knowledge distillation (Touvron et al. 2021, DeiT): a student ViT learns from a teacher's predictions.

Three ways, chosen by ``Recipe.distill`` (``train --distill``), each mixing the usual loss on the
true labels with a loss on the teacher, weighted by alpha (``--distill-alpha``):

    soft   (1 - a) CE(s, y) + a tau^2 KL(softmax(t / tau) || softmax(s / tau))   (Hinton et al. 2015)
    hard   (1 - a) CE(s, y) + a CE(s, argmax t)                               (DeiT's hard distillation)
    token  (1 - a) CE(s_cls, y) + a CE(s_dist, argmax t)                      (DeiT's distillation token:
           a second token with its own head learns the teacher; predictions average the two heads)

The teacher is any course checkpoint (``--teacher``, e.g. a CNN from ``train --model cnn``); it is
checked before training starts and never trained. When the student's inputs are not augmented, the
teacher sees the same 60k images every epoch, so its logits are computed once (on the first step,
inside the training clock) and looked up by image index; with crops, flips or erasing the teacher
must see the very image the student sees, so it runs on every batch.

Shape legend: B batch, K classes, M training images.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F

from ..cnn import build_model, config_from_dict
from ..data import ImageData, normalize_batch
from .checkpoint import CheckpointError, load_checkpoint
from .recipes import DISTILL as DISTILL_MODES  # ("none", "soft", "hard", "token"): one list, the recipe's
from .recipes import Recipe

__all__ = ["soft_target_loss", "distillation_loss", "load_teacher", "Distiller", "DISTILL_MODES"]


def soft_target_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """tau^2 KL(teacher_probs || softmax(student_logits / tau)), averaged over the batch.

    With a one-hot ``teacher_probs`` and tau = 1 this is exactly the cross-entropy with those labels;
    the tau^2 keeps the gradient's size independent of tau (Hinton et al. 2015).

    Built in notebooks/09_small_data.
    """
    log_p = F.log_softmax(student_logits.float() / tau, dim=-1)  # (B, K)
    kl = torch.xlogy(teacher_probs, teacher_probs) - teacher_probs * log_p  # (B, K); 0 log 0 = 0
    return kl.sum(-1).mean() * tau**2


def distillation_loss(mode: str, student, labels: torch.Tensor, teacher_logits: torch.Tensor, alpha: float = 0.5,
                      tau: float = 1.0, label_smoothing: float = 0.0) -> torch.Tensor:
    """The loss of one distillation ``mode`` ('soft', 'hard' or 'token'); see the module docstring.

    ``student`` is the (B, K) logits, or for 'token' the pair (class-token logits, distillation-token
    logits). Label smoothing applies to both hard targets, the true labels and the teacher's (DeiT).

    Built in notebooks/09_small_data.
    """
    if mode == "token":
        if not isinstance(student, (tuple, list)) or len(student) != 2:
            raise ValueError("token distillation needs the (class-token, distillation-token) logits pair: build the "
                             "model with ViTConfig(distilled=True) and set model.distilled_training = True")
        s_cls, s_dist = (s.float() for s in student)
    elif mode in ("soft", "hard"):
        s_cls = s_dist = student.float()
    else:
        raise ValueError(f"distillation mode must be one of {DISTILL_MODES[1:]}, got {mode!r}")
    base = F.cross_entropy(s_cls, labels, label_smoothing=label_smoothing)
    t = teacher_logits.float()
    if mode == "soft":
        teach = soft_target_loss(s_dist, F.softmax(t / tau, dim=-1), tau)
    else:
        teach = F.cross_entropy(s_dist, t.argmax(-1), label_smoothing=label_smoothing)
    return (1 - alpha) * base + alpha * teach


def load_teacher(path: str | os.PathLike, data: ImageData, device) -> tuple[nn.Module, dict]:
    """(teacher in eval mode with frozen weights, its checkpoint) after checking it fits ``data``.

    Built in notebooks/09_small_data.
    """
    if not path:
        raise CheckpointError("distillation needs a teacher: --teacher CHECKPOINT (e.g. train one with "
                              "`python -m vit_lessons train --model cnn --exp-name teacher`, then "
                              "--teacher experiments/teacher/last.pt)")
    ck = load_checkpoint(path, map_location=device)  # a clear CheckpointError when missing or corrupt
    info = data.info
    if ck.get("dataset") != info.name:
        raise CheckpointError(f"teacher {path} was trained on {ck.get('dataset')!r}, this run trains on "
                              f"{info.name!r}: train a teacher on {info.name} "
                              f"(train --model cnn --dataset {info.name})")
    k = ck.get("model_config", {}).get("num_classes")
    if k != info.num_classes:
        raise CheckpointError(f"teacher {path} predicts {k} classes, {info.name} has {info.num_classes}: use a "
                              f"teacher trained on this dataset")
    try:
        teacher = build_model(config_from_dict(ck["model_config"]))
        teacher.load_state_dict(ck["model"])
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"teacher {path}: its weights do not fit its recorded model ({e})") from None
    teacher.to(device).eval().requires_grad_(False)
    return teacher, ck


class Distiller:
    """What the Trainer needs to distil: the teacher, its logits, and the loss.

    Args:
        recipe: the student's recipe (``distill``, ``distill_alpha``, ``distill_tau``, ``teacher``).
        data: the training data (the teacher is checked against it).
        student: the student model; for 'token' it must have a distillation token and
            ``distilled_training`` set (:func:`vit_lessons.train.run_parts.build_run_model` does both).
        images: the uint8 training images as the Trainer stores them (for the one-time teacher pass).
        device: where the teacher runs.

    The Trainer hands the batches sample indices instead of labels (:meth:`batch_labels`), so
    :meth:`loss` can look up both the true label and the teacher's stored logits of every image.

    Built in notebooks/09_small_data.
    """

    def __init__(self, recipe: Recipe, data: ImageData, student: nn.Module, images: torch.Tensor, device):
        if recipe.distill not in DISTILL_MODES[1:]:
            raise ValueError(f"distill must be one of {DISTILL_MODES[1:]} for a Distiller, got {recipe.distill!r}")
        if recipe.distill == "token":
            if getattr(student, "dist_token", None) is None:
                raise ValueError("--distill token needs a student with a distillation token: build it with "
                                 "ViTConfig(distilled=True) (the command line does this for --distill token)")
            if not student.distilled_training:  # the Distiller reads the student; it never changes it
                raise ValueError("--distill token needs the student's training forward to return both heads' "
                                 "logits: set model.distilled_training = True when building it "
                                 "(vit_lessons.train.run_parts.build_run_model does)")
        self.recipe, self.images, self.info = recipe, images, data.info
        self.teacher, self.teacher_record = load_teacher(recipe.teacher, data, device)
        # not augmented: every epoch shows the teacher the same images, so one pass gives all its answers
        self.fixed = recipe.crop_pad == 0 and not recipe.flip and recipe.erase == 0
        self.table = None  # (M, K) teacher logits, filled on the first step
        self.labels = data.train_y.to(images.device)

    def batch_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """What the batches carry instead of labels: each image's index, (M,)."""
        return torch.arange(len(labels), device=labels.device)

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor | None = None, idx: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K) teacher logits: looked up by index when inputs are fixed, else computed on the batch ``x``."""
        dev = next(self.teacher.parameters()).device
        if not self.fixed:
            return self.teacher(x.to(dev)).float()  # (B, K)
        if self.table is None:
            self.table = torch.cat([self.teacher(normalize_batch(self.images[i:i + 1000].to(dev), self.info.mean,
                                                                 self.info.std)).float()
                                    for i in range(0, len(self.images), 1000)])  # (M, K)
        return self.table[idx.to(self.table.device)]  # (B, K)

    def loss(self, student_out, x: torch.Tensor, idx: torch.Tensor):
        """(loss, logits for accuracy, true labels) of a batch whose 'labels' are image indices."""
        r = self.recipe
        y = self.labels[idx]  # (B,)
        t = self.teacher_logits(x, idx).to(y.device)  # (B, K)
        loss = distillation_loss(r.distill, student_out, y, t, r.distill_alpha, r.distill_tau, r.label_smoothing)
        logits = (student_out[0] + student_out[1]) / 2 if isinstance(student_out, tuple) else student_out  # (B, K)
        return loss, logits, y
