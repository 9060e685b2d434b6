"""FLOPs of a ViT step, from its config; checked against torch's own counter; model-FLOPs utilisation.

A FLOP here is one multiply or one add, so a multiply-add is 2 FLOPs (the convention of
``torch.utils.flop_counter`` and of MFU figures). Only matrix products are counted: they are
all but a few percent of a ViT's arithmetic; LayerNorm, GELU, softmax and biases are left out,
as ``FlopCounterMode`` leaves them out.

Built in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..config import ViTConfig

__all__ = ["vit_flops", "step_flops", "count_flops", "peak_flops", "mfu", "PEAK_TFLOPS"]

# Dense (no sparsity) peak TFLOP/s from NVIDIA's data sheets; "fp32" is without TF32, which torch
# only uses for float32 matrix products when asked (torch.set_float32_matmul_precision("high")).
PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.0, "fp32": 51.0},
    "H100": {"bf16": 989.4, "fp32": 66.9},  # SXM; also the H200's tensor-core peak
    "H200": {"bf16": 989.4, "fp32": 66.9},
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp32": 30.3},
    "A10G": {"bf16": 70.0, "fp32": 31.2},
    "T4": {"fp32": 8.1},  # no bf16 tensor cores
}


def vit_flops(cfg: ViTConfig) -> dict[str, int]:
    """Forward FLOPs per image, term by term, of a ViT with config ``cfg``.

    With N patches, n = N + 1 tokens (the class token too), D width, M = MLP width, P patch size, C channels:
    patch embedding 2·N·P²C·D; per block qkv 2·n·D·3D, scores Q Kᵀ 2·n²·D (all heads together:
    h·n²·d = n²·D), weights times V 2·n²·D, output projection 2·n·D², MLP 2·n·D·M twice; head 2·D·classes.
    """
    n, d, m = cfg.num_tokens, cfg.embed_dim, cfg.mlp_hidden_dim
    L = cfg.depth
    return {
        "patch_embed": 2 * cfg.num_patches * cfg.patch_size**2 * cfg.in_chans * d,
        "qkv": L * 2 * n * d * 3 * d,
        "attn_scores": L * 2 * n * n * d,
        "attn_values": L * 2 * n * n * d,
        "attn_proj": L * 2 * n * d * d,
        "mlp": L * 2 * (2 * n * d * m),
        "head": 2 * d * cfg.num_classes,
    }


def step_flops(cfg: ViTConfig, batch: int = 1, train: bool = False) -> int:
    """FLOPs of one inference forward (``train=False``) or one training step for ``batch`` images.

    Backward costs two products for each forward one (the gradient of the input and of the weight),
    except that the images need no gradient, so the patch embedding's backward has one product only:
    train = 3 · forward − patch embedding. AdamW's element-wise update is not counted.
    """
    terms = vit_flops(cfg)
    fwd = sum(terms.values())
    return batch * (3 * fwd - terms["patch_embed"] if train else fwd)


def count_flops(model: torch.nn.Module, x: torch.Tensor, train: bool = False) -> int:
    """FLOPs torch's ``FlopCounterMode`` counts for a forward (and, with ``train``, a backward) of ``model`` on ``x``.

    On a CPU it does not see inside ``F.scaled_dot_product_attention`` (torch registers FLOP formulas for
    the GPU attention kernels only), so count models built with ``fused_attn=False``.
    """
    counter = FlopCounterMode(display=False)
    with counter:
        if train:
            out = model(x)
            F.cross_entropy(out, torch.zeros(len(x), dtype=torch.long, device=x.device)).backward()
        else:
            with torch.no_grad():
                model(x)
    return counter.get_total_flops()


def peak_flops(device_name: str | None, dtype: str) -> float | None:
    """Peak FLOP/s of the named GPU for ``dtype`` ('bf16' or 'fp32'), or None when unknown (and on CPUs)."""
    if not device_name:
        return None
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if key in device_name:
            tf = PEAK_TFLOPS[key].get(dtype)
            return tf * 1e12 if tf else None
    return None


def mfu(flops_per_s: float, device_name: str | None, dtype: str) -> float | None:
    """Model-FLOPs utilisation: achieved FLOP/s over the device's peak; None where the peak is unknown."""
    peak = peak_flops(device_name, dtype)
    return flops_per_s / peak if peak else None
