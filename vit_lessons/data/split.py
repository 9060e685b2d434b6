"""The validation split: training images held out to choose models on, so the test set chooses nothing.

Every course run holds out a fixed, class-stratified set of its training images (5,000 of Fashion-MNIST's
60,000; other datasets in proportion). The held-out images are picked by a generator seeded with
:data:`VAL_SEED`, not the run's seed, so every run of every seed is chosen on the same images and
never trains on them. ``best.pt`` is the best validation epoch; test accuracy is reported, never used.

Built in notebooks/06_training.
"""

from __future__ import annotations

import dataclasses

import torch

from .datasets import ImageData

__all__ = ["VAL_SEED", "VAL_FRACTION", "default_val_size", "stratified_split", "with_validation", "balanced_subset"]

VAL_SEED = 1234  # fixed: the validation images do not depend on the run's seed
VAL_FRACTION = 1 / 12  # 5,000 of Fashion-MNIST's 60,000 training images


def default_val_size(n_train: int) -> int:
    """How many of ``n_train`` training images a run holds out by default (1/12, rounded)."""
    return round(n_train * VAL_FRACTION)


def stratified_split(labels: torch.Tensor, n_val: int, seed: int = VAL_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): ``n_val`` indices held out with each class in proportion.

    Each class gives ``n_val * its share`` images (largest remainders round it to exactly ``n_val``),
    drawn at random by a generator seeded with ``seed``. Both index lists come back sorted.
    """
    n = len(labels)
    if isinstance(n_val, bool) or not isinstance(n_val, int) or not 0 <= n_val < n:
        raise ValueError(f"the validation split must hold 0 to {n - 1} of the {n} training images, got {n_val!r}: "
                         f"use --val-size between 0 and {n - 1} (0 holds out nothing)")
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * n_val / n  # each class's share of the split
    take = exact.floor().long()
    short = n_val - int(take.sum())
    take[torch.argsort(exact - take, descending=True, stable=True)[:short]] += 1  # largest remainders
    g = torch.Generator().manual_seed(seed)
    val = []
    for c, k in zip(classes.tolist(), take.tolist()):
        idx = (labels == c).nonzero().flatten()  # (images of class c,)
        val.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    val_idx = torch.sort(torch.cat(val)).values
    keep = torch.ones(n, dtype=torch.bool)
    keep[val_idx] = False
    return keep.nonzero().flatten(), val_idx


def with_validation(data: ImageData, n_val: int, seed: int = VAL_SEED) -> ImageData:
    """``data`` with ``n_val`` training images moved into ``val_x``/``val_y`` (stratified, fixed seed)."""
    tr, va = stratified_split(data.train_y, n_val, seed)
    return dataclasses.replace(data, train_x=data.train_x[tr], train_y=data.train_y[tr],
                               val_x=data.train_x[va], val_y=data.train_y[va])


def balanced_subset(data: ImageData, n: int, seed: int) -> ImageData:
    """``data`` with only ``n`` of its training images (0 = all), the same number of each class (the first
    ``n mod classes`` classes one more), drawn by a generator seeded with ``seed``; validation and test as they are.

    600 of Fashion-MNIST's 55,000 training images (60 a class) is 1% of its labels.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"train_size must be 0 (all images) or a positive number of images, got {n!r}")
    if n == 0:
        return data
    labels, k = data.train_y, data.info.num_classes
    counts = torch.bincount(labels, minlength=k)
    want = torch.full((k,), n // k, dtype=torch.long)
    want[: n % k] += 1
    if n < k or (want > counts).any():
        raise ValueError(f"a class-balanced subset of {n} images needs at least {k} images ({k} classes) and at most "
                         f"{int(counts.min()) * k} (the rarest class has {int(counts.min())}): pick --train-size "
                         f"between {k} and {int(counts.min()) * k}, or 0 for all")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    idx = torch.cat([order[labels[order] == c][:w] for c, w in enumerate(want.tolist())])
    idx = idx[torch.randperm(len(idx), generator=g)]  # classes mixed, so batches are too
    return dataclasses.replace(data, train_x=data.train_x[idx], train_y=data.train_y[idx])
