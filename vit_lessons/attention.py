"""Scaled dot-product attention and multi-head self-attention.

Shape legend: B batch, N patches (N + 1 tokens with the class token), D embed dim, h heads, d = D / h head dim.
Attention works on any sequence; the comments write a ViT's, N + 1 tokens long.

Built in notebooks/03_attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["scaled_dot_product_attention", "Attention", "mimetic_init_"]


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 dropout_p: float = 0.0, training: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d)) V, written out; returns (output, attention probabilities).

    q, k, v: (..., N + 1, d). Returns (..., N + 1, d) and (..., N + 1, N + 1). No mask: every patch may
    look at every other patch, in both directions.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])  # keeps the dot products' variance near 1, so softmax doesn't saturate
    scores = (q * scale) @ k.transpose(-2, -1)  # (..., N + 1, N + 1)
    attn = scores.softmax(dim=-1)  # each row sums to 1
    probs = F.dropout(attn, dropout_p, training) if dropout_p > 0 else attn
    return probs @ v, attn  # (..., N + 1, d), (..., N + 1, N + 1)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (timm's layout, so weights load as they are).

    Args:
        dim: D, token width.
        num_heads: h; must divide dim.
        qkv_bias: bias on the qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        fused_attn: use ``F.scaled_dot_product_attention``; the explicit path is used
            whenever the probabilities are asked for.

    Built in notebooks/03_attention.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, fused_attn: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.fused_attn = fused_attn
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        """(B, N + 1, D) -> (B, N + 1, D), and the (B, h, N + 1, N + 1) probabilities if ``return_attn``."""
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N + 1, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N + 1, d)
        attn = None
        if self.fused_attn and not return_attn:
            p = self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, h, N + 1, d)
        else:
            x, attn = scaled_dot_product_attention(q, k, v, self.attn_drop.p, self.training)  # (B, h, N + 1, d)
        x = x.transpose(1, 2).reshape(B, N, D)  # (B, N + 1, D): heads concatenated
        x = self.proj_drop(self.proj(x))
        return (x, attn) if return_attn else x


@torch.no_grad()
def mimetic_init_(module: nn.Module, alpha_qk: float = 0.7, beta_qk: float = 0.7, alpha_vo: float = 0.4,
                  beta_vo: float = 0.4, generator: torch.Generator | None = None) -> nn.Module:
    """Start every :class:`Attention` in ``module`` looking like a trained one (mimetic init).

    Trockman & Kolter (2023, arXiv 2305.09828) observed that in pre-trained ViTs each head's
    query-key product W_q^T W_k is close to a multiple of the identity plus noise, and the
    value-output product W_v^T W_proj^T close to minus the identity plus noise, and showed that
    initialising the weights that way lets small ViTs learn much faster on small datasets.
    With W_q^T W_k ≈ I a token's attention score with another is their dot product, so with
    sin-cos position embeddings (similar for neighbouring patches) attention starts out local.

    For each head the target alpha_qk * Z + beta_qk * I (Z has N(0, 1/D) entries) is split by SVD
    into the head's (d, D) query and key rows, keeping the d largest singular values; the
    (D, D) value and output weights split alpha_vo * Z' - beta_vo * I exactly. Biases are untouched.
    Returns ``module``.

    Built in notebooks/06_training.
    """
    found = False
    for attn in module.modules():
        if not isinstance(attn, Attention):
            continue
        found = True
        w = attn.qkv.weight  # (3D, D): rows are [W_q; W_k; W_v], each (D, D) and h heads of d rows
        D, d = attn.proj.in_features, attn.head_dim
        eye = torch.eye(D)
        for i in range(attn.num_heads):
            target = alpha_qk * torch.randn(D, D, generator=generator) / math.sqrt(D) + beta_qk * eye  # (D, D)
            U, S, Vh = torch.linalg.svd(target)
            root = S[:d].sqrt()  # (d,)
            w[i * d:(i + 1) * d] = (U[:, :d] * root).T.to(w)  # W_q rows of head i: (d, D)
            w[D + i * d:D + (i + 1) * d] = (Vh[:d].T * root).T.to(w)  # W_k rows of head i: (d, D)
        target = alpha_vo * torch.randn(D, D, generator=generator) / math.sqrt(D) - beta_vo * eye  # (D, D)
        U, S, Vh = torch.linalg.svd(target)
        root = S.sqrt()
        w[2 * D:] = (U * root).T.to(w)  # W_v: (D, D), so that W_v^T W_proj^T = target
        attn.proj.weight.copy_((Vh.T * root).to(w))  # W_proj: (D, D)
    if not found:
        raise ValueError(f"mimetic_init_: {type(module).__name__} has no vit_lessons Attention layers to initialise")
    return module
