# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.0
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Solutions to lesson 06
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/06_training.ipynb)
#
# Worked solutions to the exercises of [lesson 06](../06_training.ipynb). Try them yourself first:
# each check below says what is wrong when an answer is not right yet.

# %%
# Colab: install the course package and what the lessons import (no Jupyter or test tools);
# elsewhere `make lab` already did.
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vit-lessons @ git+https://github.com/vit-from-scratch/vit-from-scratch"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
from vit_lessons.lesson import setup, pick
device = setup(seed=0)

import math

import torch
import torch.nn.functional as F

import matplotlib.pyplot as plt

from vit_lessons.assets import asset_path
from vit_lessons.config import ViTConfig
from vit_lessons.data import load_dataset, normalize_batch
from vit_lessons.exercises import (check_accumulated_step, check_lr_schedule, check_lr_sweep, check_smoothing_gap,
                                   check_train_step)
from vit_lessons.model import VisionTransformer
from vit_lessons.train import load_model

# %% [markdown]
# ## Exercise 06.1 · Warm-up: one training step
#
# The four lines of lesson 06, with the gradients cleared before `backward`.


# %%
def my_train_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


ok = check_train_step(my_train_step)

# %% [markdown]
# ## Exercise 06.2 · The learning-rate schedule
#
# Warm-up is a straight line from 0; after it, the cosine's argument runs from 0 to
# $\pi$ over the remaining steps, and $\tfrac12(1+\cos)$ maps that to 1 … 0.


# %%
def my_lr_schedule(step, total_steps, peak_lr, warmup_steps):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return peak_lr * 0.5 * (1 + math.cos(math.pi * progress))


ok = check_lr_schedule(my_lr_schedule)

# %% [markdown]
# ## Exercise 06.3 · Where label smoothing leaves the logits
#
# **The prediction, reasoned.** The smoothed loss is a cross-entropy against the soft target $q$, and a
# cross-entropy $-\sum_k q_k \log p_k$ is lowest when the prediction equals the target, $p = q$. With
# $\varepsilon = 0.1$ and $K = 10$ the target is $0.9 + 0.01 = 0.91$ on the true class and $0.01$ on each other
# class. For a softmax, $p_y / p_k = e^{z_y - z_k}$, so the logits must differ by $\ln(0.91 / 0.01) = \ln 91$,
# about 4.5. In general the gap is $\ln\big(1 + K(1-\varepsilon)/\varepsilon\big)$: it grows with $K$ and falls
# as $\varepsilon$ grows, and it is finite for every $\varepsilon > 0$.

# %%
my_gap_prediction = 4.5  # ln(0.91 / 0.01) = ln 91, reasoned above before computing


def my_smoothing_gap(eps, num_classes):
    return math.log((1 - eps + eps / num_classes) / (eps / num_classes))


ok = check_smoothing_gap(my_smoothing_gap)

# %% [markdown]
# Check it by letting gradient descent find the minimum: a free logit vector for one image, trained on the
# label-smoothed loss alone (PyTorch's `label_smoothing=0.1`), and the same with plain cross-entropy.

# %%
for eps in (0.1, 0.0):
    z = torch.zeros(1, 10, requires_grad=True)  # (1, K): one image's logits, class 0 the true one
    opt = torch.optim.SGD([z], lr=5.0)
    for _ in range(2000):
        loss = F.cross_entropy(z, torch.tensor([0]), label_smoothing=eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    gap = (z[0, 0] - z[0, 1:].mean()).item()
    print(f"label_smoothing={eps}: gap after 2,000 steps {gap:.3f}, loss {loss.item():.4f}"
          + (f" (the formula: {my_smoothing_gap(eps, 10):.3f})" if eps else " (still growing)"))

# %% [markdown]
# With smoothing the gap settles on the formula's value; without it, it keeps growing as long as training runs.
# Does the course's checkpoint, trained with $\varepsilon = 0.1$, sit near that gap? On 2,000 test images, the
# predicted class's logit minus the mean of the other nine:

# %%
data = load_dataset("fashion-mnist")
model, _ = load_model(asset_path("checkpoints/fashion_mnist_vit.pt"))
xt = normalize_batch(data.test_x[:2000], data.info.mean, data.info.std)  # (2000, 1, 28, 28)
with torch.no_grad():
    logits = model(xt)  # (2000, 10)
top = logits.max(dim=-1).values  # (2000,)
gaps = top - (logits.sum(-1) - top) / 9  # (2000,): predicted class's logit minus the others' mean
rest = my_smoothing_gap(0.1, 10)
q = torch.quantile(gaps, torch.tensor([0.1, 0.5, 0.9]))
print(f"gap on 2,000 test images: 10% {q[0]:.2f}, median {q[1]:.2f}, 90% {q[2]:.2f}; "
      f"above the resting gap {rest:.2f}: {(gaps > rest).float().mean():.1%} of images")
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.hist(gaps.numpy(), bins=40, color="C0")
ax.axvline(rest, color="C3", ls="--", label=f"resting gap ln 91 = {rest:.2f}")
ax.set(xlabel="predicted class's logit minus the others' mean", ylabel="test images",
       title="the course's checkpoint, 2,000 test images")
ax.legend()
fig.tight_layout()

# %% [markdown]
# It does: the gaps pile up at the resting gap (the median printed above is within a hundredth of ln 91) and
# barely pass it (nine images in ten lie below the printed 90% point, a tenth above ln 91): the model's
# confidence stops at about the smoothed target's 91%. The long tail to
# the left holds the images the model is unsure about, where a second class keeps a share. Label smoothing caps
# the confidence the training loss can buy; plain cross-entropy would keep pushing the gaps out, as the free
# logits above did.

# %% [markdown]
# ## Exercise 06.4 · Gradient accumulation
#
# Clear once, then let every micro-batch's backward add to `.grad`, then step once. The full batch's loss is
# the mean over its images, and with $k$ equal chunks that mean is the average of the $k$ chunk means, so each
# chunk contributes its own loss divided by $k$; its gradient follows.


# %%
def my_accumulated_step(model, optimizer, x, y, micro_batches):
    optimizer.zero_grad()
    losses = []
    for xb, yb in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
        loss = F.cross_entropy(model(xb), yb)  # this chunk's mean
        (loss / micro_batches).backward()  # adds 1/k of its gradient to .grad
        losses.append(loss.item())
    optimizer.step()
    return sum(losses) / micro_batches


ok = check_accumulated_step(my_accumulated_step)

# %% [markdown]
# The same on the course's ViT with lesson 06's AdamW: four micro-batches of 32 images leave in `.grad` the
# gradient of the batch of 128 (up to float rounding: the sums are taken in a different order), so the step
# that follows is the same.

# %%
xb = normalize_batch(data.train_x[:128], data.info.mean, data.info.std)  # (128, 1, 28, 28)
yb = data.train_y[:128]
models = []
for k in (1, 4):
    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig.fashion_mnist_cpu())
    opt = torch.optim.AdamW(vit.parameters(), lr=2e-3)
    batch_loss = my_accumulated_step(vit, opt, xb, yb, k)
    models.append(vit)
    print(f"{k} micro-batch(es): loss {batch_loss:.5f}")
pairs = list(zip(models[0].named_parameters(), models[1].parameters()))
for (name, a), b in pairs:
    torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)
moved = max((a - b).abs().max().item() for (_, a), b in pairs)
print(f"the gradients of all {len(pairs)} parameter tensors agree; largest weight difference after the step {moved:.1e}")

# %% [markdown]
# The weights after the step differ by a few millionths at most (printed above), although AdamW's learning
# rate is 2e-3: its first step divides each gradient by its own size, so a weight whose gradient is nearly 0
# can move by a different amount when rounding changes that tiny gradient. The step itself is the same one.

# %% [markdown]
# ## Exercise 06.5 · A learning-rate sweep
#
# Each learning rate must start from the same weights, or the comparison says more about the order of
# the sweep than about the learning rates; so `make_model()` is called inside the loop, and each model
# gets its own optimizer (AdamW's running averages belong to one run).

# %%
def my_lr_sweep(make_model, x, y, lrs, steps):
    """One loss per learning rate: a fresh model, `steps` full-batch AdamW steps, the loss after the last."""
    losses = []
    for lr in lrs:
        model = make_model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            losses.append(F.cross_entropy(model(x), y).item())
    return losses


ok = check_lr_sweep(my_lr_sweep)

# %% [markdown]
# The same sweep on the course's CPU model (`ViTConfig.fashion_mnist_cpu()`, the
# model lesson 06 trains) and one batch of Fashion-MNIST images, a few steps per learning rate:

# %%
n, steps = pick(ci=256, default=1024), pick(ci=6, default=20)
xs = normalize_batch(data.train_x[:n], data.info.mean, data.info.std)  # (n, 1, 28, 28)
ys = data.train_y[:n]  # (n,)


def make_vit():
    torch.manual_seed(0)  # every learning rate starts from the same weights
    return VisionTransformer(ViTConfig.fashion_mnist_cpu())


lrs = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
sweep = my_lr_sweep(make_vit, xs, ys, lrs, steps)
for lr, loss in zip(lrs, sweep):
    print(f"lr {lr:7.0e}: loss {loss:.3f} after {steps} steps")
print(f"lowest loss at lr {lrs[min(range(len(lrs)), key=sweep.__getitem__)]:g} (start: ln 10 = {math.log(10):.3f})")
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.semilogx(lrs, sweep, "o-")
ax.axhline(math.log(10), color="0.5", ls=":", label="ln 10: guessing uniformly")
ax.set(xlabel="peak learning rate (AdamW)", ylabel=f"loss after {steps} steps", title=f"learning-rate sweep, {n} images")
ax.legend()
fig.tight_layout()

# %% [markdown]
# Too small a rate barely moves the loss in a few steps; too large a rate makes it jump back up or stall.
# A short sweep measures only how fast the loss falls at first, not where a long run ends, so use it to find
# the range: stay clear of the steep rise on the right, and pick a rate near the bottom of the curve, reached
# through a warm-up (lesson 06, §6.2).
