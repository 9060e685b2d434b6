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
# Colab: install the course package from the repository (elsewhere `make lab` already did).
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "vit-lessons[dev] @ git+https://github.com/vit-from-scratch/vit-from-scratch"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
from vit_lessons.lesson import setup, pick
device = setup(seed=0)

import math

import torch
import torch.nn.functional as F

from vit_lessons.exercises import check_confusion, check_lr_schedule, check_smoothed_loss, check_train_step

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
