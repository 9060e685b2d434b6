"""What a ViT looks at: attention maps, attention rollout, gradient rollout and Grad-CAM.

Every function takes our :class:`~vit_lessons.VisionTransformer` (timm weights load into it as
they are; torchvision's convert with :mod:`vit_lessons.pretrained`) and reads the patch grid
from ``model.config``. Token maps are (B, N + 1, N + 1) over the N patches and the class token,
which comes first (N × N for a model without a class token); :func:`pooled_row` and
:func:`to_patch_grid` turn them into (B, gh, gw) pictures. The paper's Fig. 7 analyses live in
:mod:`vit_lessons.fig7` and are re-exported here. Every map, these and Chefer's rule, gradient ×
input and Captum's methods, comes through one interface in :mod:`vit_lessons.relevance`; the test
of which maps the model agrees with (remove patches in a map's order) is :mod:`vit_lessons.faithfulness`.

Shape legend: B batch, C channels, H W height width, P patch size, N patches (N + 1 tokens with the
class token), L blocks, h heads, D embed dim, gh gw the patch grid.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn

from .fig7 import _stack_attentions, mean_attention_distance, patch_embedding_components, position_similarity
from .model import VisionTransformer
from .patches import check_image_batch

__all__ = ["attention_maps", "attention_rollout", "grad_rollout", "grad_cam", "reshape_transform",
           "grad_cam_layer", "pooled_row", "to_patch_grid", "HEAD_FUSIONS",
           "patch_embedding_components", "position_similarity", "mean_attention_distance"]

HEAD_FUSIONS = ("mean", "max", "min")


# ---- boundary checks ------------------------------------------------------------------------------
def _check_model(model) -> VisionTransformer:
    if not isinstance(model, VisionTransformer):
        raise TypeError(f"expected a vit_lessons VisionTransformer, got {type(model).__name__}; load timm weights "
                        "with vit_lessons.pretrained.from_timm(...) or torchvision ones with from_torchvision(...)")
    return model


def _check_images(model: VisionTransformer, images) -> torch.Tensor:
    cfg = model.config
    check_image_batch(images, channels=cfg.in_chans, size=cfg.img_size, patch_size=cfg.patch_size)
    return images.to(next(model.parameters()).device)


def _targets(target, logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) class indices: the predicted class where ``target`` is None, else the one(s) given, checked."""
    B, K = logits.shape[0], num_classes
    if K == 0:
        raise ValueError("the model has no classification head (num_classes=0): there is no class to explain")
    if target is None:
        return logits.argmax(dim=-1)  # (B,)
    t = torch.as_tensor(target, device=logits.device)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"target must be a class index (int) or B of them, got dtype {t.dtype}")
    t = t.long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(B)
    if t.numel() != B:
        raise ValueError(f"target has {t.numel()} entries but there are {B} images: give one class, or one per image")
    bad = t[(t < 0) | (t >= K)]
    if bad.numel():
        raise ValueError(f"target {int(bad[0])} is out of range for a model with {K} classes: use 0..{K - 1}")
    return t


def _tokens(model: VisionTransformer) -> tuple[str, int]:
    """The token count as a symbol and a number: ("N + 1", 17) with a class token, ("N", 16) without."""
    p = model.num_prefix_tokens
    return (f"N + {p}" if p else "N"), model.config.num_tokens


@contextmanager
def _eval_mode(model: nn.Module):
    """Explanations are of the deterministic model (no dropout); the caller's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# ---- token maps -> pictures -------------------------------------------------------------------------
def pooled_row(matrix: torch.Tensor, model: VisionTransformer) -> torch.Tensor:
    """The row of a (..., N + 1, N + 1) token map that the classifier reads: (..., N + 1).

    With ``pool='cls'`` that is the class token's row. With ``pool='mean'`` the head reads the
    mean of the patch tokens, so the row is the mean of the patch tokens' rows: how much each
    input token contributes to the pooled feature. Rows of a rollout sum to 1, so this row does too.

    Built in notebooks/07_looking_inside.
    """
    p = _check_model(model).num_prefix_tokens
    sym, t = _tokens(model)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] or matrix.shape[-1] != t:
        raise ValueError(f"expected a (..., {sym}, {sym}) token map with {sym} = {t} tokens for this model, "
                         f"got shape {tuple(matrix.shape)}")
    if model.config.pool == "cls":
        return matrix[..., 0, :]  # (..., N + 1)
    return matrix[..., p:, :].mean(dim=-2)  # (..., N + 1)


def to_patch_grid(values: torch.Tensor, model: VisionTransformer) -> torch.Tensor:
    """(..., N + 1) values over all tokens, or (..., N) over the patches only -> (..., gh, gw) on the patch grid.

    Built in notebooks/07_looking_inside.
    """
    cfg = _check_model(model).config
    g, n = cfg.grid_size, values.shape[-1]
    sym, t = _tokens(model)
    if n == t:
        values = values[..., model.num_prefix_tokens:]  # (..., N) = (..., gh*gw): prefix tokens are not in the image
    elif n != cfg.num_patches:
        raise ValueError(f"last dim {n} is neither {sym} = {t} tokens nor N = {cfg.num_patches} patches "
                         f"of this model's {g}x{g} grid")
    return values.reshape(*values.shape[:-1], g, g)  # (..., gh, gw), row-major like the patches


# ---- attention and rollout --------------------------------------------------------------------------
def attention_maps(model: VisionTransformer, images: torch.Tensor) -> list[torch.Tensor]:
    """One (B, h, N + 1, N + 1) tensor of attention probabilities per block, in eval mode, without gradients.

    Row i of head k holds how token i (the class token is 0) spreads its attention over all N + 1
    tokens; each row sums to 1.

    Built in notebooks/07_looking_inside.
    """
    x = _check_images(_check_model(model), images)
    with _eval_mode(model), torch.no_grad():
        _, attns = model(x, return_attention=True)  # L x (B, h, N + 1, N + 1)
    return [a.detach() for a in attns]


def _rollout(fused: torch.Tensor, discard_ratio: float, num_prefix_tokens: int) -> torch.Tensor:
    """(L, B, N + 1, N + 1) per-block token mixing -> (B, N + 1, N + 1): drop the weakest, add the residual,
    chain the blocks."""
    L, B, n, _ = fused.shape  # n = N + 1 tokens
    eye = torch.eye(n, dtype=fused.dtype, device=fused.device)
    k = int(n * n * discard_ratio)  # < n * n because discard_ratio < 1
    protected = torch.arange(num_prefix_tokens, device=fused.device) * (n + 1)  # flat (p, p): a prefix's own weight
    result = eye.expand(B, n, n)  # (B, N + 1, N + 1)
    for a in fused:  # a: (B, N + 1, N + 1)
        if k:
            flat = a.reshape(B, n * n).clone()  # (B, (N + 1)^2)
            ranked = flat.clone()
            ranked[:, protected] = float("inf")  # never among the lowest
            flat.scatter_(1, ranked.topk(k, dim=1, largest=False).indices, 0.0)
            a = flat.reshape(B, n, n)  # (B, N + 1, N + 1)
        a = a + eye  # the residual connection carries each token to itself
        a = a / a.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        result = a @ result  # (B, N + 1, N + 1): block l's mixing applied to everything below it
    return result


def _check_rollout_args(head_fusion: str, discard_ratio: float) -> None:
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, (int, float)) or not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must be a number in [0, 1) (the share of weakest weights to drop), "
                         f"got {discard_ratio!r}")


def attention_rollout(attentions, head_fusion: str = "mean", discard_ratio: float = 0.0, *,
                      num_prefix_tokens: int = 1) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each output token.

    Per block the heads' (B, h, N + 1, N + 1) attentions are fused (``mean``, ``max`` or ``min``
    over h); optionally the lowest ``discard_ratio`` of each image's (N + 1)^2 weights are set to 0
    (never a prefix token's weight on itself, so the class token keeps its own path); the identity
    is added for the residual connection and rows renormalised to sum to 1; the blocks are then
    multiplied together, first block rightmost. Returns (B, N + 1, N + 1), every row summing to 1.

    Identity attention rolls out to the identity. With n = N + 1 tokens, uniform attention (1/n
    everywhere) rolls out to (1 - 2^-L) / n everywhere plus 2^-L on the diagonal: uniform up to
    the residual path.
    ``num_prefix_tokens`` is 1 for a model with a class token, 0 without (``model.num_prefix_tokens``).

    Built in notebooks/07_looking_inside.
    """
    _check_rollout_args(head_fusion, discard_ratio)
    a = _stack_attentions(attentions)  # (L, B, h, N + 1, N + 1)
    if not 0 <= num_prefix_tokens < a.shape[-1]:
        raise ValueError(f"num_prefix_tokens must be in [0, {a.shape[-1]}) for attention over {a.shape[-1]} tokens "
                         f"(1 for a class token, 0 without one), got {num_prefix_tokens}")
    fused = {"mean": a.mean(dim=2), "max": a.amax(dim=2), "min": a.amin(dim=2)}[head_fusion]  # (L, B, N + 1, N + 1)
    return _rollout(fused, float(discard_ratio), num_prefix_tokens)


def grad_rollout(model: VisionTransformer, images: torch.Tensor, target=None, *,
                 discard_ratio: float = 0.0) -> torch.Tensor:
    """Gradient-weighted rollout for one class: (B, N + 1, N + 1), rows summing to 1.

    Each block's attention A is weighted by the gradient of the target logit with respect to it,
    its positive part kept per head and the heads averaged, mean_h (A * dy_t/dA)^+ (Chefer et al.
    2021, "Generic attention-model explainability"); those maps are then rolled out as in
    :func:`attention_rollout`. ``target``: None (each image's predicted class), one class index,
    or one per image. The model's parameters get no ``.grad``.

    Built in notebooks/07_looking_inside.
    """
    _check_rollout_args("mean", discard_ratio)
    x = _check_images(_check_model(model), images).detach().requires_grad_(True)  # grads flow even if frozen
    with _eval_mode(model), torch.enable_grad():
        logits, attns = model(x, return_attention=True)  # (B, K), L x (B, h, N + 1, N + 1)
        t = _targets(target, logits, model.config.num_classes)
        score = logits.gather(1, t[:, None]).sum()  # images are independent, so one backward serves all
        grads = torch.autograd.grad(score, attns)  # L x (B, h, N + 1, N + 1)
    fused = torch.stack([(a.detach() * g).clamp(min=0).mean(dim=1)
                         for a, g in zip(attns, grads)])  # (L, B, N + 1, N + 1)
    return _rollout(fused.float(), float(discard_ratio), model.num_prefix_tokens)


# ---- Grad-CAM -------------------------------------------------------------------------------------------
def _block_index(model: VisionTransformer, block: int) -> int:
    depth = len(model.blocks)
    if isinstance(block, bool) or not isinstance(block, int) or not -depth <= block < depth:
        raise ValueError(f"block must be an int in [-{depth}, {depth}) for this {depth}-block model, got {block!r}")
    return block % depth


def grad_cam_layer(model: VisionTransformer, block: int = -1) -> nn.Module:
    """The module Grad-CAM reads: ``model.blocks[block].norm1``, the tokens as the block's attention sees them.

    The last block's *output* patch tokens are useless for Grad-CAM with class-token pooling:
    only the class token reaches the head after it, so their gradient is exactly 0. The input
    of the block's attention is where patch tokens still feed the class token. Give this module
    to ``pytorch_grad_cam.GradCAM(model, [grad_cam_layer(model)], reshape_transform(model))``.

    Built in notebooks/07_looking_inside.
    """
    return _check_model(model).blocks[_block_index(model, block)].norm1


def reshape_transform(model: VisionTransformer) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function (B, N + 1, D) tokens -> (B, D, gh, gw) feature maps, as the ``grad-cam`` package wants.

    The prefix (class) token is dropped and the grid taken from ``model.config``.

    Built in notebooks/07_looking_inside.
    """
    cfg = _check_model(model).config
    p, g = model.num_prefix_tokens, cfg.grid_size
    sym, t = _tokens(model)

    def transform(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3 or tokens.shape[1] != t:
            raise ValueError(f"expected (B, {sym}, D) = (B, {t}, D) tokens from this model, "
                             f"got {tuple(tokens.shape)}")
        x = tokens[:, p:].reshape(tokens.shape[0], g, g, tokens.shape[2])  # (B, gh, gw, D)
        return x.permute(0, 3, 1, 2)  # (B, D, gh, gw), like a CNN's feature map

    return transform


def grad_cam(model: VisionTransformer, images: torch.Tensor, target=None, block: int = -1) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) on the patch tokens of one block: (B, gh, gw), each map in [0, 1].

    The tokens entering block ``block``'s attention (:func:`grad_cam_layer`) are caught with a
    forward hook and their gradient for the target logit with a backward hook; each of the D
    channels is weighted by its gradient averaged over the patches, the weighted channels summed,
    the negative part dropped and each map scaled by its min and max (all zeros when nothing is
    positive). ``target``: None (predicted class), one class index or one per image. The hooks
    are removed afterwards, also when something fails; the parameters get no ``.grad``.

    Built in notebooks/07_looking_inside.
    """
    x = _check_images(_check_model(model), images).detach().requires_grad_(True)  # the backward pass needs a leaf
    layer = grad_cam_layer(model, block)
    caught: dict[str, torch.Tensor] = {}
    handles = [
        layer.register_forward_hook(lambda _m, _inp, out: caught.__setitem__("act", out.detach())),
        layer.register_full_backward_hook(lambda _m, _gin, gout: caught.__setitem__("grad", gout[0].detach())),
    ]
    try:
        with _eval_mode(model), torch.enable_grad():
            logits = model(x)  # (B, K)
            t = _targets(target, logits, model.config.num_classes)
            torch.autograd.grad(logits.gather(1, t[:, None]).sum(), x)
    finally:
        for h in handles:
            h.remove()
    p = model.num_prefix_tokens
    act, grad = caught["act"][:, p:].float(), caught["grad"][:, p:].float()  # (B, N, D) each, N = gh*gw
    weights = grad.mean(dim=1, keepdim=True)  # (B, 1, D): one weight per channel
    cam = (act * weights).sum(dim=-1).clamp(min=0)  # (B, N)
    lo, hi = cam.amin(dim=1, keepdim=True), cam.amax(dim=1, keepdim=True)
    cam = (cam - lo) / (hi - lo).clamp(min=1e-12)
    return to_patch_grid(cam, model)  # (B, gh, gw)
