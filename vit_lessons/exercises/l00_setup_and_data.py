"""Self-checks for lesson 00's exercises: per-channel statistics, normalising, ToTensor.

Used in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import numpy as np
import torch

from ._common import ExerciseError, exercise, expect_close, expect_float, expect_shape

__all__ = ["check_channel_stats", "check_normalize", "check_to_tensor"]


def _stats_images() -> torch.Tensor:
    """(32, 3, 6, 6) uint8 images whose three channels have clearly different statistics."""
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([0, 60, 120]).view(1, 3, 1, 1)
    span = torch.tensor([100, 140, 135]).view(1, 3, 1, 1)
    return (lo + torch.rand(32, 3, 6, 6, generator=g) * span).round().to(torch.uint8)  # (B, C, H, W)


@exercise("00.1", "Per-channel statistics", answer="my_channel_stats", hints=(
    "Work in [0, 1] units first (the images are uint8, 0..255). Then ask which dims must disappear: "
    "the batch, the height and the width; only the channel dim C survives.",
    "x = images.float() / 255, then return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))"))
def check_channel_stats(channel_stats) -> bool | None:
    """Exercise 00.1 · Per-channel statistics: ``channel_stats(images)`` -> (mean, std), each (C,), in [0, 1] units.

    Used in notebooks/00_setup_and_data.
    """
    imgs = _stats_images()
    got = channel_stats(imgs.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise ExerciseError("return two things, (mean, std), each a tensor of shape (C,)")
    mean, std = (torch.as_tensor(v, dtype=torch.float32) if not isinstance(v, torch.Tensor) else v for v in got)
    x = imgs.float() / 255
    want_mean, want_std = x.mean((0, 2, 3)), x.std((0, 2, 3))  # (C,), (C,)
    c = imgs.shape[1]
    wrong = {(): "a single number for all channels: reduce over dims (0, 2, 3) only, keeping C",
             (imgs.shape[0],): "one value per image: reduce over the batch too, dims (0, 2, 3)",
             (imgs.shape[0], c): "one value per image and channel: reduce over the batch too, dims (0, 2, 3)",
             tuple(imgs.shape[1:]): "one value per pixel: reduce over height and width too, dims (0, 2, 3)"}
    expect_shape(mean, (c,), "mean", wrong)
    expect_shape(std, (c,), "std", wrong)
    expect_float(mean, "mean")
    unscaled = "values are 255 times too large: divide the uint8 images by 255 first (x.float() / 255)"
    expect_close(mean, want_mean, "mean", atol=1e-4, hints=[
        (want_mean * 255, unscaled),
        (x.mean().expand(c), "every channel got the same value: you averaged over the channels too; "
                             "reduce over dims (0, 2, 3) only")])
    biased = x.std((0, 2, 3), unbiased=False)
    got_std = std.detach().float()
    if not torch.allclose(got_std, want_std, atol=1e-5) and torch.allclose(got_std, biased, atol=1e-5):
        return "per-channel mean and std (population std, unbiased=False; the difference is tiny)"
    expect_close(std, want_std, "std", atol=1e-5, hints=[
        (want_std * 255, unscaled),
        (want_std**2, "this is the variance: take its square root (or use .std)"),
        (x.std().expand(c), "every channel got the same value: you took the std over the channels too; "
                            "reduce over dims (0, 2, 3) only"),
        (x.std((2, 3)).mean(0), "you averaged the std of each image; the dataset std is over all pixels of "
                                "all images at once: x.std(dim=(0, 2, 3))")])
    return "per-channel mean and std"


@exercise("00.2", "Normalise a batch", answer="my_normalize", hints=(
    "mean and std hold one number per channel. As tensors of shape (C,) they broadcast against the LAST dim "
    "of (B, C, H, W), the width. Give them a shape that lines up with the channel dim instead.",
    "m = torch.tensor(mean).view(-1, 1, 1) and s = torch.tensor(std).view(-1, 1, 1), both (C, 1, 1); "
    "then return (images.float() / 255 - m) / s"))
def check_normalize(normalize) -> bool | None:
    """Exercise 00.2 · Normalise a batch: ``normalize(images_uint8, mean, std)`` -> float (B, C, H, W).

    The result is (x / 255 - mean) / std per channel. Used in notebooks/00_setup_and_data.
    """
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (4, 3, 5, 3), generator=g, dtype=torch.uint8)  # W == C on purpose
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    got = normalize(imgs.clone(), mean, std)
    x = imgs.float() / 255
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    want = (x - m) / s  # (B, C, H, W)
    expect_shape(got, tuple(imgs.shape), "normalised batch")
    expect_float(got, "normalised batch")
    expect_close(got, want, "normalised batch", atol=1e-5, hints=[
        ((imgs.float() - m) / s, "forgot to scale to [0, 1]: divide the uint8 values by 255 before "
                                 "subtracting the mean"),
        ((x - torch.tensor(mean)) / torch.tensor(std), "mean and std were broadcast over the last dim (width), "
                                                       "not the channels: reshape them to (C, 1, 1)"),
        (x - m, "subtracted the mean but did not divide by the std"),
        ((x - m) * s, "multiplied by the std; divide by it instead"),
        (x / s - m, "divided before subtracting: it is (x - mean) / std"),
        (x, "only scaled to [0, 1]; now subtract the mean and divide by the std")])
    return "(x / 255 - mean) / std per channel"


@exercise("00.3", "Your own ToTensor", answer="my_to_tensor", hints=(
    "Two jobs: move the channel axis from last to first without scrambling the pixels, and turn the integers "
    "0..255 into floats in [0, 1]. reshape keeps the memory order; which tensor method moves axes instead?",
    "return torch.from_numpy(array).permute(2, 0, 1).float() / 255"))
def check_to_tensor(to_tensor) -> bool | None:
    """Exercise 00.3 · Your own ToTensor: ``to_tensor(array_hwc_uint8)`` -> float (C, H, W) in [0, 1].

    The same as torchvision's ToTensor. Used in notebooks/00_setup_and_data.
    """
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)  # (H, W, C) as PIL / NumPy store images
    got = to_tensor(arr.copy())
    t = torch.from_numpy(arr)
    want = t.permute(2, 0, 1).float() / 255  # (C, H, W)
    expect_shape(got, (3, 4, 5), "image tensor", {
        (4, 5, 3): "still (H, W, C): move the channels first with permute(2, 0, 1)",
        (3, 5, 4): "this is (C, W, H), height and width swapped: use permute(2, 0, 1), not permute(2, 1, 0)",
        (1, 4, 5, 3): "keep a single image (C, H, W), no batch dimension"})
    expect_float(got, "image tensor")
    expect_close(got, want, "image tensor", atol=1e-6, hints=[
        (t.permute(2, 0, 1).float(), "values are in 0..255: divide by 255 to get [0, 1]"),
        (t.reshape(3, 4, 5).float() / 255, "reshape/view keeps the memory order, so the colours are scrambled "
                                           "across pixels: move axes with permute(2, 0, 1)"),
        (t.reshape(3, 4, 5).float(), "used reshape (colours scrambled, use permute(2, 0, 1)) and forgot to "
                                     "divide by 255")])
    return "(H, W, C) uint8 -> (C, H, W) float in [0, 1], what ToTensor does"


__all__ += ["check_streaming_stats"]


@exercise("00.4", "Statistics of a dataset too big for memory", answer="my_streaming_stats", hints=(
    "A dataset that does not fit in memory arrives batch by batch, and batches can differ in size. The mean "
    "and the standard deviation of all pixels can be rebuilt from three running totals per channel: the "
    "number of values, their sum and the sum of their squares. Averaging each batch's std does not give the "
    "std of the whole.",
    "for x in batches: x = x.double() / 255; n += x.numel() / x.shape[1]; s += x.sum((0, 2, 3)); "
    "s2 += (x ** 2).sum((0, 2, 3))  — then mean = s / n, std = ((s2 - n * mean**2) / (n - 1)).sqrt()"))
def check_streaming_stats(streaming_stats) -> bool | None:
    """Exercise 00.4 · Statistics of a dataset too big for memory: ``streaming_stats(batches)`` -> (mean, std).

    ``batches`` is an iterable of uint8 (B, C, H, W) tensors of different B, read once; the answer must equal
    the per-channel mean and (unbiased) std of all pixels together, in [0, 1] units.
    Used in notebooks/00_setup_and_data.
    """
    images = _stats_images()  # (32, 3, 6, 6)
    sizes = (13, 2, 9, 8)  # unequal on purpose: per-batch averages are then weighted wrongly
    chunks = list(torch.split(images, sizes))
    x = images.double() / 255
    want_mean, want_std = x.mean((0, 2, 3)), x.std((0, 2, 3))
    got = streaming_stats(iter(chunks))  # an iterator: it can be read only once, as a data loader is
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise ExerciseError("return a pair (mean, std), each of shape (C,)")
    mean, std = got
    for t, what in ((mean, "mean"), (std, "std")):
        expect_shape(t, (3,), what, {(): "one number for all channels: keep one total per channel, "
                                         "summing over dims (0, 2, 3)"})
        expect_float(t, what)
    per_batch = [c.double() / 255 for c in chunks]
    expect_close(mean.double(), want_mean, "mean", atol=1e-6, hints=[
        (want_mean * 255, "the mean is in 0..255 units; divide the pixels by 255 first"),
        (torch.stack([c.mean((0, 2, 3)) for c in per_batch]).mean(0),
         "averaged the batch means with equal weights; the batches differ in size, so weight each by its "
         "number of pixels (or keep running sums)")])
    expect_close(std.double(), want_std, "std", atol=1e-6, hints=[
        (want_std * 255, "the std is in 0..255 units; divide the pixels by 255 first"),
        (torch.stack([c.std((0, 2, 3)) for c in per_batch]).mean(0),
         "averaged the standard deviations of the batches; that misses how far the batch means lie apart. "
         "Keep running sums of x and x**2 instead"),
        (x.std((0, 2, 3), correction=0), "this is the population std (divide by n); use n - 1 as torch.std does"),
        (x.var((0, 2, 3)), "this is the variance; take its square root")])
    return "per-channel mean and std from one pass over batches of different sizes"
