"""Every relevance map the faithfulness test compares, through one interface: name -> (B, gh, gw).

``relevance_map(method, model, images, target)`` gives one value per patch, higher meaning "more
relevant to the target class". The methods:

- ``random``: a flat map. :func:`vit_lessons.faithfulness.perturbation_curve` breaks ties at
  random, so it removes the patches in a random order: the baseline every method must beat.
- ``attention``: the last block's attention from the row the classifier reads, mean over heads.
- ``rollout``: attention rollout (Abnar & Zuidema 2020), :func:`~vit_lessons.explain.attention_rollout`.
- ``grad-rollout``: gradient-weighted attention, rolled out with renormalised rows,
  :func:`~vit_lessons.explain.grad_rollout`.
- ``chefer``: :func:`chefer_relevance`, the same gradient-weighted attention accumulated with
  Chefer et al.'s rule R <- R + A_bar R, without renormalisation.
- ``grad-cam``: Grad-CAM on the tokens entering the last block, :func:`~vit_lessons.explain.grad_cam`.
- ``gradient-x-input``: |image * d logit / d image|, summed over each patch's pixels.
- ``integrated-gradients`` and ``occlusion``: Captum's IntegratedGradients (from the mean image)
  and Occlusion (one patch at a time, painted with the mean), summed per patch.

Every method explains the target class's *logit*. Maps that do not depend on the class (random,
attention, rollout) ignore ``target``. Shape legend as in :mod:`vit_lessons.explain`.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from einops import reduce

from .explain import (
    _check_images,
    _check_model,
    _eval_mode,
    _targets,
    attention_maps,
    attention_rollout,
    grad_cam,
    grad_rollout,
    pooled_row,
    to_patch_grid,
)
from .model import VisionTransformer

__all__ = ["METHODS", "CAPTUM_METHODS", "relevance_map", "chefer_relevance", "gradient_x_input",
           "integrated_gradients", "occlusion", "per_patch"]


def per_patch(pixels: torch.Tensor, model: VisionTransformer) -> torch.Tensor:
    """(B, C, H, W) per-pixel values -> (B, gh, gw): each patch's sum over its pixels and channels.

    Built in notebooks/07_looking_inside.
    """
    p = _check_model(model).config.patch_size
    return reduce(pixels.float(), "b c (gh p1) (gw p2) -> b gh gw", "sum", p1=p, p2=p)  # (B, gh, gw)


def _logit_and_grad_wrt(model: VisionTransformer, images: torch.Tensor, target, what: str):
    """Forward in eval mode with gradients on; returns (targets, images leaf, attentions, their gradients)."""
    x = _check_images(_check_model(model), images).detach().requires_grad_(True)
    with _eval_mode(model), torch.enable_grad():
        logits, attns = model(x, return_attention=True)  # (B, K), L x (B, h, N + 1, N + 1)
        t = _targets(target, logits, model.config.num_classes)
        wrt = [x] if what == "input" else list(attns)
        grads = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), wrt)  # images are independent
    return t, x.detach(), [a.detach() for a in attns], grads


# ---- attention-based ----------------------------------------------------------------------------------
def _last_attention(model, images, target=None) -> torch.Tensor:
    a = attention_maps(model, images)[-1].mean(dim=1)  # (B, N + 1, N + 1): mean over heads
    return to_patch_grid(pooled_row(a, model), model)  # (B, gh, gw)


def _rollout(model, images, target=None) -> torch.Tensor:
    r = attention_rollout(attention_maps(model, images), num_prefix_tokens=model.num_prefix_tokens)
    return to_patch_grid(pooled_row(r, model), model)  # (B, gh, gw)


def _grad_rollout(model, images, target=None) -> torch.Tensor:
    return to_patch_grid(pooled_row(grad_rollout(model, images, target), model), model)  # (B, gh, gw)


def _chefer_rule(cams: torch.Tensor) -> torch.Tensor:
    """(L, B, N + 1, N + 1) head-averaged positive gradient x attention, first block first -> R (B, N + 1, N + 1)."""
    L, B, n, _ = cams.shape
    R = torch.eye(n, dtype=cams.dtype, device=cams.device).expand(B, n, n)  # (B, N + 1, N + 1)
    for cam in cams:  # cam: (B, N + 1, N + 1)
        R = R + cam @ R  # no renormalisation: relevance accumulates
    return R


def chefer_relevance(model: VisionTransformer, images: torch.Tensor, target=None) -> torch.Tensor:
    """Chefer et al.'s relevance for one class: (B, N + 1, N + 1), starting from the identity.

    Per block, A_bar = mean_h (dy_t/dA * A)^+ (the heads' gradient-weighted attention, positive
    part), then R <- R + A_bar R, block by block from the first: Chefer, Gur & Wolf, "Generic
    Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers"
    (ICCV 2021), Eqs. 5-6. Their CVPR 2021 paper ("Transformer Interpretability Beyond Attention
    Visualization") accumulates the same way, I + A_bar multiplied over the blocks, but with each
    attention map's LRP relevance in place of A; the ICCV paper drops LRP, and this is that version.

    It differs from :func:`~vit_lessons.explain.grad_rollout` only in the rows: grad-rollout
    renormalises each block's I + A_bar to rows summing to 1 before multiplying, which rescales
    every token's incoming relevance by its own row sum. With one block the two rows the
    classifier reads are proportional (the same ranking of patches); from two blocks on, the
    renormalisation of the inner blocks reweights the paths and the rankings can differ.

    Built in notebooks/07_looking_inside.
    """
    _, _, attns, grads = _logit_and_grad_wrt(model, images, target, "attention")
    cams = torch.stack([(a * g).clamp(min=0).mean(dim=1) for a, g in zip(attns, grads)])  # (L, B, N + 1, N + 1)
    return _chefer_rule(cams.float())


def _chefer(model, images, target=None) -> torch.Tensor:
    return to_patch_grid(pooled_row(chefer_relevance(model, images, target), model), model)  # (B, gh, gw)


# ---- gradient-based --------------------------------------------------------------------------------------
def gradient_x_input(model: VisionTransformer, images: torch.Tensor, target=None) -> torch.Tensor:
    """|image * d logit_t / d image|, summed over each patch's pixels and channels: (B, gh, gw).

    The images are the model's (normalised) input, so a pixel at the dataset mean (0) scores 0.

    Built in notebooks/07_looking_inside.
    """
    _, x, _, (g,) = _logit_and_grad_wrt(model, images, target, "input")
    return per_patch((x * g).abs(), model)  # (B, gh, gw)


def _captum(name: str):
    try:
        # captum imports tqdm.auto, which warns in a notebook without ipywidgets; its progress bars are unused
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            import captum.attr
    except ImportError as e:  # a dependency of vit_lessons; missing only in a hand-made environment
        raise ImportError("the Captum methods need the captum package: pip install 'captum>=0.9'") from e
    return getattr(captum.attr, name)


def integrated_gradients(model: VisionTransformer, images: torch.Tensor, target=None, *, steps: int = 32,
                         internal_batch_size: int = 512) -> torch.Tensor:
    """Captum's IntegratedGradients from the mean image (0 after normalisation), summed per patch: (B, gh, gw).

    Signed: by completeness the patches' values add up to the target logit's change from the mean
    image to this one, up to the integral's error (``steps`` Gauss-Legendre points; on the course's
    Fashion-MNIST model the error is ~0.04 logit on average at 32 steps, ~0.3 at 16).
    ``internal_batch_size`` images go through the model at a time (on a CPU ~500 is fastest).

    Built in notebooks/07_looking_inside.
    """
    x = _check_images(_check_model(model), images).detach()
    with _eval_mode(model), torch.enable_grad():
        with torch.no_grad():
            t = _targets(target, model(x), model.config.num_classes)
        attr = _captum("IntegratedGradients")(model).attribute(
            x, baselines=0.0, target=t, n_steps=steps, internal_batch_size=internal_batch_size)
    return per_patch(attr.detach(), model)  # (B, gh, gw)


def occlusion(model: VisionTransformer, images: torch.Tensor, target=None, *, fill: float = 0.0,
              perturbations_per_eval: int | None = None) -> torch.Tensor:
    """Captum's Occlusion with a patch-sized window and stride: the target logit's drop when each patch,
    alone, is painted with ``fill`` (0: the dataset mean after normalisation). (B, gh, gw).

    ``perturbations_per_eval`` occluded copies of the batch go through the model in one forward
    pass (default: as many as keep a pass near 512 images, at least 1, at most N).

    Built in notebooks/07_looking_inside.
    """
    x = _check_images(_check_model(model), images).detach()
    cfg = model.config
    window = (cfg.in_chans, cfg.patch_size, cfg.patch_size)
    per_eval = perturbations_per_eval or max(1, min(cfg.num_patches, 512 // len(x)))
    with _eval_mode(model), torch.no_grad():
        t = _targets(target, model(x), cfg.num_classes)
        attr = _captum("Occlusion")(model).attribute(x, sliding_window_shapes=window, strides=window,
                                                     baselines=float(fill), target=t,
                                                     perturbations_per_eval=per_eval)
    return per_patch(attr, model) / (cfg.in_chans * cfg.patch_size**2)  # (B, gh, gw): each pixel holds the drop


def _random(model, images, target=None) -> torch.Tensor:
    g = _check_model(model).config.grid_size
    x = _check_images(model, images)
    return torch.zeros(len(x), g, g, device=x.device)  # (B, gh, gw): all tied, broken at random later


METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "random": _random,
    "attention": _last_attention,
    "rollout": _rollout,
    "grad-rollout": _grad_rollout,
    "chefer": _chefer,
    "grad-cam": grad_cam,
    "gradient-x-input": gradient_x_input,
    "integrated-gradients": integrated_gradients,
    "occlusion": occlusion,
}
CAPTUM_METHODS = ("integrated-gradients", "occlusion")


def relevance_map(method: str, model: VisionTransformer, images: torch.Tensor, target=None, **options) -> torch.Tensor:
    """One relevance map per image, (B, gh, gw), from the method named ``method`` (a key of :data:`METHODS`).

    ``target``: None (each image's predicted class), one class index, or one per image. ``options``
    go to the method, e.g. ``steps=64`` to integrated gradients.

    Built in notebooks/07_looking_inside.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    return METHODS[method](model, images, target, **options).float()
