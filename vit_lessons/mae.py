"""Masked autoencoders (He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners"): a ViT that
learns from images without labels, by filling in the patches it was not shown.

Each image loses a random ``mask_ratio`` of its patches (75% in the paper, Sec. 3). The encoder, the
course's :class:`~vit_lessons.model.VisionTransformer`, sees only the visible patches and the class
token, so pretraining costs a quarter of a full forward pass. A small decoder gets the encoded visible
tokens back in their places, a learned mask token in every removed place, position embeddings of its
own, and predicts the pixels of every patch; the loss is the mean squared error on the removed patches
only, against each patch's pixels normalised by its own mean and variance (the paper's Table 1c,
"w/ norm pix"). After pretraining the decoder is thrown away: ``encoder`` is an ordinary ViT whose
state dict, with timm's names, loads into a ``VisionTransformer`` for fine-tuning as it is.

Shape legend: B batch, C channels, H W image side, P patch size, N patches, K = N - M kept (visible)
patches, M removed ones, D encoder width, D' decoder width.

Built in notebooks/11_self_supervised.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import Block
from .config import ViTConfig
from .data import normalize_batch
from .embeddings import sincos_2d
from .model import VisionTransformer, count_params
from .patches import check_image_batch, patchify, unpatchify

__all__ = ["MaskedAutoencoder", "num_kept", "random_masking", "gather_tokens", "patch_targets", "masked_mse",
           "encoder_state_dict", "is_mae_state", "evaluate_mae"]

ENCODER = "encoder."  # the prefix of the encoder's weights in a MaskedAutoencoder's state dict


def num_kept(num_patches: int, mask_ratio: float) -> int:
    """K, the patches an image keeps visible: ``round(N * (1 - mask_ratio))``; at least one kept and one removed."""
    if not 0 < mask_ratio < 1:
        raise ValueError(f"mask_ratio must be between 0 and 1 (the fraction of patches removed), got {mask_ratio}")
    k = round(num_patches * (1 - mask_ratio))
    if not 1 <= k < num_patches:
        raise ValueError(f"mask_ratio {mask_ratio} keeps {k} of {num_patches} patches: the encoder needs at least "
                         f"one visible patch and the loss at least one removed; pick a ratio between "
                         f"{1 / num_patches:.3f} and {1 - 1 / num_patches:.3f}")
    return k


def random_masking(batch: int, num_patches: int, mask_ratio: float, generator: torch.Generator | None = None,
                   device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random mask per image, by shuffling: ``(ids_keep (B, K), mask (B, N), ids_restore (B, N))``.

    Each image's patches are ordered by a uniform random number each; the first K of that order stay
    visible. ``mask`` is 1 where a patch is removed, 0 where it is kept, in the image's own patch order.
    ``ids_restore`` undoes the shuffle: ``shuffled.gather(1, ids_restore)`` is back in patch order.
    """
    k = num_kept(num_patches, mask_ratio)
    noise = torch.rand(batch, num_patches, generator=generator, device=generator.device if generator else device)
    ids_shuffle = noise.argsort(dim=1)  # (B, N): patch indices, visible ones first
    ids_restore = ids_shuffle.argsort(dim=1)  # (B, N): where each patch went in the shuffled order
    mask = torch.ones(batch, num_patches, device=noise.device)
    mask[:, :k] = 0  # in shuffled order: the first K are kept
    mask = mask.gather(1, ids_restore)  # (B, N) in patch order
    return ids_shuffle[:, :k].to(device), mask.to(device), ids_restore.to(device)


def gather_tokens(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, N, D) tokens, (B, K) indices -> (B, K, D): each image's tokens at its own indices."""
    return tokens.gather(1, ids[..., None].expand(-1, -1, tokens.shape[-1]))


def patch_targets(images: torch.Tensor, patch_size: int, norm_pix: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): each patch's pixels, normalised by its own mean and variance if ``norm_pix``."""
    t = patchify(images, patch_size)  # (B, N, P*P*C)
    if norm_pix:
        mean, var = t.mean(dim=-1, keepdim=True), t.var(dim=-1, keepdim=True)
        t = (t - mean) / (var + eps).sqrt()
    return t


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error per patch (B, N), averaged over the removed patches only (``mask`` 1)."""
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, N)
    return (per_patch * mask).sum() / mask.sum()


class MaskedAutoencoder(nn.Module):
    """The course's ViT as the encoder of a masked autoencoder, with a light decoder for pretraining.

    Args:
        config: the encoder's ViTConfig (a plain patch embedding and a class token; its head is dropped).
        decoder_dim: D', the decoder's width (the paper: 512 for a 1024-wide ViT-L, Table 1b).
        decoder_depth: decoder blocks (the paper: 8; one block still works, Table 1a).
        decoder_heads: attention heads of each decoder block.
        mask_ratio: the fraction of patches removed from every image (the paper: 0.75).
        norm_pix: predict each patch normalised by its own mean and variance (the paper's default).

    ``model(images)`` returns ``(loss, pred, mask)``: the loss on the removed patches, the predictions
    (B, N, P*P*C) for every patch, and the mask (B, N), 1 = removed. ``model.encoder`` is a
    :class:`~vit_lessons.model.VisionTransformer` (no head).

    Built in notebooks/11_self_supervised.
    """

    def __init__(self, config: ViTConfig, decoder_dim: int = 64, decoder_depth: int = 1, decoder_heads: int = 4,
                 mask_ratio: float = 0.75, norm_pix: bool = True):
        super().__init__()
        if not isinstance(config, ViTConfig):
            raise TypeError(f"config must be a ViTConfig, got {type(config).__name__}")
        problems = [why for bad, why in (
            (not config.class_token, "a class token (class_token=True): the encoder's summary of the visible patches"),
            (config.distilled, "no distillation token (distilled=False)"),
            (config.spt, "no shifted patch tokenization (spt=False): its shifted copies show the removed patches"),
            (bool(config.stem), "no conv stem (stem=()): its kernels see pixels of the neighbouring removed patches"),
        ) if bad]
        if problems:
            raise ValueError("a masked autoencoder's encoder needs " + "; ".join(problems))
        if decoder_dim < 1 or decoder_depth < 1 or decoder_heads < 1 or decoder_dim % decoder_heads:
            raise ValueError(f"the decoder needs positive sizes with decoder_dim divisible by decoder_heads, got "
                             f"decoder_dim={decoder_dim}, decoder_depth={decoder_depth}, decoder_heads={decoder_heads}")
        if decoder_dim % 4:
            raise ValueError(f"decoder_dim must be a multiple of 4 (2-D sin-cos positions), got {decoder_dim}")
        self.mask_ratio, self.norm_pix = mask_ratio, norm_pix
        self.num_kept = num_kept(config.num_patches, mask_ratio)  # checks the ratio
        self.encoder = VisionTransformer(config.replace(num_classes=0))  # (B, 1 + K, D) out; no head
        cfg = self.encoder.config
        self.decoder_embed = nn.Linear(cfg.embed_dim, decoder_dim)  # D -> D'
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))  # stands in for every removed patch
        pos = sincos_2d(cfg.grid_size, decoder_dim)  # (N, D'): fixed, as the paper's decoder
        self.register_buffer("decoder_pos_embed", torch.cat([torch.zeros(1, decoder_dim), pos])[None],
                             persistent=False)  # (1, N + 1, D'); the class token's place gets zeros
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_dim, decoder_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias,
                  fused_attn=cfg.fused_attn, eps=cfg.layer_norm_eps) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=cfg.layer_norm_eps)
        self.decoder_pred = nn.Linear(decoder_dim, cfg.patch_size ** 2 * cfg.in_chans)  # D' -> P*P*C pixels
        self.decoder_dims = {"decoder_dim": decoder_dim, "decoder_depth": decoder_depth, "decoder_heads": decoder_heads}
        nn.init.normal_(self.mask_token, std=0.02)
        for m in [self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @property
    def config(self) -> ViTConfig:
        """The encoder's ViTConfig (``num_classes`` 0)."""
        return self.encoder.config

    @property
    def num_params(self) -> int:
        """Encoder and decoder parameters together."""
        return count_params(self)

    def no_weight_decay(self) -> set[str]:
        """The encoder's exempt names (class token, learned positions) and the mask token."""
        return {ENCODER + n for n in self.encoder.no_weight_decay()} | {"mask_token"}

    # ---- the three steps ----------------------------------------------------------------------------------
    def forward_encoder(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """(B, C, H, W) -> (latent (B, 1 + K, D), mask (B, N), ids_restore (B, N)): a random mask per image
        (drawn from ``generator``), then the encoder on the visible patches and the class token only."""
        cfg = self.config
        check_image_batch(images, channels=cfg.in_chans, size=cfg.img_size, patch_size=cfg.patch_size)
        ids_keep, mask, ids_restore = random_masking(len(images), cfg.num_patches, self.mask_ratio, generator,
                                                     images.device)
        return self.encode(images, ids_keep), mask, ids_restore

    def encode(self, images: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images, (B, K) visible patch indices -> (B, 1 + K, D) encoded class and visible tokens."""
        enc = self.encoder
        x = enc.patch_embed(images)  # (B, N, D)
        x = x + enc.pos_embed[:, enc.num_prefix_tokens:]  # positions before removing: each patch keeps its own
        x = gather_tokens(x, ids_keep)  # (B, K, D): the visible patches only
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = enc.pos_drop(torch.cat([cls, x], dim=1))  # (B, 1 + K, D)
        for blk in enc.blocks:
            x = blk(x)  # (B, 1 + K, D)
        return enc.norm(x)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """(B, 1 + K, D) encoded tokens -> (B, N, P*P*C) predicted pixels of every patch."""
        x = self.decoder_embed(latent)  # (B, 1 + K, D')
        B, N = ids_restore.shape
        masks = self.mask_token.expand(B, N - (x.shape[1] - 1), -1)  # (B, M, D')
        seq = torch.cat([x[:, 1:], masks], dim=1)  # (B, N, D') in shuffled order: visible first
        seq = gather_tokens(seq, ids_restore)  # (B, N, D') back in patch order
        x = torch.cat([x[:, :1], seq], dim=1) + self.decoder_pos_embed  # (B, N + 1, D')
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]  # (B, N, P*P*C): the class token dropped

    def loss(self, images: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error of ``pred`` on the removed patches, against (per-patch normalised) pixels."""
        return masked_mse(pred, patch_targets(images, self.config.patch_size, self.norm_pix), mask)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """(B, C, H, W) -> (loss, pred (B, N, P*P*C), mask (B, N), 1 = removed)."""
        latent, mask, ids_restore = self.forward_encoder(images, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.loss(images, pred, mask), pred, mask

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """(masked input, reconstruction, pasted) images, each (B, C, H, W), for looking at.

        The masked input has its removed patches painted mid-grey (halfway between the image's darkest and
        lightest pixel), so they stand out from the background. With ``norm_pix`` the model predicts each patch's
        shape, not its brightness, so the reconstruction is put back on each patch's true mean and spread: the
        picture borrows two numbers per hidden patch from the original. Pasted shows the visible patches as they
        were and the predicted ones in the gaps.
        """
        _, pred, mask = self(images, generator)
        P, C, H = self.config.patch_size, self.config.in_chans, images.shape[-2]
        t = patchify(images, P)  # (B, N, P*P*C)
        if self.norm_pix:
            pred = pred * (t.var(dim=-1, keepdim=True) + 1e-6).sqrt() + t.mean(dim=-1, keepdim=True)
        m = mask[..., None]  # (B, N, 1)
        grey = ((images.amin(dim=(1, 2, 3)) + images.amax(dim=(1, 2, 3))) / 2).view(-1, 1, 1)  # (B, 1, 1)
        masked = unpatchify(t * (1 - m) + grey * m, P, C, H)
        return masked, unpatchify(pred, P, C, H), unpatchify(t * (1 - m) + pred * m, P, C, H)


def encoder_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's weights from a MaskedAutoencoder's state dict, under the names a VisionTransformer uses."""
    if not is_mae_state(state):
        raise ValueError("this state dict has no 'encoder.' weights: it is not a masked autoencoder's")
    return {k[len(ENCODER):]: v for k, v in state.items() if k.startswith(ENCODER)}


def is_mae_state(state: dict) -> bool:
    """True for a MaskedAutoencoder's state dict (its weights are under ``encoder.`` and ``decoder_``)."""
    return any(k.startswith(ENCODER) for k in state) and "mask_token" in state


@torch.no_grad()
def evaluate_mae(model: MaskedAutoencoder, images: torch.Tensor, mean, std, batch_size: int = 1000,
                 seed: int = 0) -> dict:
    """The reconstruction loss on uint8 ``images`` with masks drawn from ``seed``: the same masks every call,
    so two evaluations of one model agree and two models are compared on the same holes."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    total, n = 0.0, len(images)
    for i in range(0, n, batch_size):
        x = normalize_batch(images[i:i + batch_size].to(dev), mean, std)  # (b, C, H, W)
        total += float(model(x, generator=g)[0]) * len(x)
    model.train(was_training)
    return {"loss": total / max(n, 1), "acc": math.nan, "correct": 0, "n": n}

