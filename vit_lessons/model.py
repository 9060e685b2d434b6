"""The Vision Transformer: patches -> tokens -> encoder blocks -> class token -> head.

Parameter names are timm's, so ``model.load_state_dict(timm_vit.state_dict())`` works as it is.

Built in notebooks/05_vision_transformer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .attention import Attention
from .blocks import Block
from .config import ViTConfig
from .embeddings import resize_pos_embed, sincos_2d
from .locality import LocalitySelfAttention, ShiftedPatchEmbed
from .patches import PatchEmbed, check_image_batch

__all__ = ["VisionTransformer", "count_params"]


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class VisionTransformer(nn.Module):
    """ViT of Dosovitskiy et al. (2021), pre-norm, with timm's parameter names.

    Args:
        config: a :class:`ViTConfig`; keyword overrides (``VisionTransformer(cfg, depth=2)``)
            are applied on top. With no config, ``ViTConfig()`` (ViT-B/16) is used.

    ``model(x)`` gives logits (B, num_classes); ``model(x, return_attention=True)`` gives
    ``(logits, attentions)``, a list with one (B, h, N + 1, N + 1) tensor of attention probabilities
    per block, computed on the explicit path (the logits agree with the fused path to ~1e-6).

    Built in notebooks/05_vision_transformer.
    """

    def __init__(self, config: ViTConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = ViTConfig()
        if not isinstance(config, ViTConfig):
            raise TypeError(f"config must be a ViTConfig, got {type(config).__name__}; "
                            "build one with ViTConfig(...) or a preset such as ViTConfig.vit_b_16()")
        self.config = cfg = config.replace(**overrides) if overrides else config
        D = cfg.embed_dim
        self.num_prefix_tokens = int(cfg.class_token) + int(cfg.distilled)
        if cfg.spt:  # shifted patch tokenization: locality for small data (09_small_data)
            self.patch_embed = ShiftedPatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, D)
        else:  # with cfg.stem, the paper's hybrid: patches of a conv stem's feature map (09_small_data)
            self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, D, stem=cfg.stem)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D)) if cfg.class_token else None
        # DeiT's distillation token: a second learned token whose own head learns the teacher (09_small_data)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, D)) if cfg.distilled else None
        self.distilled_training = False  # True: a training forward returns both heads' logits, for the loss
        if cfg.pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, D))
        else:  # fixed; a buffer so it is never trained and is rebuilt exactly on resize
            self.register_buffer("pos_embed", self._sincos(cfg.grid_size), persistent=False)
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        dpr = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]  # linear rule
        attn_layer = LocalitySelfAttention if cfg.lsa else Attention  # lsa: locality self-attention (09_small_data)
        self.blocks = nn.ModuleList([
            Block(D, cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop=cfg.drop_rate,
                  attn_drop=cfg.attn_drop_rate, drop_path=dpr[i], fused_attn=cfg.fused_attn, eps=cfg.layer_norm_eps,
                  attn_layer=attn_layer)
            for i in range(cfg.depth)
        ])
        self.norm = nn.LayerNorm(D, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(D, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.head_dist = nn.Linear(D, cfg.num_classes) if cfg.distilled and cfg.num_classes > 0 else None
        self.reset_parameters()

    def _sincos(self, grid: int) -> torch.Tensor:
        pe = sincos_2d(grid, self.config.embed_dim)  # (N, D): patches only
        pe = torch.cat([torch.zeros(self.num_prefix_tokens, pe.shape[1]), pe])  # class token gets zeros
        return pe[None]  # (1, N + 1, D)

    def reset_parameters(self) -> None:
        """timm's default init: truncated normal(0.02) for weights and position embeddings, zero biases."""
        if isinstance(self.pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        if self.dist_token is not None:
            nn.init.trunc_normal_(self.dist_token, std=0.02)  # as timm's distilled DeiT
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight  # like a Linear on the flattened patch
        nn.init.trunc_normal_(w.view(w.shape[0], -1), std=0.02)
        nn.init.zeros_(self.patch_embed.proj.bias)

    # ---- forward -----------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N + 1, D): patch embedding, class token, position embedding."""
        cfg = self.config
        check_image_batch(x, channels=cfg.in_chans, size=cfg.img_size, patch_size=cfg.patch_size)
        x = self.patch_embed(x)  # (B, N, D): N patches
        if self.cls_token is not None:
            prefix = [self.cls_token] + ([self.dist_token] if self.dist_token is not None else [])
            x = torch.cat([t.expand(x.shape[0], -1, -1) for t in prefix] + [x], dim=1)  # (B, N + 1, D); N + 2 distilled
        return self.pos_drop(x + self.pos_embed)  # (B, N + 1, D)

    def forward_features(self, x: torch.Tensor, return_attention: bool = False):
        """(B, C, H, W) -> normalised tokens (B, N + 1, D) [and the list of attentions]."""
        x = self.embed(x)  # (B, N + 1, D)
        attns = []
        for blk in self.blocks:
            if return_attention:
                x, a = blk(x, return_attn=True)  # a: (B, h, N + 1, N + 1)
                attns.append(a)
            else:
                x = blk(x)  # (B, N + 1, D)
        x = self.norm(x)
        return (x, attns) if return_attention else x

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N + 1, D) -> (B, D): the class token, or the mean of the patch tokens (class token excluded)."""
        if self.config.pool == "cls":
            return x[:, 0]  # (B, D)
        return x[:, self.num_prefix_tokens:].mean(dim=1)  # (B, D)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, N + 1, D) tokens -> (B, num_classes) logits, or the pooled (B, D) features.

        With a distillation token the two heads' logits are averaged (DeiT's prediction), or returned
        as a pair while training with ``distilled_training``.
        """
        pooled = self.pool(x)  # (B, D)
        if pre_logits or self.head_dist is None:
            return pooled if pre_logits else self.head(pooled)
        cls, dist = self.head(pooled), self.head_dist(x[:, 1])  # (B, K) each
        if self.distilled_training and self.training:
            return cls, dist
        return (cls + dist) / 2  # (B, K)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, C, H, W) -> logits (B, num_classes) [, list of (B, h, N + 1, N + 1) attentions]."""
        if return_attention:
            x, attns = self.forward_features(x, return_attention=True)
            return self.forward_head(x), attns
        return self.forward_head(self.forward_features(x))

    # ---- utilities -------------------------------------------------------------------------
    def no_weight_decay(self) -> set[str]:
        """Parameters AdamW must not decay (timm's convention): the class and distillation tokens and learned
        position embeddings; biases and norms are exempt by their shape (vit_lessons.train.schedule)."""
        return {n for n in ("cls_token", "dist_token", "pos_embed") if isinstance(getattr(self, n, None), nn.Parameter)}

    @property
    def num_params(self) -> int:
        """All parameters (trainable or not)."""
        return count_params(self)

    def set_img_size(self, img_size: int) -> VisionTransformer:
        """Accept images of another size: interpolate learned position embeddings (or rebuild sin-cos)."""
        cfg = self.config
        new_cfg = cfg.replace(img_size=img_size)  # validates divisibility by patch_size
        grid = new_cfg.grid_size
        if isinstance(self.pos_embed, nn.Parameter):
            with torch.no_grad():
                new = resize_pos_embed(self.pos_embed.data, grid, self.num_prefix_tokens)
            self.pos_embed = nn.Parameter(new)
        else:
            self.pos_embed = self._sincos(grid).to(self.pos_embed)
        self.patch_embed.img_size, self.patch_embed.grid_size = img_size, grid
        self.patch_embed.num_patches = grid * grid
        self.config = new_cfg
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Like ``nn.Module.load_state_dict``, but a mismatch is a ValueError naming each key and shape that differs."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        shapes = [(k, tuple(state_dict[k].shape), tuple(v.shape)) for k, v in own.items()
                  if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
        problems = []
        if shapes:
            problems.append("shapes differ (checkpoint vs model): " + ", ".join(
                f"{k} {a} vs {b}" for k, a, b in shapes[:10]) + (" …" if len(shapes) > 10 else ""))
        if strict and missing:
            problems.append(f"missing from the checkpoint: {_few(missing)}")
        if strict and unexpected:
            problems.append(f"not in this model: {_few(unexpected)}")
        if problems:
            hint = _mismatch_hint(shapes, self.config, self.num_prefix_tokens)
            raise ValueError("state dict does not fit this ViTConfig: " + "; ".join(problems)
                             + (f". {hint}" if hint else "")
                             + ". Build the model with the config the weights were trained with "
                               "(it is saved next to them), or use vit_lessons.pretrained to convert "
                               "torchvision weights.")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def _few(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f" … ({len(keys)} in all)" if len(keys) > n else "")


def _mismatch_hint(shapes, cfg: ViTConfig, num_prefix_tokens: int) -> str:
    for k, got, _want in shapes:
        if k == "pos_embed":
            n = got[1] - num_prefix_tokens  # the class token, and DeiT's distillation token if any
            g = math.isqrt(n)
            if g * g == n:
                return (f"The checkpoint's position embeddings are for a {g}x{g} grid "
                        f"(img_size {g * cfg.patch_size}); load them into that size, then set_img_size({cfg.img_size})")
        if k == "head.weight":
            return (f"The checkpoint has a {got[0]}-class head; build with num_classes={got[0]} "
                    f"and replace model.head afterwards")
    return ""
