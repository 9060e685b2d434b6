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

from vit_lessons.data import load_dataset, normalize_batch
from vit_lessons.exercises import (check_confusion, check_lr_schedule, check_lr_sweep, check_smoothed_loss,
                                   check_train_step)
from vit_lessons.config import ViTConfig
from vit_lessons.model import VisionTransformer

# %% [markdown]
# ## Exercise 06.1 · The learning-rate schedule
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
# ## Exercise 06.2 · Label smoothing
#
# Soft targets times log-probabilities, summed over classes, averaged over the batch.


# %%
def my_smoothed_loss(logits, targets, eps):
    K = logits.shape[-1]
    soft = (1 - eps) * F.one_hot(targets, K) + eps / K  # (B, K)
    return -(soft * logits.log_softmax(-1)).sum(-1).mean()


ok = check_smoothed_loss(my_smoothed_loss)

# %% [markdown]
# ## Exercise 06.3 · One training step
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
# ## Exercise 06.4 · The confusion matrix
#
# One index per (true, predicted) pair, counted with `bincount`.


# %%
def my_confusion(pred, target, num_classes):
    idx = target * num_classes + pred
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


ok = check_confusion(my_confusion)

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
data = load_dataset("fashion-mnist")
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
