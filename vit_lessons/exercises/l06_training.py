"""Self-checks for lesson 06's exercises: one training step (warm-up), the learning-rate schedule, where label
smoothing leaves the logits (predicted, then computed), gradient accumulation, a learning-rate sweep.

Used in notebooks/06_training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import ExerciseError, exercise, expect_close, judge_prediction

__all__ = ["check_train_step", "check_lr_schedule", "check_smoothing_gap", "check_accumulated_step", "check_lr_sweep"]


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


@exercise("06.1", "Warm-up: one training step", answer="my_train_step", hints=(
    "Four lines, in the order of lesson 06's loop: compute the loss, clear the old gradients, backward, step. "
    "Gradients add up in .grad until they are cleared, so where the clearing goes matters.",
    "loss = F.cross_entropy(model(x), y); optimizer.zero_grad(); loss.backward(); optimizer.step(); "
    "return loss.item()"))
def check_train_step(train_step) -> bool | None:
    """Exercise 06.1 · Warm-up: one training step: ``train_step(model, optimizer, x, y)`` -> the loss, as a float.

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


@exercise("06.2", "The learning-rate schedule", answer="my_lr_schedule", hints=(
    "Two pieces. While step < warmup_steps, a straight line from 0 up to peak_lr. After that, a progress p "
    "runs from 0 to 1 over the remaining total_steps - warmup_steps steps, and the learning rate follows half a "
    "cosine from peak_lr down to 0.",
    "if step < warmup_steps: return peak_lr * step / warmup_steps; p = (step - warmup_steps) / "
    "(total_steps - warmup_steps); return peak_lr * 0.5 * (1 + math.cos(math.pi * p))"))
def check_lr_schedule(lr_schedule) -> bool | None:
    """Exercise 06.2 · The learning-rate schedule: ``lr_schedule(step, total_steps, peak_lr, warmup_steps)``.

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


def _gap(eps: float, k: int, true_target: str = "1 - eps + eps/K", log=math.log) -> float:
    """The logit gap (true class minus each other class) at which the smoothed loss is lowest, or a typical slip."""
    if true_target == "1 - eps":  # the eps / K on the true class forgotten
        return log((1 - eps) / (eps / k))
    if true_target == "K-1 others":  # eps spread over the K - 1 wrong classes only
        return log((1 - eps) / (eps / (k - 1)))
    return log((1 - eps + eps / k) / (eps / k))


_GAP_CASES = ((0.1, 10), (0.2, 3), (0.05, 100), (0.5, 2), (0.3, 7))


@exercise("06.3", "Where label smoothing leaves the logits", answer="my_smoothing_gap", hints=(
    "The smoothed loss is a cross-entropy against the soft target q, so it is lowest when softmax(z) = q exactly. "
    "For softmax, p_true / p_other = exp(z_true - z_other): the gap is the log of the ratio of the two targets.",
    "return math.log((1 - eps + eps / num_classes) / (eps / num_classes))"))
def check_smoothing_gap(smoothing_gap) -> bool | None:
    """Exercise 06.3 · Where label smoothing leaves the logits: ``smoothing_gap(eps, num_classes)`` -> the gap between
    the true class's logit and every other class's logit at which the label-smoothed cross-entropy is lowest.

    The learner first writes ``my_gap_prediction``, the gap for eps = 0.1 and K = 10. Used in notebooks/06_training.
    """
    got = []
    for eps, k in _GAP_CASES:
        v = smoothing_gap(eps, k)
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ExerciseError(f"return one number (a float), got {type(v).__name__} for eps={eps}, K={k}")
        got.append(float(v))
    table = lambda **kw: torch.tensor([_gap(e, k, **kw) for e, k in _GAP_CASES], dtype=torch.float64)  # noqa: E731
    if any(math.isinf(v) for v in got):
        raise ExerciseError("an infinite gap is where *plain* cross-entropy is lowest; with label smoothing the target "
                            "is never 0 or 1, so the best logits are a finite distance apart")
    expect_close(torch.tensor(got, dtype=torch.float64), table(), f"the gaps for (eps, K) = {list(_GAP_CASES)}",
                 atol=1e-6, rtol=1e-6, hints=[
        (table(true_target="1 - eps"), "the true class's target is 1 - eps + eps / K (it gets its share of the "
                                       "spread too), not 1 - eps"),
        (table(true_target="K-1 others"), "that spreads eps over the K - 1 wrong classes; lesson 06's smoothing "
                                          "(and PyTorch's) spreads eps / K over all K classes"),
        (table(log=lambda r: r), "that is the ratio of the two probabilities; logits differ by its logarithm, "
                                 "since p_true / p_other = exp(z_true - z_other)"),
        (table(log=math.log10), "use the natural logarithm (math.log): softmax exponentiates with base e"),
        (table(log=math.log2), "use the natural logarithm (math.log): softmax exponentiates with base e"),
        (-table(), "the sign is flipped: the true class's logit is the larger one"),
    ])
    verdict = judge_prediction(smoothing_gap, "my_gap_prediction", _gap(0.1, 10), tol=0.25, why=(
        "the loss is lowest where softmax(z) equals the smoothed target, 0.91 on the true class and 0.01 on each "
        "other, a probability ratio of 91: ln 91 = 4.51. Plain cross-entropy would push the gap to infinity"))
    return f"the smoothed loss is lowest at a finite gap, ln(1 + K (1 - eps) / eps); {verdict}"


def _accumulate(scale: bool = True, zero: str = "start", step: str = "end", loss_out: str = "mean"):
    """Gradient accumulation as it should be, or with one typical mistake."""
    def acc(model, opt, x, y, micro_batches):
        if zero == "start":
            opt.zero_grad()
        losses = []
        for xb, yb in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
            if zero == "each":
                opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            (loss / micro_batches if scale else loss).backward()
            losses.append(loss.item())
            if step == "each":
                opt.step()
        if step == "end":
            opt.step()
        return sum(losses) / len(losses) if loss_out == "mean" else losses[-1]
    return acc


@exercise("06.4", "Gradient accumulation", answer="my_accumulated_step", hints=(
    "Gradients add up in .grad until they are cleared, which is what lesson 06's loop clears them for; here that "
    "is the point. Clear once, run backward on every micro-batch, step once. The full batch's loss is the MEAN over "
    "its images, so each of the k equal micro-batches must contribute 1/k of its own mean.",
    "optimizer.zero_grad(); for xb, yb in zip(x.chunk(k), y.chunk(k)): loss = F.cross_entropy(model(xb), yb); "
    "(loss / k).backward(); losses.append(loss.item()); then optimizer.step() once; return sum(losses) / k"))
def check_accumulated_step(accumulated_step) -> bool | None:
    """Exercise 06.4 · Gradient accumulation: ``accumulated_step(model, optimizer, x, y, micro_batches)`` -> the
    batch's loss as a float, after ONE optimizer step whose update equals one step on the whole batch, computed
    from ``micro_batches`` equal chunks that each go through forward and backward on their own.

    Used in notebooks/06_training.
    """
    g = torch.Generator().manual_seed(64)
    xs = [torch.randn(12, 1, 3, 4, generator=g) for _ in range(2)]  # (B, C, H, W): two batches, two calls
    ys = [torch.randint(0, 3, (12,), generator=g) for _ in range(2)]

    def run(fn, k):
        m = _tiny_classifier()
        opt = torch.optim.SGD(m.parameters(), lr=0.5)  # plain SGD: a gradient k times too large shows in the step
        losses = [fn(m, opt, x.clone(), y.clone(), k) for x, y in zip(xs, ys)]
        return torch.cat([p.detach().flatten() for p in m.parameters()]), losses

    for k in (3, 4):
        got, losses = run(accumulated_step, k)
        want, want_losses = run(lambda m, opt, x, y, _: _step()(m, opt, x, y), k)  # one ordinary full-batch step
        if torch.allclose(got, torch.cat([p.detach().flatten() for p in _tiny_classifier().parameters()])):
            raise ExerciseError("the weights did not change: after the micro-batches' backward passes, call "
                                "optimizer.step() once")
        expect_close(got, want, f"the weights after two accumulated steps of {k} micro-batches", atol=1e-6,
                     rtol=1e-5, hints=[
            (run(_accumulate(scale=False), k)[0], "the step is k times too large: the micro-batches' gradients "
                                                  "add up in .grad, so divide each micro-batch's loss by k before "
                                                  "backward (the full batch's loss is the mean, not the sum)"),
            (run(_accumulate(zero="each"), k)[0], "optimizer.zero_grad() inside the loop throws away the earlier "
                                                  "micro-batches' gradients: clear once, before the first one"),
            (run(_accumulate(step="each"), k)[0], "optimizer.step() inside the loop takes one step per micro-batch; "
                                                  "accumulate all k gradients, then step once"),
            (run(_accumulate(zero="never"), k)[0], "the first call's gradients were still in .grad during the second: "
                                                   "call optimizer.zero_grad() once at the start")])
        loss = losses[0].item() if isinstance(losses[0], torch.Tensor) else losses[0]
        if not isinstance(loss, (int, float)) or abs(float(loss) - want_losses[0]) > 1e-5:
            last = run(_accumulate(loss_out="last"), k)[1][0]
            slip = (" (that is the last micro-batch's loss only)" if isinstance(loss, (int, float))
                    and abs(float(loss) - last) < 1e-5 else "")
            raise ExerciseError(f"the weights are right but the returned loss is {loss!r}{slip}; return the whole "
                                f"batch's loss before the step, {want_losses[0]:.4f}: the mean of the k micro-batch "
                                "losses, as a float")
    return "one step from k micro-batches equals one step on the whole batch (weights and loss, k = 3 and 4)"


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
