"""The faithfulness test: remove patches in the order a map ranks them and watch the class's probability.

A map is faithful if the patches it ranks first are the ones the model needs. Deletion removes
the most relevant patches first: the target class's probability should fall fast, so a small area
under the curve is good. Removing the *least* relevant first keeps the most relevant ones longest:
the probability should hold, so a large area is good (it equals the insertion curve of Petsiuk
et al. 2018 read backwards: after k removals the N - k most relevant patches are left). A
removed patch is painted with ``fill``: the dataset mean (0 after normalisation) by default, or
black. A random order is the baseline; every curve starts at the unperturbed probability and ends
at the same image, every patch removed.

Ties in a map (a flat Grad-CAM, a patch that is already the fill) are broken at random, never by
position: a tie broken by position would rank the top-left patches first and give a map credit,
or blame, for the order of the pixels.

Shape legend as in :mod:`vit_lessons.explain`.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import torch

from .explain import _check_images, _check_model, _eval_mode, _targets
from .model import VisionTransformer

__all__ = ["ORDERS", "FILLS", "removal_order", "fill_value", "perturbation_curve", "curve_auc", "bootstrap_ci"]

ORDERS = ("most-first", "least-first")
FILLS = ("mean", "zero")


def _check_relevance(relevance, model: VisionTransformer, batch: int) -> torch.Tensor:
    """(B, gh, gw) or (B, N) relevance -> (B, N) float, checked."""
    cfg = model.config
    g, n = cfg.grid_size, cfg.num_patches
    r = torch.as_tensor(relevance)
    if r.shape not in ((batch, g, g), (batch, n)):
        raise ValueError(f"relevance must hold one value per patch of each image: (B, gh, gw) = ({batch}, {g}, {g}) "
                         f"or (B, N) = ({batch}, {n}), got {tuple(r.shape)}; turn a token map into a grid with "
                         "to_patch_grid(pooled_row(matrix, model), model)")
    r = r.reshape(batch, n).float()  # (B, N), row-major like the patches
    if not torch.isfinite(r).all():
        raise ValueError("relevance has NaN or infinite values: every patch needs a finite score")
    return r


def removal_order(relevance: torch.Tensor, order: str = "most-first", generator: torch.Generator | None = None):
    """(B, N) scores -> (B, N) patch indices in the order they are removed; ties in random order.

    The patches are first shuffled (with ``generator``), then sorted stably by score: tied patches
    keep their shuffled order.

    Built in notebooks/07_looking_inside.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS} (most-first: deletion; least-first: the insertion side), "
                         f"got {order!r}")
    B, n = relevance.shape
    shuffle = torch.rand(B, n, generator=generator).argsort(dim=1).to(relevance.device)  # (B, N) a random order
    ranked = relevance.gather(1, shuffle).argsort(dim=1, descending=order == "most-first", stable=True)  # (B, N)
    return shuffle.gather(1, ranked)  # (B, N): patch indices, first removed first


def fill_value(fill, channels: int, mean=None, std=None) -> torch.Tensor:
    """What a removed patch is painted with, per channel, in the model's (normalised) input units: (C,).

    ``"mean"``: the dataset mean, 0 after normalisation. ``"zero"``: black, pixel value 0, which is
    (0 - mean) / std after normalisation (give the ``mean`` and ``std`` the images were normalised
    with). A number: that value as it is.

    Built in notebooks/07_looking_inside.
    """
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        return torch.full((channels,), float(fill))
    if fill == "mean":
        return torch.zeros(channels)
    if fill == "zero":
        if mean is None or std is None:
            raise ValueError("fill='zero' paints black, pixel value 0, which after normalisation is (0 - mean) / std: "
                             "pass the mean and std the images were normalised with, e.g. mean=data.info.mean, "
                             "std=data.info.std")
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if len(m) not in (1, channels) or len(s) not in (1, channels):
            raise ValueError(f"mean and std need 1 or {channels} values (one per channel), got {len(m)} and {len(s)}")
        return (-m / s).expand(channels).clone()  # (C,)
    raise ValueError(f"fill must be one of {FILLS} or a number (in normalised units), got {fill!r}")


def perturbation_curve(model: VisionTransformer, images: torch.Tensor, relevance, target=None,
                       order: str = "most-first", fill="mean", *, mean=None, std=None,
                       generator: torch.Generator | None = None, batch_size: int | None = 512) -> torch.Tensor:
    """The target class's probability after removing 0, 1, ..., N patches in the order of ``relevance``: (B, N + 1).

    ``relevance``: (B, gh, gw) or (B, N), higher = more relevant. ``order``: ``"most-first"``
    (deletion) or ``"least-first"`` (the insertion side). ``fill``: ``"mean"`` (the dataset mean,
    0 after normalisation), ``"zero"`` (black; needs ``mean`` and ``std``) or a number in
    normalised units. ``target``: None (the predicted class of the unperturbed image), one class
    index or one per image. Ties in ``relevance`` are broken at random with ``generator``.

    Column 0 is the unperturbed probability; column N (every patch removed) is the same image
    whatever the order. One forward pass per step for every ``batch_size`` images (None: the whole
    batch at once; on a CPU ~500 images a pass is fastest), in eval mode, without gradients.

    Built in notebooks/07_looking_inside.
    """
    x = _check_images(_check_model(model), images).detach()
    B = len(x)
    r = _check_relevance(relevance, model, B).to(x.device)  # (B, N)
    first = removal_order(r, order, generator)  # (B, N): ties broken once, for the whole batch
    paint = fill_value(fill, x.shape[1], mean, std).to(x).view(1, -1, 1, 1)  # (1, C, 1, 1)
    K = model.config.num_classes
    checked = _targets(target, torch.zeros(B, K, device=x.device), K)  # (B,): also refuses a headless model
    target = None if target is None else checked  # None: each image's prediction, read at step 0
    step = batch_size or B
    with _eval_mode(model), torch.no_grad():
        return torch.cat([_curve(model, x[i:i + step], first[i:i + step], paint,
                                 None if target is None else target[i:i + step]) for i in range(0, B, step)])


def _curve(model: VisionTransformer, x: torch.Tensor, first: torch.Tensor, paint: torch.Tensor, target):
    """(B, C, H, W) images, (B, N) removal order -> (B, N + 1) target probabilities, one forward per step."""
    cfg = model.config
    B, C, H, W = x.shape
    g, p, n = cfg.grid_size, cfg.patch_size, cfg.num_patches
    rank = torch.empty_like(first).scatter_(1, first, torch.arange(n, device=x.device).expand(B, n))  # (B, N)
    probs = []
    for k in range(n + 1):
        gone = (rank < k).view(B, 1, g, 1, g, 1).expand(B, C, g, p, g, p).reshape(B, C, H, W)  # (B, C, H, W)
        logits = model(torch.where(gone, paint, x))  # (B, K)
        if k == 0 and target is None:
            target = logits.argmax(dim=-1)  # (B,): the predicted class of the unperturbed image
        probs.append(logits.float().softmax(dim=-1).gather(1, target[:, None])[:, 0])  # (B,)
    return torch.stack(probs, dim=1)  # (B, N + 1)


def curve_auc(curves: torch.Tensor) -> torch.Tensor:
    """(..., N + 1) curves over 0..N removed patches -> (...) normalised area under them (trapezoids, x from 0 to 1).

    A curve that stays at 1 has area 1; one that drops to 0 at the first removal has area 1 / (2N).

    Built in notebooks/07_looking_inside.
    """
    c = torch.as_tensor(curves).float()
    if c.ndim < 1 or c.shape[-1] < 2:
        raise ValueError(f"a curve needs at least 2 points (0 and N patches removed), got shape {tuple(c.shape)}")
    n = c.shape[-1] - 1
    return (c.sum(dim=-1) - (c[..., 0] + c[..., -1]) / 2) / n


def bootstrap_ci(values: torch.Tensor, n_boot: int = 2000, level: float = 0.95,
                 generator: torch.Generator | None = None) -> tuple[float, float, float]:
    """(mean, low, high): the mean of one value per image and a percentile bootstrap interval over images.

    For a difference between two methods, pass the per-image differences (a paired interval).

    Built in notebooks/07_looking_inside.
    """
    v = torch.as_tensor(values).double().reshape(-1).cpu()
    if v.numel() < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 values, got {v.numel()}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}")
    idx = torch.randint(len(v), (n_boot, len(v)), generator=generator)  # (n_boot, B): images drawn with replacement
    means = v[idx].mean(dim=1)  # (n_boot,)
    lo, hi = torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)).tolist()
    return float(v.mean()), lo, hi
