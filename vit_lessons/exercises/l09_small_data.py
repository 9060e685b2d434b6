"""Self-checks for lesson 09's exercises: distillation at a high temperature (predicted, then computed), the shifted
patch stack, and what a shifted-patch token sees (predicted, then computed).

Used in notebooks/09_small_data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..locality import shift_stack
from ._common import ExerciseError, exercise, expect_close, expect_shape, judge_prediction

__all__ = ["check_distill_gradient", "check_shift_stack", "check_spt_view"]


def _soft_grad(s, t, tau, square=True, reverse=False, teacher_tau=True, mean=True, sign=1.0):
    """d/ds of tau^2 KL(softmax(t / tau) || softmax(s / tau)), averaged over the batch, or a typical slip."""
    s = s.clone().requires_grad_(True)
    p_t = F.softmax(t / (tau if teacher_tau else 1.0), -1)  # (B, K)
    log_s = F.log_softmax(s / tau, -1)  # (B, K)
    kl = (log_s.exp() * (log_s - p_t.log())) if reverse else (p_t * (p_t.log() - log_s))  # (B, K)
    loss = kl.sum(-1).mean() if mean else kl.sum()
    (loss * (tau**2 if square else 1.0)).backward()
    return sign * s.grad  # (B, K)


@exercise("09.1", "Distillation at a high temperature", answer="my_distill_gradient", hints=(
    "Autograd can do the work: make a copy of the student logits that requires grad, compute the soft term of "
    "§9.3 (tau^2 times KL(softmax(t / tau) || softmax(s / tau)), averaged over the batch), call backward and "
    "return the copy's .grad. For the prediction, Hinton et al. 2015 (§2.1) work it out by hand: the gradient is "
    "tau (q - p) / B with q and p the softened student and teacher probabilities, and for a large tau, "
    "softmax(z / tau) is about (1 + z / tau) / K.",
    "s = student_logits.detach().clone().requires_grad_(True); p = F.softmax(teacher_logits / tau, -1); "
    "loss = (p * (p.log() - F.log_softmax(s / tau, -1))).sum(-1).mean() * tau**2; loss.backward(); return s.grad"))
def check_distill_gradient(distill_gradient) -> bool | None:
    """Exercise 09.1 · Distillation at a high temperature: ``distill_gradient(student_logits, teacher_logits, tau)``
    -> (B, K), the gradient of the batch-mean soft term tau^2 KL(softmax(t / tau) || softmax(s / tau)) with respect
    to the student's logits.

    The learner first writes ``my_gradient_prediction``: for one image with K = 2, student logits (0, 0) and
    teacher logits (2, 0), the gradient on the student's logit 0 at tau = 100. Used in notebooks/09_small_data.
    """
    g = torch.Generator().manual_seed(91)
    s, t = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64) * 3
    for tau in (1.0, 3.0, 50.0):
        got = distill_gradient(s.clone(), t.clone(), tau)
        if isinstance(got, (int, float)) or (isinstance(got, torch.Tensor) and got.ndim == 0):
            raise ExerciseError("that is one number, probably the loss; return its gradient with respect to the "
                                "student's logits, one value per logit: shape (B, K)")
        expect_shape(got, tuple(s.shape), f"the gradient at tau = {tau:g}")
        expect_close(got.detach().double(), _soft_grad(s, t, tau), f"the gradient at tau = {tau:g}", atol=1e-7,
                     rtol=1e-5, hints=[
            (_soft_grad(s, t, tau, square=False), "the tau^2 factor is missing: without it the gradient shrinks "
                                                  "like 1 / tau^2, and a hot teacher would teach nothing"),
            (_soft_grad(s, t, tau, sign=-1.0), "the sign is flipped: that is the direction in which the loss grows; "
                                               "compute the gradient of the loss itself (p log p - p log q)"),
            (_soft_grad(s, t, tau, mean=False), "the loss is summed over the batch; §9.3's soft term is averaged "
                                                "over it (.mean() over the images)"),
            (_soft_grad(s, t, tau, reverse=True), "that is the gradient of KL(student || teacher); distillation "
                                                  "uses KL(teacher || student): the teacher's probabilities weight "
                                                  "the sum"),
            (_soft_grad(s, t, tau, teacher_tau=False), "the teacher's logits must be divided by tau too: both "
                                                       "distributions are softened with the same temperature"),
        ])
    case = _soft_grad(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[2.0, 0.0]], dtype=torch.float64), 100.0)
    verdict = judge_prediction(distill_gradient, "my_gradient_prediction", case[0, 0].item(), tol=0.05, why=(
        "a hot teacher does not go quiet. The gradient is tau (q - p), and softmax(z / tau) is about "
        "(1 + z / tau) / K, so tau (q - p) tends to ((s - mean s) - (t - mean t)) / K = (0 - 1) / 2 = -0.5: "
        "distillation at a high temperature matches the logits (Hinton et al. 2015, §2.1), and tau^2 keeps it "
        "from vanishing"))
    return f"tau^2 keeps the soft term's gradient from fading as tau grows (tau = 1, 3, 50 checked); {verdict}"


def _shift(x, s, wrap=False, opposite=False):
    moves = ((-s, -s), (-s, s), (s, -s), (s, s))
    if wrap:
        return torch.cat([x] + [torch.roll(x, (-dy, -dx), (2, 3)) for dy, dx in moves], 1)
    H, W = x.shape[-2:]
    xp = F.pad(x, (s, s, s, s))
    sign = -1 if opposite else 1
    return torch.cat([x] + [xp[:, :, s + sign * dy:s + sign * dy + H, s + sign * dx:s + sign * dx + W]
                            for dy, dx in moves], 1)


@exercise("09.2", "The shifted patch stack", answer="my_shift_stack", hints=(
    "Pad the image with `shift` zeros on every side, then cut four H x W windows out of the padded image, "
    "each starting `shift` pixels above/below and left/right of the centre one (in the up-left window, pixel "
    "(i, j) holds x[i - shift, j - shift]); stack the image and the four windows along the channels.",
    "xp = F.pad(x, (s, s, s, s)); moved = [xp[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in "
    "((-s, -s), (-s, s), (s, -s), (s, s))]; return torch.cat([x, *moved], 1)"))
def check_shift_stack(shift_stack) -> bool | None:
    """Exercise 09.2 · The shifted patch stack: ``shift_stack(x, shift)`` (B, C, H, W) -> (B, 5C, H, W).

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


def _view(img: int, patch: int, shift: int, token: int, how: str = "stack") -> torch.Tensor:
    """(img, img) bool: the input pixels that reach SPT patch token ``token``, or a typical wrong picture of them."""
    g = img // patch
    r, c = divmod(token, g)
    if how == "transposed":
        c, r = divmod(token, g)
    mask = torch.zeros(img, img, dtype=torch.bool)
    if how == "patch":
        mask[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = True
        return mask
    if how == "box":  # one square from shift above-left to shift below-right of the patch, clipped at the border
        top, left = max(r * patch - shift, 0), max(c * patch - shift, 0)
        mask[top:(r + 1) * patch + shift, left:(c + 1) * patch + shift] = True
        return mask
    x = torch.ones(1, 1, img, img, requires_grad=True)
    stacked = _shift(x, shift, wrap=True) if how == "wrap" else shift_stack(x, shift)  # (1, 5, H, W)
    if how == "no centre":
        stacked = stacked[:, 1:]
    stacked[0, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].sum().backward()
    return x.grad[0, 0] != 0  # (img, img)


_VIEW_CASES = ((28, 7, 3, 5), (28, 7, 3, 0), (16, 4, 3, 6), (12, 4, 3, 1), (15, 5, 1, 7))


@exercise("09.3", "What a shifted-patch token sees", answer="my_spt_view", hints=(
    "A token of shifted patch tokenization holds its patch of all five channels of the shifted stack: the image "
    "and the four diagonal copies. In the up-left copy, the patch's pixel (i, j) holds the image's pixel "
    "(i - shift, j - shift), so that copy brings in the patch's window moved shift pixels up and left; the "
    "padding brings in nothing. Token t sits in grid row t // (img_size // patch_size), column t % (...).",
    "Either mark the five windows by hand (the patch, and the patch moved by (-s, -s), (-s, +s), (+s, -s), "
    "(+s, +s), each clipped to the image), or let autograd find them: x = torch.ones(1, 1, H, W, "
    "requires_grad=True); shift_stack(x, shift)[0, :, rows, cols].sum().backward(); return x.grad[0, 0] != 0"))
def check_spt_view(spt_view) -> bool | None:
    """Exercise 09.3 · What a shifted-patch token sees: ``spt_view(img_size, patch_size, shift, token)`` -> an
    (img_size, img_size) bool tensor, True at the input pixels that reach patch token ``token`` (numbered row by
    row) through shifted patch tokenization, before its LayerNorm and projection mix them.

    The learner first writes ``my_view_prediction``: how many pixels reach token 5 of lesson 09's SPT (28 x 28
    images, 7 x 7 patches, shift 3). Used in notebooks/09_small_data.
    """
    for img, patch, shift, token in _VIEW_CASES:
        got = spt_view(img, patch, shift, token)
        what = f"the pixels seen by token {token} (image {img}, patch {patch}, shift {shift})"
        expect_shape(got, (img, img), what)
        got = got.detach().bool() if got.dtype != torch.bool else got
        want = _view(img, patch, shift, token)
        if torch.equal(got, want):
            continue
        for how, msg in (
            ("patch", "that is the plain ViT's token, its own patch only; SPT's token also holds the four shifted "
                      "copies, so it sees pixels up to `shift` beyond the patch"),
            ("box", "that is one square reaching `shift` pixels beyond the patch on every side: right while shift "
                    "<= patch / 2, but with a larger shift the four moved windows no longer touch the patch, and "
                    "the square's edges between them are not seen; mark the five windows themselves"),
            ("wrap", "pixels from the opposite border got in: the shifts pad with zeros (no pixel comes in from the "
                     "other side), unlike torch.roll"),
            ("transposed", "the token's row and column are swapped: token t sits in row t // grid, column t % grid "
                           "(row by row, as patchify numbers them)"),
            ("no centre", "the token's own patch is missing: the first channel block of the stack is the image "
                          "itself"),
        ):
            if torch.equal(got, _view(img, patch, shift, token, how)):
                raise ExerciseError(f"{what}: {msg}")
        raise ExerciseError(f"{what}: {int(got.sum())} pixels marked, {int(want.sum())} expected, and "
                            f"{int((got != want).sum())} pixels differ")
    verdict = judge_prediction(spt_view, "my_view_prediction", int(_view(28, 7, 3, 5).sum()), tol=0, why=(
        "the four shifted 7 x 7 windows sit 3 pixels from the patch diagonally and overlap it and each other; "
        "together they cover the 13 x 13 square around it, 169 pixels: not 5 x 49 = 245 (the values in the "
        "token's vector, many of them the same pixel seen twice), and more than the plain token's 49 or the "
        "hybrid's 121"))
    return f"the patch and four shifted windows, zero beyond the border ({len(_VIEW_CASES)} cases); {verdict}"
