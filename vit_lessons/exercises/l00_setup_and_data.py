"""Self-checks for lesson 00's exercises: per-channel statistics, predicting what a wrong normalisation
does, statistics of a dataset read in batches.

Used in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import torch

from ._common import ExerciseError, exercise, expect_close, expect_float, expect_shape

__all__ = ["check_channel_stats", "check_predict_normalised_stats"]


def _stats_images() -> torch.Tensor:
    """(32, 3, 6, 6) uint8 images whose three channels have clearly different statistics."""
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([0, 60, 120]).view(1, 3, 1, 1)
    span = torch.tensor([100, 140, 135]).view(1, 3, 1, 1)
    return (lo + torch.rand(32, 3, 6, 6, generator=g) * span).round().to(torch.uint8)  # (B, C, H, W)


@exercise("00.1", "Warm-up: per-channel statistics", answer="my_channel_stats", hints=(
    "Work in [0, 1] units first (the images are uint8, 0..255). Then ask which dims must disappear: "
    "the batch, the height and the width; only the channel dim C survives.",
    "x = images.float() / 255, then return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))"))
def check_channel_stats(channel_stats) -> bool | None:
    """Exercise 00.1 · Warm-up: per-channel statistics: ``channel_stats(images)`` -> (mean, std), each (C,),
    in [0, 1] units.

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


def _as_channels(got, c: int, what: str) -> torch.Tensor:
    """A predicted per-channel statistic as a float64 (C,) tensor; ExerciseError names a wrong shape."""
    t = torch.as_tensor(got.detach() if isinstance(got, torch.Tensor) else got, dtype=torch.float64)
    expect_shape(t, (c,), what, {(): "one number for all channels: predict each channel from its own statistics"})
    return t


@exercise("00.2", "Predict a wrong normalisation", answer="my_predict_normalised_stats", hints=(
    "Normalising is linear: z = (a·x - m) / s with a = 1/255 or 1. A mean goes through a linear map unchanged in "
    "form, E[z] = (a·E[x] - m) / s, and a spread only feels the scale, std(z) = a·std(x) / s: subtracting m "
    "moves every pixel by the same amount. Without the division by 255 the pixels are 255 times the [0, 1] "
    "values the dataset statistics describe.",
    "k = 1.0 if divide_by_255 else 255.0; mu, sd, m, s = (torch.as_tensor(v, dtype=torch.float64) for v in "
    "(data_mean, data_std, mean, std)); return (k * mu - m) / s, k * sd / s"))
def check_predict_normalised_stats(predict) -> bool | None:
    """Exercise 00.2 · Predict a wrong normalisation: ``predict(data_mean, data_std, mean, std, divide_by_255)``
    -> (mean, std) per channel of the normalised pixels, from the statistics alone.

    The check normalises real pixels that way and compares the prediction with what it measures.
    Used in notebooks/00_setup_and_data.
    """
    imgs = _stats_images()  # (32, 3, 6, 6) uint8
    x = imgs.double() / 255  # (B, C, H, W) in [0, 1]
    mu, sd = x.mean((0, 2, 3)), x.std((0, 2, 3))  # the dataset's statistics, (C,) each
    imagenet = (torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64),
                torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64))
    cases = [(mu, sd, True, "with the data's own statistics"), (*imagenet, True, "with ImageNet's statistics"),
             (*imagenet, False, "with ImageNet's statistics and without dividing by 255"),
             (mu, sd, False, "with the data's own statistics and without dividing by 255")]
    for m, s, divide, how in cases:
        k = 1.0 if divide else 255.0
        z = (k * x - m.view(1, 3, 1, 1)) / s.view(1, 3, 1, 1)  # what the pipeline computes
        measured_mean, measured_std = z.mean((0, 2, 3)), z.std((0, 2, 3))
        got = predict(tuple(mu.tolist()), tuple(sd.tolist()), tuple(m.tolist()), tuple(s.tolist()), divide)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise ExerciseError("return a pair (mean, std) of the normalised pixels, each with one value per channel")
        p_mean, p_std = (_as_channels(v, 3, w) for v, w in zip(got, ("predicted mean", "predicted std")))
        where = f"normalising {how}"
        close = lambda a, b: torch.allclose(a, b, rtol=1e-6, atol=1e-6)  # noqa: E731
        if not close(p_mean, measured_mean):
            for alt, msg in (
                    ((m - k * mu) / s, "the sign is flipped: the normalised mean is (pixel mean - mean) / std"),
                    (k * mu - m, "subtract the mean, then divide by the std as well"),
                    ((mu - m) / s, "the pixels were not divided by 255 here, so their mean is 255 times the "
                                   "[0, 1] mean: (255 * data_mean - mean) / std"),
                    (k * (mu - m) / s, "only the pixels are 255 times larger, not the subtracted mean: "
                                       "(255 * data_mean - mean) / std")):
                if close(p_mean, alt):
                    raise ExerciseError(f"{where}: predicted mean {_fmt(p_mean)}, measured {_fmt(measured_mean)}: "
                                        f"{msg}")
            raise ExerciseError(f"{where}: predicted mean {_fmt(p_mean)}, but the normalised pixels have mean "
                                f"{_fmt(measured_mean)}")
        if not close(p_std, measured_std):
            for alt, msg in (
                    ((k * sd - m) / s, "subtracting the mean moves every pixel by the same amount, which leaves "
                                       "the spread alone: std(z) = data_std / std"),
                    (k * sd, "dividing by std divides the spread too: data_std / std"),
                    (sd / s, "the pixels were not divided by 255 here, so their spread is 255 times larger: "
                             "255 * data_std / std"),
                    ((k * sd / s) ** 2, "this is the variance; the std is its square root")):
                if close(p_std, alt):
                    raise ExerciseError(f"{where}: predicted std {_fmt(p_std)}, measured {_fmt(measured_std)}: "
                                        f"{msg}")
            raise ExerciseError(f"{where}: predicted std {_fmt(p_std)}, but the normalised pixels have std "
                                f"{_fmt(measured_std)}")
    return ("your predictions equal the measured mean and std in all four pipelines (right and ImageNet "
            "constants, with and without / 255)")


def _fmt(t: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in t.tolist()) + ")"


__all__ += ["check_streaming_stats"]


@exercise("00.3", "Statistics of a dataset too big for memory", answer="my_streaming_stats", hints=(
    "A dataset that does not fit in memory arrives batch by batch, and batches can differ in size. The mean "
    "and the standard deviation of all pixels can be rebuilt from three running totals per channel: the "
    "number of values, their sum and the sum of their squares. Averaging each batch's std does not give the "
    "std of the whole.",
    "for x in batches: x = x.double() / 255; n += x.numel() / x.shape[1]; s += x.sum((0, 2, 3)); "
    "s2 += (x ** 2).sum((0, 2, 3))  — then mean = s / n, std = ((s2 - n * mean**2) / (n - 1)).sqrt()"))
def check_streaming_stats(streaming_stats) -> bool | None:
    """Exercise 00.3 · Statistics of a dataset too big for memory: ``streaming_stats(batches)`` -> (mean, std).

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
