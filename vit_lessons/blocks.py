"""The MLP and the pre-norm Transformer encoder block.

Built in notebooks/04_encoder_block.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention

__all__ = ["Mlp", "DropPath", "Block"]


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, applied to every token on its own (the paper's Eq. 3 MLP).

    Args:
        in_features: D.
        hidden_features: hidden width (paper: 4 D).
        drop: dropout after each linear layer.

    Built in notebooks/04_encoder_block.
    """

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N + 1, D) -> (B, N + 1, D)."""
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch for some samples while training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity at eval time; scales kept samples by 1 / (1 - p) while training."""
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Block(nn.Module):
    """Pre-norm encoder block: x + MSA(LN(x)), then x + MLP(LN(x)) (paper Eq. 2 and 3).

    Args:
        dim: D.
        num_heads: h.
        mlp_ratio: MLP hidden width / D.
        qkv_bias: bias on the qkv projection.
        drop: dropout in the MLP and after the attention projection.
        attn_drop: dropout on attention probabilities.
        drop_path: stochastic-depth probability of this block.
        fused_attn: use ``F.scaled_dot_product_attention``.
        eps: LayerNorm epsilon.
        attn_layer: the attention class (timm's ``attn_layer``): :class:`~vit_lessons.attention.Attention`, or
            lesson 09's :class:`~vit_lessons.locality.LocalitySelfAttention`; built with the keywords above.

    Built in notebooks/04_encoder_block.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0, fused_attn: bool = True, eps: float = 1e-6,
                 attn_layer: type[nn.Module] = Attention):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = attn_layer(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop,
                               fused_attn=fused_attn)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        """(B, N + 1, D) -> (B, N + 1, D), and this block's (B, h, N + 1, N + 1) attention if asked."""
        if return_attn:
            a, attn = self.attn(self.norm1(x), return_attn=True)
            x = x + self.drop_path1(a)
        else:
            x = x + self.drop_path1(self.attn(self.norm1(x)))
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return (x, attn) if return_attn else x
