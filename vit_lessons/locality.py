"""Locality for small data, with no convolution in the transformer (Lee et al. 2021, "Vision
Transformer for Small-Size Datasets", arXiv 2112.13492).

Two switches of :class:`~vit_lessons.config.ViTConfig`, both off by default:

* ``spt`` — shifted patch tokenization: the image and four copies shifted by half a patch
  diagonally are stacked as channels before cutting patches, so each token also carries the
  pixels around its patch (a wider receptive field from the first layer on).
* ``lsa`` — locality self-attention: a learned temperature per head (attention may become
  sharper than 1/sqrt(d) allows) and no attention of a token to itself (the diagonal is masked),
  so each token must gather from the others.

The model stays a ViT: patch embedding, transformer blocks, a head.

Shape legend: B batch, C channels, H W height width, P patch size, N patches (N + 1 tokens with the
class token), D embed dim, h heads, d head dim.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from .attention import Attention
from .patches import PatchGrid

__all__ = ["shift_stack", "ShiftedPatchEmbed", "LocalitySelfAttention"]


def shift_stack(x: torch.Tensor, shift: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, 5C, H, W): the image, then four copies in which every pixel holds its
    neighbour ``shift`` pixels up-left, up-right, down-left and down-right of it (zero beyond the border).

    Built in notebooks/09_small_data.
    """
    B, C, H, W = x.shape
    s = shift
    xp = nn.functional.pad(x, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    moved = [xp[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dy, dx in ((-s, -s), (-s, s), (s, -s), (s, s))]
    return torch.cat([x, *moved], dim=1)  # (B, 5C, H, W)


class ShiftedPatchEmbed(PatchGrid):
    """Shifted patch tokenization: shift-stack, cut P x P patches, LayerNorm, project to D.

    Args:
        img_size: side of the square input image.
        patch_size: side of a patch; must divide img_size.
        in_chans: input channels C (the patches then hold 5C channels).
        embed_dim: D.
        eps: LayerNorm epsilon.

    Built in notebooks/09_small_data.
    """

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int, eps: float = 1e-6):
        super().__init__(img_size, patch_size, in_chans)
        self.shift = max(patch_size // 2, 1)  # half a patch, as in the paper
        self.norm = nn.LayerNorm(5 * in_chans * patch_size**2, eps=eps)
        self.proj = nn.Linear(5 * in_chans * patch_size**2, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, D)."""
        p = self.patch_size
        x = shift_stack(x, self.shift)  # (B, 5C, H, W)
        x = rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)  # (B, N, P*P*5C)
        return self.proj(self.norm(x))  # (B, N, D)


class LocalitySelfAttention(Attention):
    """Multi-head self-attention with a learned temperature per head and the diagonal masked.

    Args:
        dim: D, token width.
        num_heads: h.
        qkv_bias: bias on the qkv projection.
        attn_drop: dropout on attention probabilities.
        proj_drop: dropout after the output projection.
        fused_attn: use ``F.scaled_dot_product_attention`` (the temperature folded into q, the diagonal
            masked); the explicit path is used whenever the probabilities are asked for.

    ``scale`` (h,) starts at 1/sqrt(d), the usual value, and is learned. Weights are named as in
    :class:`~vit_lessons.attention.Attention` (``qkv``, ``proj``), so mimetic init applies too.

    Built in notebooks/09_small_data.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, fused_attn: bool = False):
        super().__init__(dim, num_heads, qkv_bias, attn_drop, proj_drop, fused_attn=fused_attn)
        self.scale = nn.Parameter(torch.full((num_heads,), self.head_dim**-0.5))

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        """(B, N + 1, D) -> (B, N + 1, D), and the (B, h, N + 1, N + 1) probabilities if ``return_attn``."""
        B, n, D = x.shape  # n = N + 1 tokens
        qkv = self.qkv(x).reshape(B, n, 3, self.num_heads, self.head_dim)  # (B, N + 1, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N + 1, d)
        self_mask = torch.eye(n, dtype=torch.bool, device=x.device)  # (N + 1, N + 1): a token and itself
        if self.fused_attn and not return_attn:
            q = q * self.scale.view(1, -1, 1, 1)  # (B, h, N + 1, d): each head's temperature
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=~self_mask, scale=1.0,
                                               dropout_p=self.attn_drop.p if self.training else 0.0)
            return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, n, D)))  # (B, N + 1, D)
        scores = (q @ k.transpose(-2, -1)) * self.scale.view(1, -1, 1, 1)  # (B, h, N + 1, N + 1)
        attn = scores.masked_fill(self_mask, float("-inf")).softmax(dim=-1)  # (B, h, N + 1, N + 1), diagonal 0
        x = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(B, n, D)  # (B, N + 1, D): heads concatenated
        x = self.proj_drop(self.proj(x))
        return (x, attn) if return_attn else x
