"""The paper's Fig. 7 for any of our models: patch-embedding filters, position similarity, attention distance.

Dosovitskiy et al. (2021), Fig. 7: left, the first principal components of the learned
patch-embedding filters; centre, the cosine similarity of each patch's position embedding with
every other; right, the mean distance in pixels over which each head attends, by depth.

Shape legend: C channels, P patch size, D embed dim, N patches, N + 1 tokens (with the class token), L blocks,
h heads, gh gw the grid.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .embeddings import pos_embed_similarity
from .model import VisionTransformer

__all__ = ["patch_embedding_components", "position_similarity", "mean_attention_distance", "patch_distances"]


def _model(model) -> VisionTransformer:
    if not isinstance(model, VisionTransformer):
        raise TypeError(f"expected a vit_lessons VisionTransformer, got {type(model).__name__}; load timm weights "
                        "with vit_lessons.pretrained.from_timm(...)")
    return model


def patch_embedding_components(model: VisionTransformer, k: int = 28, return_variance: bool = False):
    """The top ``k`` principal components of the D patch-embedding filters, as (k, C, P, P) images.

    Each of the D filters of ``patch_embed.proj`` is a (C, P, P) image; centred over the D
    filters, their principal directions (right singular vectors) are what the paper's Fig. 7
    (left) shows for the first 28. Each component has unit norm and its sign is fixed so its
    largest-magnitude pixel is positive (an SVD's signs are arbitrary). With
    ``return_variance=True`` also returns the (k,) share of the filters' variance each explains.

    Built in notebooks/07_looking_inside.
    """
    w = _model(model).patch_embed.proj.weight.detach().float().cpu()  # (D, C, P, P)
    D, C, P, _ = w.shape
    most = min(D, C * P * P)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= most:
        raise ValueError(f"k must be an int in [1, {most}]: this model has {D} filters of {C}x{P}x{P} = {C * P * P} "
                         f"values, so at most {most} components; got k={k!r}")
    flat = w.reshape(D, C * P * P)  # (D, C*P*P)
    _, s, vh = torch.linalg.svd(flat - flat.mean(dim=0), full_matrices=False)  # vh: (min(D, CPP), C*P*P)
    comps = vh[:k]  # (k, C*P*P)
    sign = comps.gather(1, comps.abs().argmax(dim=1, keepdim=True)).sign()  # (k, 1)
    comps = (comps * torch.where(sign == 0, 1.0, sign)).reshape(k, C, P, P)  # (k, C, P, P)
    if not return_variance:
        return comps
    var = s**2
    return comps, var[:k] / var.sum().clamp(min=1e-12)


def position_similarity(model: VisionTransformer) -> torch.Tensor:
    """(gh, gw, gh, gw) cosine similarity of the model's patch position embeddings (paper Fig. 7, centre).

    Works for learned and fixed sin-cos embeddings alike; the class token's is left out. Uses
    :func:`vit_lessons.embeddings.pos_embed_similarity`; draw it with ``viz.similarity_grid``.

    Built in notebooks/07_looking_inside.
    """
    model = _model(model)
    pe = model.pos_embed.detach()[:, model.num_prefix_tokens:]  # (1, gh*gw, D)
    return pos_embed_similarity(pe, grid_size=model.config.grid_size)


def _stack_attentions(attentions) -> torch.Tensor:
    """A list of L (B, h, N + 1, N + 1) tensors (or one (L, B, h, N + 1, N + 1) tensor) as one float tensor."""
    if isinstance(attentions, torch.Tensor):
        a = attentions
    elif isinstance(attentions, Sequence) and len(attentions) and all(isinstance(t, torch.Tensor) for t in attentions):
        shapes = {tuple(t.shape) for t in attentions}
        if len(shapes) > 1:
            raise ValueError(f"all blocks' attentions must have one shape (B, h, N + 1, N + 1), got {sorted(shapes)}")
        a = torch.stack(list(attentions))  # (L, B, h, N + 1, N + 1)
    else:
        raise ValueError("attentions must be a non-empty list of (B, h, N + 1, N + 1) tensors, one per block, "
                         "as vit_lessons.explain.attention_maps(model, images) returns")
    if a.ndim != 5 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attentions must be L tensors of shape (B, h, N + 1, N + 1), got {tuple(a.shape)} "
                         "(stacked: L, B, h, N + 1, N + 1)")
    return a.detach().float()


def _grid(grid_size) -> tuple[int, int]:
    g = (grid_size, grid_size) if isinstance(grid_size, int) and not isinstance(grid_size, bool) else grid_size
    if (not isinstance(g, Sequence) or len(g) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in g)):
        raise ValueError(f"grid_size must be a positive int or a (gh, gw) pair of them, got {grid_size!r}")
    return int(g[0]), int(g[1])


def patch_distances(grid_size, patch_size: int) -> torch.Tensor:
    """(gh*gw, gh*gw) distance in pixels between the centres of every two patches (row-major).

    Built in notebooks/07_looking_inside.
    """
    gh, gw = _grid(grid_size)
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size <= 0:
        raise ValueError(f"patch_size must be a positive int (pixels per patch side), got {patch_size!r}")
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")  # (gh, gw) each
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size  # (gh*gw, 2)
    return torch.cdist(centres, centres)  # (gh*gw, gh*gw)


def mean_attention_distance(attentions, grid_size, patch_size: int) -> torch.Tensor:
    """(L, h) mean attention distance in pixels (paper Fig. 7, right): how far each head looks.

    For every query patch, its attention over the patches (the class token left out, the
    remaining weights renormalised to sum to 1) weights the pixel distance between patch
    centres; the result is averaged over query patches and images. Identity attention gives 0;
    uniform attention gives the grid's mean pairwise patch distance. ``attentions``: a list of L
    (B, h, N + 1, N + 1) tensors as :func:`vit_lessons.explain.attention_maps` returns (or one
    (L, B, h, N + 1, N + 1) tensor); ``grid_size``: the model's ``config.grid_size``.

    Built in notebooks/07_looking_inside.
    """
    a = _stack_attentions(attentions)  # (L, B, h, N + 1, N + 1)
    dist = patch_distances(grid_size, patch_size)  # (N, N): N = gh*gw patches
    n, N = dist.shape[0], a.shape[-1]
    prefix = N - n
    if prefix not in (0, 1):
        raise ValueError(f"N={N} tokens do not fit a {_grid(grid_size)} grid of {n} patches (plus at most one class "
                         "token): pass the model's config.grid_size")
    w = a[..., prefix:, prefix:].double()  # (L, B, h, n, n): patch to patch
    w = w / w.sum(dim=-1, keepdim=True).clamp(min=1e-12)  # each query's weights over patches sum to 1
    per_query = (w * dist.to(w.device)).sum(dim=-1)  # (L, B, h, n)
    return per_query.mean(dim=(1, 3)).float()  # (L, h)
