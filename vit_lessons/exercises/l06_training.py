"""Self-checks for lesson 06's exercises: the learning-rate schedule, label smoothing, one training step,
the confusion matrix, a learning-rate sweep.

Used in notebooks/06_training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import ExerciseError, exercise, expect_close

__all__ = ["check_lr_schedule", "check_smoothed_loss", "check_train_step", "check_confusion", "check_lr_sweep"]


def _schedule(warmup: bool = True, cosine_from: str = "warmup", decay: str = "half-cosine"):
    """The reference schedule, or one of its typical mistakes."""
    def lr(s, t, p, w):
        if warmup and s < w:
            return p * s / w
        progress = (s - w) / (t - w) if warmup and cosine_from == "warmup" else s / t
        if decay == "linear":
            return p * (1 - progress)
        return p * math.cos(math.pi * progress) if decay == "cosine" else p * 0.5 * (1 + math.cos(math.pi * progress))
    return lr


@exercise("06.1", "The learning-rate schedule", answer="my_lr_schedule", hints=(
    "Two pieces. While step < warmup_steps, a straight line from 0 up to peak_lr. After that, a progress p "
    "runs from 0 to 1 over the remaining total_steps - warmup_steps steps, and the learning rate follows half a "
    "cosine from peak_lr down to 0.",
    "if step < warmup_steps: return peak_lr * step / warmup_steps; p = (step - warmup_steps) / "
    "(total_steps - warmup_steps); return peak_lr * 0.5 * (1 + math.cos(math.pi * p))"))
def check_lr_schedule(lr_schedule) -> bool | None:
    """Exercise 06.1 · The learning-rate schedule: ``lr_schedule(step, total_steps, peak_lr, warmup_steps)``.

    Linear warm-up from 0, then a half cosine to 0. Used in notebooks/06_training.
    """
    total, peak, warm = 100, 1e-3, 10
    steps = [0, 1, 5, 9, 10, 11, 30, 55, 80, 99, 100]

    def table(fn):
        return torch.tensor([float(fn(s, total, peak, warm)) for s in steps], dtype=torch.float64)

    got = table(lr_schedule)
    expect_close(got, table(_schedule()), f"the learning rate at steps {steps}", atol=1e-9, rtol=1e-6, hints=[
        (table(_schedule(warmup=False)), "there is no warm-up: the learning rate should start at 0 and rise "
                                         "linearly to the peak over warmup_steps"),
        (table(_schedule(cosine_from="zero")), "the cosine starts counting at step 0 instead of at the end of the "
                                               "warm-up: use (step - warmup_steps) / (total_steps - warmup_steps)"),
        (table(_schedule(decay="linear")), "that decays linearly; the schedule is a half cosine: "
                                           "0.5 * (1 + cos(pi * progress))"),
        (table(_schedule(decay="cosine")), "cos(pi * progress) goes negative; use 0.5 * (1 + cos(pi * progress)) "
                                           "so it ends at 0")])
    return "linear warm-up to the peak, then a half cosine down to zero at the last step"


@exercise("06.2", "Label smoothing", answer="my_smoothed_loss", hints=(
    "Build soft targets: 1 - eps on the true class, plus eps / K spread over all K classes, the true one "
    "included. The loss is minus the soft targets times log_softmax(logits), summed over the classes and "
    "averaged over the batch.",
    "K = logits.shape[-1]; soft = (1 - eps) * F.one_hot(targets, K) + eps / K; "
    "return -(soft * logits.log_softmax(-1)).sum(-1).mean()"))
def check_smoothed_loss(smoothed_loss) -> bool | None:
    """Exercise 06.2 · Label smoothing: ``smoothed_loss(logits, targets, eps)`` -> the smoothed cross-entropy.

    Averaged over the batch. Used in notebooks/06_training.
    """
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(8, 5, generator=g) * 2  # (B, K)
    y = torch.randint(0, 5, (8,), generator=g)  # (B,)
    eps = 0.2
    got = torch.as_tensor(smoothed_loss(logits.clone(), y.clone(), eps), dtype=torch.float32)
    want = F.cross_entropy(logits, y, label_smoothing=eps)
    logp = logits.log_softmax(-1)  # (B, K)
    k = logits.shape[1]
    soft = (1 - eps) * F.one_hot(y, k) + eps / k  # (B, K)
    other = torch.full_like(logp, eps / (k - 1)).scatter(1, y[:, None], 1 - eps)  # (B, K)
    hints = [
        (F.cross_entropy(logits, y), "that is plain cross-entropy: the smoothing eps was not used"),
        (-(other * logp).sum(1).mean(),
         "you spread eps over the K-1 wrong classes only; the usual definition (PyTorch, Szegedy et al. 2016) "
         "spreads eps / K over all K classes, the true one included, so the target is 1 - eps + eps / K"),
        (-(soft * logp).sum(1).sum(), "you summed over the batch; average over it (mean)"),
        (-(soft * logits.softmax(-1)).sum(1).mean(),
         "the loss multiplies the soft targets by log-probabilities (log_softmax), not probabilities"),
    ]
    expect_close(got.reshape(()), want, "the smoothed loss", hints=[(h.reshape(()), m) for h, m in hints],
                 atol=1e-5, rtol=1e-5)
    return ("soft targets (1 - eps) * one_hot + eps / K, averaged over the batch; equals "
            "F.cross_entropy(..., label_smoothing=eps)")


def _tiny_classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.GELU(), nn.Linear(8, 3))


def _step(zero_grad: str = "before backward"):
    """One SGD step as the lesson writes it, or with zero_grad 'never' or 'after backward'."""
    def step(model, opt, x, y):
        loss = F.cross_entropy(model(x), y)
        if zero_grad == "before backward":
            opt.zero_grad()
        loss.backward()
        if zero_grad == "after backward":
            opt.zero_grad()
        opt.step()
        return loss.item()
    return step


@exercise("06.3", "One training step", answer="my_train_step", hints=(
    "Four lines, in the order of lesson 06's loop: compute the loss, clear the old gradients, backward, step. "
    "Gradients add up in .grad until they are cleared, so where the clearing goes matters.",
    "loss = F.cross_entropy(model(x), y); optimizer.zero_grad(); loss.backward(); optimizer.step(); "
    "return loss.item()"))
def check_train_step(train_step) -> bool | None:
    """Exercise 06.3 · One training step: ``train_step(model, optimizer, x, y)`` -> the loss, as a float.

    Forward, loss, zero_grad, backward, step. Used in notebooks/06_training.
    """
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(6, 1, 3, 4, generator=g) for _ in range(3)]  # (B, C, H, W)
    ys = [torch.randint(0, 3, (6,), generator=g) for _ in range(3)]

    def run(step_fn):
        m = _tiny_classifier()
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        losses = [step_fn(m, opt, x, y) for x, y in zip(xs, ys)]
        return torch.cat([p.detach().flatten() for p in m.parameters()]), losses

    got, losses = run(train_step)
    want, want_losses = run(_step())
    start = torch.cat([p.detach().flatten() for p in _tiny_classifier().parameters()])
    if torch.allclose(got, start):
        raise ExerciseError("the weights did not change: call loss.backward() and then optimizer.step()")
    expect_close(got, want, "the weights after three steps", atol=1e-6, rtol=1e-5, hints=[
        (run(_step("never"))[0], "gradients pile up from step to step: call optimizer.zero_grad() before "
                                 "loss.backward()"),
        (run(_step("after backward"))[0], "optimizer.zero_grad() came after loss.backward(), so the step used "
                                          "zero gradients; clear them before backward")])
    if losses[0] is None or abs(float(losses[0]) - want_losses[0]) > 1e-5:
        raise ExerciseError(f"the weights are right but the returned loss is {losses[0]!r}; return loss.item(), "
                            "the loss computed before the step")
    return "forward, loss, zero_grad, backward, step: the weights match the reference after three steps"


@exercise("06.4", "The confusion matrix", answer="my_confusion", hints=(
    "Count (true, predicted) pairs: row = true class, column = predicted class. A Python loop over the pairs "
    "works; without one, give each pair a single index true * K + predicted and count those with torch.bincount.",
    "return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).view(num_classes, num_classes)"))
def check_confusion(confusion) -> bool | None:
    """Exercise 06.4 · The confusion matrix: ``confusion(pred, target, num_classes)`` -> (K, K) counts.

    Row = true class, column = predicted class. Used in notebooks/06_training.
    """
    pred = torch.tensor([0, 1, 1, 2, 2, 2, 0, 1])
    target = torch.tensor([0, 1, 2, 2, 0, 2, 1, 1])
    got = torch.as_tensor(confusion(pred.clone(), target.clone(), 3)).double()
    want = torch.zeros(3, 3, dtype=torch.float64)  # (K, K)
    for p, t in zip(pred, target):
        want[t, p] += 1
    expect_close(got, want, "the confusion matrix", atol=1e-5, rtol=0, hints=[
        (want.T, "rows and columns are swapped: row i should count images whose TRUE class is i"),
        (want / want.sum(1, keepdim=True), "the rows are normalised; return raw counts")])
    return "rows = true class, columns = predicted class; the diagonal holds the correct ones"


def _sweep(make_model, x, y, lrs, steps, fresh=True, zero_grad=True, after=True):
    """The reference sweep, or one of its typical mistakes."""
    losses, model = [], None
    for lr in lrs:
        if fresh or model is None:
            model = make_model()
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            if zero_grad:
                opt.zero_grad()
            loss.backward()
            opt.step()
        if after:
            with torch.no_grad():
                loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
    return losses


@exercise("06.5", "A learning-rate sweep", answer="my_lr_sweep", hints=(
    "Every learning rate gets its own fresh model (call make_model() inside the loop, so each starts from the "
    "same weights) and its own AdamW. Train `steps` full-batch steps, then measure the loss once more, without "
    "gradients, after the last step.",
    "for lr in lrs: model = make_model(); opt = torch.optim.AdamW(model.parameters(), lr=lr); "
    "for _ in range(steps): loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step(); "
    "then with torch.no_grad(): losses.append(F.cross_entropy(model(x), y).item())"))
def check_lr_sweep(lr_sweep) -> bool | None:
    """Exercise 06.5 · A learning-rate sweep: ``lr_sweep(make_model, x, y, lrs, steps)`` -> one loss per lr.

    Each lr trains a fresh model for ``steps`` AdamW steps; the loss after the last step is returned.
    Used in notebooks/06_training.
    """
    g = torch.Generator().manual_seed(61)
    x = torch.randn(64, 8, generator=g)  # (B, features)
    y = (x[:, :3] @ torch.randn(3, 4, generator=g)).argmax(1)  # (B,): 4 classes a small MLP can learn

    def make_model():
        torch.manual_seed(62)  # every call: the same starting weights
        return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))

    lrs, steps = [1e-4, 1e-3, 1e-2, 1e-1, 1.0], 5
    got = lr_sweep(make_model, x.clone(), y.clone(), list(lrs), steps)
    if not isinstance(got, (list, tuple)) or len(got) != len(lrs):
        raise ExerciseError(f"return a list with one loss per learning rate ({len(lrs)} of them), got "
                            f"{type(got).__name__}" + (f" of length {len(got)}" if hasattr(got, "__len__") else ""))
    got = torch.tensor([float(v) for v in got])
    want = torch.tensor(_sweep(make_model, x, y, lrs, steps))
    hints = [(torch.tensor(_sweep(make_model, x, y, lrs, steps, fresh=False)),
              "one model was trained on and on through all the learning rates; call make_model() for each lr, so "
              "every lr starts from the same weights"),
             (torch.tensor(_sweep(make_model, x, y, lrs, steps, zero_grad=False)),
              "forgot optimizer.zero_grad(): gradients add up over the steps"),
             (torch.tensor(_sweep(make_model, x, y, lrs, steps, after=False)),
              "returned the loss of the last training step, measured before its update; measure it once more "
              "after the last step, under torch.no_grad()")]
    expect_close(got, want, "losses", atol=1e-5, rtol=1e-4, hints=hints)
    best = lrs[int(want.argmin())]
    return f"one fresh model per learning rate; on this problem {best:g} ends lowest after {steps} steps"
