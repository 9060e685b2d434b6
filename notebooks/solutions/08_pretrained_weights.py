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
# # 08 · Solutions to lesson 08
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/08_pretrained_weights.ipynb)
#
# Worked solutions to the exercises of [lesson 08](../08_pretrained_weights.ipynb). Try them yourself first:
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

from torch import nn

from vit_lessons.exercises import check_freeze_backbone, check_grey_to_rgb, check_new_head, check_probe_features

# %% [markdown]
# ## Exercise 08.1 · A new head
#
# The head maps the D features to the classes; a fresh `nn.Linear` replaces it, and nothing else is touched.


# %%
def my_new_head(model, num_classes):
    model.head = nn.Linear(model.config.embed_dim, num_classes)  # (B, D) -> (B, K)
    return model


ok = check_new_head(my_new_head)

# %% [markdown]
# ## Exercise 08.2 · Freeze the backbone
#
# One flag per parameter: only names starting with `head.` keep their gradients. `cls_token` and
# `pos_embed` are parameters too, and are frozen with the rest.


# %%
def my_freeze_backbone(model):
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("head."))


ok = check_freeze_backbone(my_freeze_backbone)

# %% [markdown]
# ## Exercise 08.3 · Grey filters for colour images
#
# A grey picture copied into three channels makes each of the three copies of the filter respond as the
# grey filter did; the convolution sums them, so each copy gets a third of the weight.


# %%
def my_grey_to_rgb(weight):
    return weight.repeat(1, 3, 1, 1) / 3  # (D, 1, P, P) -> (D, 3, P, P)


ok = check_grey_to_rgb(my_grey_to_rgb)

# %% [markdown]
# ## Exercise 08.4 · The features a linear probe reads
#
# Everything up to the head: patch embedding, blocks and the final LayerNorm (`forward_features`), then the
# class token, which this model pools.


# %%
def my_probe_features(model, images):
    return model.forward_features(images)[:, 0]  # (B, N + 1, D) -> (B, D): the class token's final state


ok = check_probe_features(my_probe_features)
