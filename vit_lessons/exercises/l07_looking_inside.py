"""Self-checks for lesson 07's exercises: the class token's attention map, attention rollout, mean attention
distance, a head with a locality prior, and the deletion test.

Shapes: N patches on a gh x gw grid; N + 1 tokens with the class token, which comes first.
Used in notebooks/07_looking_inside.
"""

from __future__ import annotations

import torch

from ..config import ViTConfig
from ..faithfulness import perturbation_curve
from ..fig7 import patch_distances
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, expect_shape, randomize_

__all__ = ["check_cls_attention_map", "check_rollout", "check_mean_distance", "check_window_attention",
           "check_deletion_curve"]


def _attentions(L: int = 3, B: int = 2, h: int = 3, n: int = 10, seed: int = 7) -> list[torch.Tensor]:
    """L random (B, h, N + 1, N + 1) attention tensors with rows summing to 1: n = N + 1 = 3 * 3 + 1 tokens."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(B, h, n, n, generator=g, dtype=torch.float64) * 2).softmax(-1) for _ in range(L)]


def _cls_map(a: torch.Tensor, grid: int, fuse: str = "mean", row: int = 0, renorm: bool = False) -> torch.Tensor:
    """(B, h, N + 1, N + 1) -> (B, gh, gw): one row of the head-fused attention, the class token's column left out."""
    fused = a.mean(1) if fuse == "mean" else a[:, 0]  # (B, N + 1, N + 1)
    r = fused[:, row, 1:] if row >= 0 else fused[:, 1:, 0]  # (B, N)
    if renorm:
        r = r / r.sum(-1, keepdim=True)
    return r.reshape(-1, grid, grid)  # (B, gh, gw)


@exercise("07.1", "The class token's attention map", answer="my_cls_attention_map", hints=(
    "Average the heads (dim 1), take row 0 (the class token as the query), drop column 0 (its weight on "
    "itself, which has no place in the image) and lay the remaining N = grid * grid weights out row by row.",
    "return attn.mean(dim=1)[:, 0, 1:].reshape(attn.shape[0], grid_size, grid_size)"))
def check_cls_attention_map(cls_attention_map) -> bool | None:
    """Exercise 07.1 · The class token's attention map: ``cls_attention_map(attn, grid_size)`` -> (B, gh, gw).

    ``attn`` is one block's (B, h, N + 1, N + 1) attention, the class token first.
    Used in notebooks/07_looking_inside.
    """
    a = _attentions(L=1)[0]  # (B, h, N + 1, N + 1), N = 3 * 3
    got = cls_attention_map(a.clone(), 3)
    want = _cls_map(a, 3)
    expect_close(torch.as_tensor(got), want, "the class token's map", atol=1e-6, rtol=1e-5, hints=[
        (_cls_map(a, 3, fuse="first"), "that is head 0 only: average over all heads (dim 1)"),
        (_cls_map(a, 3, row=-1), "that is column 0 (how much each patch reads the class token); the class "
                                 "token's own attention is row 0: attn[:, :, 0, 1:]"),
        (_cls_map(a, 3, renorm=True), "the weights were renormalised to sum to 1 over the patches; keep them as "
                                      "they are, so the map shows the share the class token really gives each patch"),
    ])
    return "heads averaged, row 0 without its own column, laid out on the patch grid"


def _rollout(atts, identity: bool = True, renorm: bool = True, order: str = "right") -> torch.Tensor:
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


@exercise("07.2", "Attention rollout", answer="my_rollout", hints=(
    "Per block: average the heads, add the identity (the residual connection), divide each row by its sum. "
    "Then chain the blocks: the later block multiplies from the left, result = A_l @ result, starting from "
    "the identity.",
    "result = eye; for a in attentions: m = a.mean(1) + eye; m = m / m.sum(-1, keepdim=True); result = m @ result"))
def check_rollout(rollout) -> bool | None:
    """Exercise 07.2 · Attention rollout: ``rollout(attentions)`` -> (B, N + 1, N + 1), mean over heads, no
    discarding.

    ``attentions`` is a list of L (B, h, N + 1, N + 1) tensors, first block first.
    Used in notebooks/07_looking_inside.
    """
    atts = _attentions()
    got = rollout([a.clone() for a in atts])
    expect_close(torch.as_tensor(got), _rollout(atts), "the rollout", atol=1e-6, rtol=1e-5, hints=[
        (_rollout(atts, identity=False), "the residual connection is missing: add the identity to each block's "
                                         "fused attention before renormalising (Abnar & Zuidema 2020)"),
        (_rollout(atts, renorm=False), "the rows are not renormalised after adding the identity: divide each row "
                                       "by its sum, so every row is a distribution again"),
        (_rollout(atts, order="left"), "the blocks are multiplied in the wrong order: the later block acts on "
                                       "what the earlier ones produced, so result = A_l @ result"),
    ])
    return "heads averaged, identity added, rows renormalised, blocks chained with the later one on the left"


def _distance(a: torch.Tensor, grid: int, patch: int, drop_cls: bool = True, renorm: bool = True) -> torch.Tensor:
    """(B, h, N + 1, N + 1) -> (h,) mean attention distance in pixels, or one of its typical mistakes."""
    w = a[..., 1:, 1:] if drop_cls else a  # (B, h, N, N); the mistake keeps (B, h, N + 1, N + 1)
    if renorm:
        w = w / w.sum(-1, keepdim=True)
    d = patch_distances(grid, patch).to(a.dtype)  # (N, N) in pixels
    if not drop_cls:
        d = torch.nn.functional.pad(d, (1, 0, 1, 0))  # the class token at distance 0 from everything
    return (w * d).sum(-1).mean(dim=(0, 2))  # (h,)


@exercise("07.3", "Mean attention distance", answer="my_mean_distance", hints=(
    "Keep the patch-to-patch part of the attention (drop the class token's row and column), renormalise each "
    "query's weights to sum to 1, weight the (N, N) pixel distances between patch centres with them, sum over "
    "the keys and average over queries and images: one number per head.",
    "w = attn[..., 1:, 1:]; w = w / w.sum(-1, keepdim=True); d = patch_distances(grid_size, patch_size); "
    "return (w * d).sum(-1).mean(dim=(0, 2))"))
def check_mean_distance(mean_distance) -> bool | None:
    """Exercise 07.3 · Mean attention distance: ``mean_distance(attn, grid_size, patch_size)`` -> (h,) pixels.

    ``attn`` is one block's (B, h, N + 1, N + 1) attention, the class token first.
    Used in notebooks/07_looking_inside.
    """
    a = _attentions(L=1)[0]  # (B, h, N + 1, N + 1)
    got = torch.as_tensor(mean_distance(a.clone(), 3, 5)).to(torch.float64)
    want = _distance(a, 3, 5)
    expect_close(got, want, "the distance per head", atol=1e-5, rtol=1e-5, hints=[
        (_distance(a, 3, 1), "those are distances in patches; multiply by patch_size to get pixels"),
        (_distance(a, 3, 5, renorm=False), "the weights were not renormalised after dropping the class token: "
                                           "divide each query's patch weights by their sum"),
        (_distance(a, 3, 5, drop_cls=False), "the class token is still in: it has no place in the image, so keep "
                                             "only attn[..., 1:, 1:]"),
        (_distance(a, 3, 5).flip(0), "the heads come out in the wrong order"),
    ])
    return "class token left out, weights renormalised, pixel distances weighted, averaged over queries and images"


def _window(grid: int, radius: int, metric: str = "chebyshev", self_too: bool = True,
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


@exercise("07.4", "A head with a locality prior", answer="my_window_attention", hints=(
    "A convolution-like head: query patch (i, j) gives the same weight to every patch (k, l) with "
    "max(|i - k|, |j - l|) <= radius, itself included, and 0 to the rest; each row sums to 1. Build the (N, N) "
    "matrix from the patches' row and column indices (row-major order, as patchify lays them out).",
    "r, c = torch.meshgrid(torch.arange(g), torch.arange(g), indexing='ij'); pos = torch.stack([r.flatten(), "
    "c.flatten()], 1); near = ((pos[:, None] - pos[None]).abs().amax(-1) <= radius).float(); "
    "return near / near.sum(-1, keepdim=True)"))
def check_window_attention(window_attention) -> bool | None:
    """Exercise 07.4 · A head with a locality prior: ``window_attention(grid_size, radius)`` -> (N, N).

    Uniform attention over the (2 radius + 1)^2 window around each patch, clipped at the border.
    Used in notebooks/07_looking_inside.
    """
    for g, r in ((4, 1), (5, 2)):
        got = torch.as_tensor(window_attention(g, r)).to(torch.float64)
        want = _window(g, r)
        if got.ndim == 4 and got.shape[-2:] == want.shape:
            raise ExerciseError("return the (N, N) matrix itself; the package's functions add the batch and head "
                                "dimensions when they need them")
        expect_close(got, want, f"the {g}x{g} grid's window attention with radius {r}", atol=1e-6, rtol=1e-5,
                     hints=[
                         (_window(g, r, metric="euclid"), "that window is round (Euclidean distance); a k x k "
                                                          "convolution's window is square: use max(|di|, |dj|)"),
                         (_window(g, r, self_too=False), "each patch should attend to itself too, as a "
                                                         "convolution's centre tap does"),
                         (_window(g, r, renorm=False), "the rows do not sum to 1: divide each row by the number of "
                                                       "patches in its window"),
                     ])
    return "square windows, clipped at the border, each row a uniform distribution over its window"


def _deletion_setup():
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


def _deletion_mistake(model, x, relevance, fill=None, out="prob", cumulative=True, repredict=False):
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


@exercise("07.5", "The deletion test for a map of your own", answer="my_deletion_curve", hints=(
    "Rank the patches once, most relevant first. Follow one class, the one the model predicts for the untouched "
    "image (not the label). Then for k = 0, 1, ..., N paint the k first-ranked patches with 0 (the dataset mean "
    "after normalisation: (mean - mean) / std) and record that class's softmax probability: N + 1 columns.",
    "order = relevance.flatten(1).argsort(dim=1, descending=True) gives (B, N) patch indices, row by row over "
    "the grid; a (B, N) boolean 'removed' mask becomes pixels with mask.view(B, 1, gh, 1, gw, 1).expand(B, C, "
    "gh, P, gw, P).reshape(B, C, H, W), and images.masked_fill(mask, 0.0) paints them on a copy.",
    "t = model(images).argmax(-1); for k in range(N + 1): gone = torch.zeros(B, N, dtype=torch.bool)"
    ".scatter(1, order[:, :k], True); mask = gone.view(B, 1, gh, 1, gw, 1).expand(B, C, gh, P, gw, P)"
    ".reshape(images.shape); probs.append(model(images.masked_fill(mask, 0.0)).softmax(-1).gather(1, t[:, None])"
    "[:, 0]); then return torch.stack(probs, dim=1)"))
def check_deletion_curve(deletion_curve) -> bool | None:
    """Exercise 07.5 · The deletion test for a map of your own: ``deletion_curve(model, images, relevance, labels,
    mean, std)`` -> (B, N + 1).

    ``images``: (B, C, H, W), already normalised with the per-channel ``mean`` and ``std`` (pixel units, as in
    ``data.info``); ``relevance``: (B, gh, gw), one score per patch, higher = more relevant; ``labels``: (B,) the
    true classes. Column k is the softmax probability of the class the model predicts for the untouched image
    after the k most relevant patches are painted with the dataset mean (0 in normalised units), so column 0 is
    the untouched image and column N the image with every patch removed. Compared with
    :func:`vit_lessons.faithfulness.perturbation_curve` on a map without ties.
    Used in notebooks/07_looking_inside.
    """
    model, x, r, labels, mean, std = _deletion_setup()
    images = x.clone()
    got = deletion_curve(model, images, r.clone(), labels.clone(), mean, std)
    B, n = r.shape[0], r[0].numel()
    want = perturbation_curve(model, x, r)  # (B, N + 1): fill="mean", the predicted class, most relevant first
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (B, n):
        got = got.detach().to(want.dtype)  # (B, N): which end is missing?
        if torch.allclose(got, want[:, 1:], atol=1e-5, rtol=1e-4):
            raise ExerciseError(f"the curves have {n} columns, not N + 1 = {n + 1}: column 0 is missing, the untouched "
                                "image (0 patches removed), where every curve starts")
        if torch.allclose(got, want[:, :-1], atol=1e-5, rtol=1e-4):
            raise ExerciseError(f"the curves have {n} columns, not N + 1 = {n + 1}: the last one is missing, the image "
                                "with every patch removed (k runs over 0, 1, ..., N)")
    expect_shape(got, (B, n + 1), "the deletion curves", wrong_shapes={
        (B, n): "a curve has N + 1 points, for 0, 1, ..., N patches removed",
        (n + 1, B): "one row per image, one column per number of removed patches: transpose it",
    })
    if not torch.allclose(got.detach().to(want.dtype), want, atol=1e-5, rtol=1e-4):  # only then the mistakes' curves
        expect_close(got, want, "the deletion curves", atol=1e-5, rtol=1e-4,
                     hints=_deletion_hints(model, x, r, labels, mean, std))
    if not torch.equal(images, x):
        raise ExerciseError("the curves are right, but your function painted over the images it was given (in place): "
                            "paint a copy, e.g. images.masked_fill(mask, 0.0) or images.clone()")
    return "most relevant patches first, cumulatively, painted with the mean, the predicted class's probability"


def _deletion_hints(model, x, r, labels, mean, std) -> list:
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
        (_deletion_mistake(model, x, r, fill=x.mean(dim=(1, 2, 3), keepdim=True)),
         "the patches are painted with each image's own mean; paint the dataset mean, 0 after normalisation, the "
         "same for every image"),
        (perturbation_curve(model, x, r, target=labels),
         "that follows the true label; the test asks what the *model* relied on, so follow the class it predicts "
         "for the untouched image: model(images).argmax(-1), computed once before any patch is removed"),
        (_deletion_mistake(model, x, r, repredict=True),
         "the class is predicted again after every removal (the largest probability at each step); follow the one "
         "class predicted for the untouched image all along the curve"),
        (_deletion_mistake(model, x, r, out="logit"),
         "those are logits; the curve is the softmax probability: model(...).softmax(-1)"),
        (_deletion_mistake(model, x, r, cumulative=False),
         "each step removes only the k-th patch, putting the others back; deletion is cumulative: after k steps the "
         "k most relevant patches are all gone"),
    ]
