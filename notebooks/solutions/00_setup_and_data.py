# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Solutions to lesson 00
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vit-from-scratch/vit-from-scratch/blob/main/notebooks/solutions/00_setup_and_data.ipynb)
#
# Worked solutions to the exercises of [lesson 00](../00_setup_and_data.ipynb). Try them yourself first:
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
from vit_lessons.data import load_dataset
from vit_lessons.exercises import check_channel_stats, check_predict_normalised_stats, check_streaming_stats

# %% [markdown]
# ## Exercise 00.1 · Warm-up: per-channel statistics
#
# Scale to $[0, 1]$ first, then reduce over every dim except the channels: batch, height and width.
# `Tensor.std` is the sample standard deviation (divides by $n-1$); with millions of pixels the
# difference from the population value is negligible, and the check accepts both.

# %%
def my_channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (B, C, H, W) -> (mean, std), each (C,), in [0, 1] units."""
    x = images.float() / 255  # (B, C, H, W) in [0, 1]
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))  # (C,), (C,)


ok = check_channel_stats(my_channel_stats)

# %% [markdown]
# ## Exercise 00.2 · Predict a wrong normalisation
#
# Normalising is a linear map per channel, $z = (a x - m)/s$, with $a = 1/255$ when the pipeline scales
# the `uint8` pixels first and $a = 1$ when it forgets to. A mean passes through a linear map as it is, and
# a shift moves every pixel by the same amount, so it leaves the spread alone. In $[0, 1]$ units the
# pixels have mean $\mu$ and std $\sigma$; without the division they are 255 times larger:
#
# $$\operatorname{mean}(z) = \frac{k\mu - m}{s}, \qquad \operatorname{std}(z) = \frac{k\sigma}{s},
# \qquad k = 1 \text{ (divided by 255) or } 255 \text{ (not)}.$$

# %%
def my_predict_normalised_stats(data_mean, data_std, mean, std, divide_by_255: bool = True):
    """Per-channel (mean, std) of (x / 255 - mean) / std, or of (x - mean) / std without the division."""
    mu, sd, m, s = (torch.as_tensor(v, dtype=torch.float64) for v in (data_mean, data_std, mean, std))
    k = 1.0 if divide_by_255 else 255.0  # the pixels, in units of the [0, 1] statistics
    return (k * mu - m) / s, k * sd / s  # (C,), (C,)


ok = check_predict_normalised_stats(my_predict_normalised_stats)

# %% [markdown]
# Now the measurement on the real thing, all 60,000 Fashion-MNIST training images, for the two bugs the
# lesson's exercise asks about and the right pipeline:

# %%
data = load_dataset("fashion-mnist")
x = data.train_x.double()  # (60000, 1, 28, 28), 0..255
mu, sd = (x / 255).mean((0, 2, 3)), (x / 255).std((0, 2, 3))  # the dataset's statistics, (C,) each
stored_m, stored_s = data.info.mean, data.info.std  # the constants a pipeline uses: 0.2860, 0.3530
for name, m, s, divide in [("right constants", stored_m, stored_s, True),
                           ("ImageNet's red-channel constants", (0.485,), (0.229,), True),
                           ("right constants, no / 255", stored_m, stored_s, False)]:
    pred_mean, pred_std = my_predict_normalised_stats(mu, sd, m, s, divide)
    z = ((x / 255 if divide else x) - m[0]) / s[0]  # what that pipeline computes
    print(f"{name:33s} predicted mean {pred_mean.item():8.3f}, std {pred_std.item():7.3f} | "
          f"measured mean {z.mean().item():8.3f}, std {z.std().item():7.3f}")
    torch.testing.assert_close(torch.stack([pred_mean[0], pred_std[0]]), torch.stack([z.mean(), z.std()]),
                               atol=2e-3, rtol=1e-4)

# %% [markdown]
# The predictions hold to the printed digits. ImageNet's constants leave the pixels off-centre (mean
# -0.869) and spread 1.54 times as wide as intended, a mild bug; forgetting the division is a serious one:
# inputs around 206 with a spread of 255, hundreds of times the scale the layers' initialisation assumes.

# %% [markdown]
# ## Exercise 00.3 · Statistics of a dataset too big for memory
#
# Keep three running totals per channel while the batches stream past: the count $n$, the sum
# $\sum x$ and the sum of squares $\sum x^2$. Then $\mu = \sum x / n$ and
# $\sigma^2 = (\sum x^2 - n\mu^2)/(n - 1)$. Float64 keeps the subtraction accurate over millions
# of pixels. Averaging the batches' standard deviations would miss how far the batch means lie apart.

# %%
def my_streaming_stats(batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Iterable of uint8 (B, C, H, W) batches -> (mean, std), each (C,), in [0, 1] units, in one pass."""
    n, s, s2 = 0, 0.0, 0.0
    for x in batches:
        x = x.double() / 255  # (B, C, H, W) in [0, 1]
        n += x.numel() // x.shape[1]  # values per channel in this batch
        s = s + x.sum(dim=(0, 2, 3))  # (C,)
        s2 = s2 + (x * x).sum(dim=(0, 2, 3))  # (C,)
    mean = s / n
    std = ((s2 - n * mean * mean) / (n - 1)).sqrt()
    return mean.float(), std.float()


ok = check_streaming_stats(my_streaming_stats)
