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
# # 10 · Solutions to lesson 10
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/10_making_it_fast.ipynb)
#
# Worked solutions to the exercises of [lesson 10](../10_making_it_fast.ipynb). Try them yourself first:
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

import statistics
import time

from vit_lessons import ViTConfig
from vit_lessons.bench import speed
from vit_lessons.exercises import check_attention_memory, check_race, check_step_flops
from vit_lessons.exercises.l10_making_it_fast import RACE_CONFIGS

# %% [markdown]
# ## Exercise 10.1 · FLOPs of a step (warm-up)
#
# Every term is a matrix product, $2abc$ FLOPs for an $(a\times b)(b\times c)$ product. The blocks see
# $n = N + 1$ tokens, the class token included; the patch embedding sees the $N$ patches only. The
# backward pass doubles every product except the patch embedding's, whose input (the images) needs no
# gradient.


# %%
def my_step_flops(cfg, train):
    n, D, M, L = cfg.num_tokens, cfg.embed_dim, cfg.mlp_hidden_dim, cfg.depth  # n = N + 1 tokens
    patch_embed = 2 * cfg.num_patches * cfg.patch_size**2 * cfg.in_chans * D  # the N patches only
    block = 2 * n * D * 3 * D + 2 * n * n * D + 2 * n * n * D + 2 * n * D * D + 2 * (2 * n * D * M)
    forward = patch_embed + L * block + 2 * D * cfg.num_classes
    return 3 * forward - patch_embed if train else forward


ok = check_step_flops(my_step_flops)

# %% [markdown]
# ## Exercise 10.2 · Predict, then race two configs
#
# The prediction from the formula: with the MLP twice as wide as $D$, a block's forward pass costs
# $16nD^2 + 4n^2D$ FLOPs. Doubling $D$ quadruples the first term and halving the depth halves the total, so
# the wide model should cost about twice as much per step, a little less because the attention's $n^2D$
# term only doubles. The race warms each step up, times the two one after the other in every round, divides within
# the round and takes the median.


# %%
course, wide = RACE_CONFIGS.values()
predicted_speedup = my_step_flops(wide, True) / my_step_flops(course, True)
print(f"FLOPs of a training step: course model {my_step_flops(course, True) / 1e6:.1f} M, wide model "
      f"{my_step_flops(wide, True) / 1e6:.1f} M per image: the course model should be "
      f"{predicted_speedup:.2f}x as fast")


def my_race(step_a, step_b, rounds):
    step_a(), step_b()  # warm-up: the first call allocates memory and picks kernels
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        step_a()
        t1 = time.perf_counter()
        step_b()
        t2 = time.perf_counter()
        ratios.append((t2 - t1) / (t1 - t0))  # B's seconds over A's: how many times as fast A is
    return statistics.median(ratios)


# %%
# NBVAL_IGNORE_OUTPUT
ok = check_race(my_race)

# %% [markdown]
# The FLOPs picked the right winner but not the margin: the course model needs about half the wide model's
# FLOPs, yet it trains nowhere near twice as fast (the measured ratio is printed above; it moves a little
# from run to run). The wide model gets more done per second for two reasons the FLOP count cannot
# see: its matrix products are larger, which the CPU's matrix routines run closer to their peak, and with
# half as many blocks it makes half as many calls to small element-wise operators (LayerNorms, GELU,
# residual additions, the softmax), whose cost is the call and the memory traffic, not arithmetic. FLOPs are
# the floor of what a step costs; how close a model gets to it is measured, as here, in turns.

# %% [markdown]
# ## Exercise 10.3 · Memory that attention keeps
#
# Each of the $L$ blocks keeps a $(B, h, N + 1, N + 1)$ tensor of probabilities, the class token included.


# %%
def my_attention_memory(cfg, batch, bytes_per_number):
    n = cfg.num_tokens  # N + 1
    return cfg.depth * batch * cfg.num_heads * n * n * bytes_per_number


# %%
# NBVAL_IGNORE_OUTPUT
ok = check_attention_memory(my_attention_memory)

# %% [markdown]
# The same comparison on more sizes: `bench speed --sections memory` measures the explicit and SDPA peaks
# of the course model on grids of 3×3 to 14×14 patches; the prediction is your formula.

# %%
rows = speed.memory_rows("fashion_mnist", ViTConfig.fashion_mnist_cpu(), 16, "cpu", grids=(3, 5, 7, 9))
for e, f in zip(rows[::2], rows[1::2]):
    cfg = ViTConfig.fashion_mnist_cpu(img_size=e["img_size"])
    predicted = my_attention_memory(cfg, 16, 4) / 2**20
    measured = e["peak_mem_mb"] - f["peak_mem_mb"]
    print(f"{e['tokens']:>3} tokens: predicted {predicted:5.2f} MB of probabilities, measured gap {measured:5.2f} MB")
    assert 0.5 * predicted < measured < 1.5 * predicted
