"""The reference answers and the typical mistakes that lesson 07's checks (l07_looking_inside.py) compare a
learner's answer with: random attention tensors, the class token's map, rollout, mean attention distance, window
attention, and a tiny seeded ViT for the deletion test with every wrong curve a learner might draw.

Used in notebooks/07_looking_inside.
"""

from __future__ import annotations

import torch

from ..config import ViTConfig
from ..faithfulness import perturbation_curve
from ..fig7 import patch_distances
from ..model import VisionTransformer
from ._common import randomize_

__all__ = ["attentions", "cls_map", "rollout", "distance", "window", "deletion_setup", "deletion_mistake",
           "deletion_hints"]


def attentions(L: int = 3, B: int = 2, h: int = 3, n: int = 10, seed: int = 7) -> list[torch.Tensor]:
    """L random (B, h, N + 1, N + 1) attention tensors with rows summing to 1: n = N + 1 = 3 * 3 + 1 tokens."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(B, h, n, n, generator=g, dtype=torch.float64) * 2).softmax(-1) for _ in range(L)]


def cls_map(a: torch.Tensor, grid: int, fuse: str = "mean", row: int = 0, renorm: bool = False) -> torch.Tensor:
    """(B, h, N + 1, N + 1) -> (B, gh, gw): one row of the head-fused attention, the class token's column left out."""
    fused = a.mean(1) if fuse == "mean" else a[:, 0]  # (B, N + 1, N + 1)
    r = fused[:, row, 1:] if row >= 0 else fused[:, 1:, 0]  # (B, N)
    if renorm:
        r = r / r.sum(-1, keepdim=True)
    return r.reshape(-1, grid, grid)  # (B, gh, gw)


def rollout(atts, identity: bool = True, renorm: bool = True, order: str = "right") -> torch.Tensor:
    """Attention rollout with mean fusion, or one of its typical mistakes."""
    a0 = atts[0]
    n = a0.shape[-1]  # N + 1 tokens
    eye = torch.eye(n, dtype=a0.dtype)
    result = eye.expand(a0.shape[0], n, n)  # (B, N + 1, N + 1)
    for a in atts:
        m = a.mean(1)  # (B, N + 1, N + 1)
        if identity:
            m = m + eye
        if renorm:
            m = m / m.sum(-1, keepdim=True)
        result = m @ result if order == "right" else result @ m  # (B, N + 1, N + 1)
    return result


def distance(a: torch.Tensor, grid: int, patch: int, drop_cls: bool = True, renorm: bool = True) -> torch.Tensor:
    """(B, h, N + 1, N + 1) -> (h,) mean attention distance in pixels, or one of its typical mistakes."""
    w = a[..., 1:, 1:] if drop_cls else a  # (B, h, N, N); the mistake keeps (B, h, N + 1, N + 1)
    if renorm:
        w = w / w.sum(-1, keepdim=True)
    d = patch_distances(grid, patch).to(a.dtype)  # (N, N) in pixels
    if not drop_cls:
        d = torch.nn.functional.pad(d, (1, 0, 1, 0))  # the class token at distance 0 from everything
    return (w * d).sum(-1).mean(dim=(0, 2))  # (h,)


def window(grid: int, radius: int, metric: str = "chebyshev", self_too: bool = True,
            renorm: bool = True) -> torch.Tensor:
    """(N, N) uniform attention over the patches within ``radius`` of each query, or a typical mistake."""
    d = patch_distances(grid, 1)  # (N, N) in patches
    if metric == "chebyshev":
        r, c = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
        pos = torch.stack([r.flatten(), c.flatten()], 1)  # (N, 2)
        d = (pos[:, None] - pos[None]).abs().amax(-1).double()  # (N, N)
    near = (d <= radius).double()
    if not self_too:
        near.fill_diagonal_(0)
    return near / near.sum(-1, keepdim=True) if renorm else near


def deletion_setup():
    """A tiny seeded 1-channel ViT on a 4x4 grid, 6 images, a map without ties, labels, and mean/std."""
    torch.manual_seed(71)
    model = VisionTransformer(ViTConfig.tiny(img_size=16, patch_size=4, in_chans=1)).eval()
    randomize_(model, 72, scale=0.3, add=True)  # far from the initialisation: the probabilities move as patches go
    g = torch.Generator().manual_seed(73)
    shift = torch.tensor([0.6, -0.2, 0.9, 0.3, -0.5, 1.0]).view(-1, 1, 1, 1)  # images brighter or darker than the mean
    x = torch.randn(6, 1, 16, 16, generator=g) * 0.8 + shift  # (B, C, H, W), normalised units
    relevance = torch.randn(6, 4, 4, generator=g)  # (B, gh, gw): continuous, so no ties and one removal order
    assert relevance.flatten(1).unique(dim=1).shape[1] == 16
    with torch.no_grad():
        pred = model(x).argmax(-1)  # (B,)
    labels = (pred + 1 + torch.arange(6)) % model.config.num_classes  # (B,): never the predicted class
    return model, x, relevance, labels, (0.3,), (0.4,)


def deletion_mistake(model, x, relevance, fill=None, out="prob", cumulative=True, repredict=False):
    """(B, N + 1) deletion curves with one typical mistake: a per-image ``fill`` (B, 1, 1, 1), logits, one patch
    at a time, or the class predicted again at every step."""
    B, C, H, W = x.shape
    g, n = relevance.shape[-1], relevance[0].numel()
    p = H // g
    first = relevance.reshape(B, n).argsort(dim=1, descending=True)  # (B, N): most relevant first
    fill = torch.zeros(B, 1, 1, 1) if fill is None else fill
    curve = []
    with torch.no_grad():
        target = model(x).argmax(-1)  # (B,)
        for k in range(n + 1):
            idx = first[:, :k] if cumulative else first[:, max(k - 1, 0):k]  # (B, k) or (B, 1)
            gone = torch.zeros(B, n, dtype=torch.bool).scatter(1, idx, True)  # (B, N)
            mask = gone.view(B, 1, g, 1, g, 1).expand(B, C, g, p, g, p).reshape(B, C, H, W)
            logits = model(torch.where(mask, fill, x))  # (B, K)
            if out == "logit":
                curve.append(logits.gather(1, target[:, None])[:, 0])
            elif repredict:
                curve.append(logits.softmax(-1).amax(-1))
            else:
                curve.append(logits.softmax(-1).gather(1, target[:, None])[:, 0])
    return torch.stack(curve, dim=1)  # (B, N + 1)


def deletion_hints(model, x, r, labels, mean, std) -> list:
    """(curves, message) for each typical mistake; computed only for a wrong answer (about 200 forward passes)."""
    return [
        (perturbation_curve(model, x, r, order="least-first"),
         "the least relevant patches go first (ascending order); deletion removes the most relevant first: "
         "argsort(..., descending=True)"),
        (perturbation_curve(model, x, r.transpose(-2, -1)),
         "the map's cells are matched to the wrong patches: relevance[b, i, j] belongs to the patch in grid row i, "
         "column j, and flattening the map row by row gives patchify's order"),
        (perturbation_curve(model, x, r, fill="zero", mean=mean, std=std),
         "removed patches are painted black, (0 - mean) / std in normalised units; the test paints the dataset "
         "mean, which is 0 after normalisation: a black square is a strong feature of its own"),
        (perturbation_curve(model, x, r, fill=-mean[0]), "the patches are painted with -mean, black with the std "
                                                         "forgotten; paint the dataset mean, 0 after normalisation"),
        (perturbation_curve(model, x, r, fill=mean[0]),
         "the patches are painted with the mean in pixel units, but the images are normalised: the mean there is "
         "(mean - mean) / std = 0"),
        (perturbation_curve(model, x, r, fill=float(x.mean())),
         "the patches are painted with this batch's mean; paint the dataset mean, 0 after normalisation, so the "
         "fill does not depend on which images are tested together"),
        (deletion_mistake(model, x, r, fill=x.mean(dim=(1, 2, 3), keepdim=True)),
         "the patches are painted with each image's own mean; paint the dataset mean, 0 after normalisation, the "
         "same for every image"),
        (perturbation_curve(model, x, r, target=labels),
         "that follows the true label; the test asks what the *model* relied on, so follow the class it predicts "
         "for the untouched image: model(images).argmax(-1), computed once before any patch is removed"),
        (deletion_mistake(model, x, r, repredict=True),
         "the class is predicted again after every removal (the largest probability at each step); follow the one "
         "class predicted for the untouched image all along the curve"),
        (deletion_mistake(model, x, r, out="logit"),
         "those are logits; the curve is the softmax probability: model(...).softmax(-1)"),
        (deletion_mistake(model, x, r, cumulative=False),
         "each step removes only the k-th patch, putting the others back; deletion is cumulative: after k steps the "
         "k most relevant patches are all gone"),
    ]
