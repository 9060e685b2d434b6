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
# # 09 · Solutions to lesson 09
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/09_small_data.ipynb)
#
# Worked solutions to the exercises of [lesson 09](../09_small_data.ipynb). Try them yourself first:
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

import torch
import torch.nn.functional as F

from vit_lessons.exercises import check_hard_distill_loss, check_shift_stack, check_soft_target_loss

# %% [markdown]
# ## Exercise 09.1 · The soft-target loss
#
# Both distributions are softened with the same $\tau$; the teacher's probabilities $p$ weight the sum
# $\sum p(\log p - \log q)$, and $\tau^2$ undoes the $1/\tau^2$ the temperature puts on the gradient.


# %%
def my_soft_target_loss(student_logits, teacher_logits, tau):
    p = F.softmax(teacher_logits / tau, dim=-1)  # (B, K)
    log_q = F.log_softmax(student_logits / tau, dim=-1)  # (B, K)
    return (p * (p.log() - log_q)).sum(-1).mean() * tau**2


ok = check_soft_target_loss(my_soft_target_loss)

# %% [markdown]
# ## Exercise 09.2 · Hard distillation
#
# The teacher's argmax is a second label for the same logits (DeiT's hard distillation).


# %%
def my_hard_distill_loss(student_logits, labels, teacher_logits, alpha):
    return ((1 - alpha) * F.cross_entropy(student_logits, labels)
            + alpha * F.cross_entropy(student_logits, teacher_logits.argmax(-1)))


ok = check_hard_distill_loss(my_hard_distill_loss)

# %% [markdown]
# ## Exercise 09.3 · The shifted patch stack
#
# Pad with `s` zeros on every side: the image then starts at row and column `s` of the padded one. The
# window starting at `(s + dy, s + dx)` holds, at pixel $(i, j)$, the value $x_{i+dy,\,j+dx}$ — with
# `dy = dx = -s` each pixel sees its neighbour up-left, and zeros come in from beyond the border.


# %%
def my_shift_stack(x, shift):
    s = shift
    H, W = x.shape[-2:]
    xp = F.pad(x, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    moved = [xp[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in ((-s, -s), (-s, s), (s, -s), (s, s))]
    return torch.cat([x, *moved], dim=1)  # (B, 5C, H, W)


ok = check_shift_stack(my_shift_stack)
