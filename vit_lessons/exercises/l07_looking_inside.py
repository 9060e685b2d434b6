"""Self-checks for lesson 07's exercises: the class token's attention map (warm-up), attention rollout, mean
attention distance, a head with a locality prior, and the deletion test for a map of one's own. The reference
answers and typical mistakes they compare with are in l07_looking_inside_more.py.

Shapes: N patches on a gh x gw grid; N + 1 tokens with the class token, which comes first.
Used in notebooks/07_looking_inside.
"""

from __future__ import annotations

import torch

from ..faithfulness import perturbation_curve
from . import l07_looking_inside_more as more
from ._common import ExerciseError, exercise, expect_close, expect_shape

__all__ = ["check_cls_attention_map", "check_rollout", "check_mean_distance", "check_window_attention",
           "check_deletion_curve"]


@exercise("07.1", "Warm-up: the class token's attention map", answer="my_cls_attention_map", hints=(
    "Average the heads (dim 1), take row 0 (the class token as the query), drop column 0 (its weight on "
    "itself, which has no place in the image) and lay the remaining N = grid * grid weights out row by row.",
    "return attn.mean(dim=1)[:, 0, 1:].reshape(attn.shape[0], grid_size, grid_size)"))
def check_cls_attention_map(cls_attention_map) -> bool | None:
    """Exercise 07.1 · Warm-up: the class token's attention map: ``cls_attention_map(attn, grid_size)`` -> (B, gh, gw).

    ``attn`` is one block's (B, h, N + 1, N + 1) attention, the class token first.
    Used in notebooks/07_looking_inside.
    """
    a = more.attentions(L=1)[0]  # (B, h, N + 1, N + 1), N = 3 * 3
    got = cls_attention_map(a.clone(), 3)
    want = more.cls_map(a, 3)
    expect_close(torch.as_tensor(got), want, "the class token's map", atol=1e-6, rtol=1e-5, hints=[
        (more.cls_map(a, 3, fuse="first"), "that is head 0 only: average over all heads (dim 1)"),
        (more.cls_map(a, 3, row=-1), "that is column 0 (how much each patch reads the class token); the class "
                                 "token's own attention is row 0: attn[:, :, 0, 1:]"),
        (more.cls_map(a, 3, renorm=True), "the weights were renormalised to sum to 1 over the patches; keep them as "
                                      "they are, so the map shows the share the class token really gives each patch"),
    ])
    return "heads averaged, row 0 without its own column, laid out on the patch grid"


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
    atts = more.attentions()
    got = rollout([a.clone() for a in atts])
    expect_close(torch.as_tensor(got), more.rollout(atts), "the rollout", atol=1e-6, rtol=1e-5, hints=[
        (more.rollout(atts, identity=False), "the residual connection is missing: add the identity to each block's "
                                         "fused attention before renormalising (Abnar & Zuidema 2020)"),
        (more.rollout(atts, renorm=False), "the rows are not renormalised after adding the identity: divide each row "
                                       "by its sum, so every row is a distribution again"),
        (more.rollout(atts, order="left"), "the blocks are multiplied in the wrong order: the later block acts on "
                                       "what the earlier ones produced, so result = A_l @ result"),
    ])
    return "heads averaged, identity added, rows renormalised, blocks chained with the later one on the left"


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
    a = more.attentions(L=1)[0]  # (B, h, N + 1, N + 1)
    got = torch.as_tensor(mean_distance(a.clone(), 3, 5)).to(torch.float64)
    want = more.distance(a, 3, 5)
    expect_close(got, want, "the distance per head", atol=1e-5, rtol=1e-5, hints=[
        (more.distance(a, 3, 1), "those are distances in patches; multiply by patch_size to get pixels"),
        (more.distance(a, 3, 5, renorm=False), "the weights were not renormalised after dropping the class token: "
                                           "divide each query's patch weights by their sum"),
        (more.distance(a, 3, 5, drop_cls=False), "the class token is still in: it has no place in the image, so keep "
                                             "only attn[..., 1:, 1:]"),
        (more.distance(a, 3, 5).flip(0), "the heads come out in the wrong order"),
    ])
    return "class token left out, weights renormalised, pixel distances weighted, averaged over queries and images"


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
        want = more.window(g, r)
        if got.ndim == 4 and got.shape[-2:] == want.shape:
            raise ExerciseError("return the (N, N) matrix itself; the package's functions add the batch and head "
                                "dimensions when they need them")
        expect_close(got, want, f"the {g}x{g} grid's window attention with radius {r}", atol=1e-6, rtol=1e-5,
                     hints=[
                         (more.window(g, r, metric="euclid"), "that window is round (Euclidean distance); a k x k "
                                                          "convolution's window is square: use max(|di|, |dj|)"),
                         (more.window(g, r, self_too=False), "each patch should attend to itself too, as a "
                                                         "convolution's centre tap does"),
                         (more.window(g, r, renorm=False), "the rows do not sum to 1: divide each row by the number of "
                                                       "patches in its window"),
                     ])
    return "square windows, clipped at the border, each row a uniform distribution over its window"


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
    model, x, r, labels, mean, std = more.deletion_setup()
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
                     hints=more.deletion_hints(model, x, r, labels, mean, std))
    if not torch.equal(images, x):
        raise ExerciseError("the curves are right, but your function painted over the images it was given (in place): "
                            "paint a copy, e.g. images.masked_fill(mask, 0.0) or images.clone()")
    return "most relevant patches first, cumulatively, painted with the mean, the predicted class's probability"


