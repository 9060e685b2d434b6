"""Self-checks for lesson 09's exercises: the soft-target loss, hard distillation, the shifted patch stack.

Used in notebooks/09_small_data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import exercise, expect_close

__all__ = ["check_soft_target_loss", "check_hard_distill_loss", "check_shift_stack"]


def _soft(s, t, tau, square=True, reverse=False, teacher_tau=True):
    """The reference soft-target loss, or one of its typical mistakes."""
    p_t = F.softmax(t / (tau if teacher_tau else 1.0), -1)
    log_s = F.log_softmax(s / tau, -1)
    if reverse:
        kl = (log_s.exp() * (log_s - p_t.log())).sum(-1).mean()
    else:
        kl = (p_t * (p_t.log() - log_s)).sum(-1).mean()
    return kl * (tau**2 if square else 1.0)


@exercise("09.1", "The soft-target loss", answer="my_soft_target_loss", hints=(
    "Soften both distributions with the same temperature: p = softmax(teacher / tau), log q = "
    "log_softmax(student / tau). The loss is KL(p || q) = sum p (log p - log q), averaged over the batch, "
    "times tau^2 so its gradient keeps its size when tau changes.",
    "p = F.softmax(teacher_logits / tau, -1); log_q = F.log_softmax(student_logits / tau, -1); "
    "return (p * (p.log() - log_q)).sum(-1).mean() * tau**2"))
def check_soft_target_loss(soft_target_loss) -> str:
    """Exercise 09.1 · The soft-target loss: ``soft_target_loss(student_logits, teacher_logits, tau)``.

    tau^2 KL(softmax(t / tau) || softmax(s / tau)), averaged over the batch. Used in notebooks/09_small_data.
    """
    g = torch.Generator().manual_seed(9)
    s, t = torch.randn(6, 10, generator=g) * 2, torch.randn(6, 10, generator=g) * 3  # (B, K)
    tau = 3.0
    got = torch.as_tensor(soft_target_loss(s.clone(), t.clone(), tau), dtype=torch.float32)
    expect_close(got, _soft(s, t, tau), "the soft-target loss", atol=1e-5, rtol=1e-4, hints=[
        (_soft(s, t, tau, square=False), "the loss is missing the tau**2 factor (Hinton et al. 2015): without it "
                                         "the gradient shrinks as 1/tau^2"),
        (_soft(s, t, tau, reverse=True), "that is KL(student || teacher); distillation uses KL(teacher || "
                                         "student): the teacher's probabilities weight the sum"),
        (_soft(s, t, tau, teacher_tau=False), "the teacher's logits must be divided by tau too"),
        (_soft(s, t, tau) * 6, "average over the batch, do not sum")])
    return "tau^2 KL(teacher || student) at temperature tau, averaged over the batch"


def _hard(s, y, t, alpha, swap=False, soft_teacher=False):
    a = 1 - alpha if swap else alpha
    teach = -(F.softmax(t, -1) * F.log_softmax(s, -1)).sum(-1).mean() if soft_teacher else \
        F.cross_entropy(s, t.argmax(-1))
    return (1 - a) * F.cross_entropy(s, y) + a * teach


@exercise("09.2", "Hard distillation", answer="my_hard_distill_loss", hints=(
    "Two cross-entropies on the same student logits: one with the true labels, one with the labels the teacher "
    "would give (its argmax). Weight the teacher's by alpha and the true labels' by 1 - alpha.",
    "return (1 - alpha) * F.cross_entropy(student_logits, labels) + alpha * F.cross_entropy(student_logits, "
    "teacher_logits.argmax(-1))"))
def check_hard_distill_loss(hard_distill_loss) -> str:
    """Exercise 09.2 · Hard distillation: ``hard_distill_loss(student_logits, labels, teacher_logits, alpha)``.

    (1 - alpha) CE(s, y) + alpha CE(s, argmax t) (DeiT). Used in notebooks/09_small_data.
    """
    g = torch.Generator().manual_seed(92)
    s, t = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g) * 2  # (B, K)
    y = torch.randint(0, 5, (8,), generator=g)  # (B,)
    alpha = 0.3
    got = torch.as_tensor(hard_distill_loss(s.clone(), y.clone(), t.clone(), alpha), dtype=torch.float32)
    expect_close(got, _hard(s, y, t, alpha), "the hard-distillation loss", atol=1e-5, rtol=1e-4, hints=[
        (_hard(s, y, t, alpha, swap=True), "alpha weights the teacher's term, 1 - alpha the true labels'"),
        (_hard(s, y, t, alpha, soft_teacher=True), "hard distillation uses the teacher's argmax as a label, not "
                                                   "its probabilities (that would be soft distillation at tau=1)"),
        (F.cross_entropy(s, t.argmax(-1)), "the true labels' term is missing")])
    return "(1 - alpha) CE with the labels + alpha CE with the teacher's argmax"


def _shift(x, s, wrap=False, opposite=False):
    moves = ((-s, -s), (-s, s), (s, -s), (s, s))
    if wrap:
        return torch.cat([x] + [torch.roll(x, (-dy, -dx), (2, 3)) for dy, dx in moves], 1)
    H, W = x.shape[-2:]
    xp = F.pad(x, (s, s, s, s))
    sign = -1 if opposite else 1
    return torch.cat([x] + [xp[:, :, s + sign * dy:s + sign * dy + H, s + sign * dx:s + sign * dx + W]
                            for dy, dx in moves], 1)


@exercise("09.3", "The shifted patch stack", answer="my_shift_stack", hints=(
    "Pad the image with `shift` zeros on every side, then cut four H x W windows out of the padded image, "
    "each starting `shift` pixels above/below and left/right of the centre one (in the up-left window, pixel "
    "(i, j) holds x[i - shift, j - shift]); stack the image and the four windows along the channels.",
    "xp = F.pad(x, (s, s, s, s)); moved = [xp[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in "
    "((-s, -s), (-s, s), (s, -s), (s, s))]; return torch.cat([x, *moved], 1)"))
def check_shift_stack(shift_stack) -> str:
    """Exercise 09.3 · The shifted patch stack: ``shift_stack(x, shift)`` (B, C, H, W) -> (B, 5C, H, W).

    The image and four copies in which each pixel holds its diagonal neighbour ``shift`` pixels away (up-left,
    up-right, down-left, down-right), zero beyond the border (Lee et al. 2021). Used in notebooks/09_small_data.
    """
    g = torch.Generator().manual_seed(93)
    x = torch.rand(2, 3, 8, 8, generator=g)  # (B, C, H, W)
    got = shift_stack(x.clone(), 2)
    expect_close(got, _shift(x, 2), "the shifted stack", atol=0, rtol=0, hints=[
        (_shift(x, 2, wrap=True), "torch.roll wraps pixels around the border; they must move in as zeros "
                                  "(pad, then crop)"),
        (_shift(x, 2, opposite=True), "each copy is shifted the opposite way: channel block 1 should be the "
                                      "window starting at padded row s - shift, column s - shift")])
    return "the image and its four diagonal shifts, zero-filled, stacked along the channels"
