"""Transfer learning: a trained ViT as the starting point for a new task.

Three changes turn a backbone trained on one task into a model for another:

- a new head for K classes (the old one answers the old question);
- another input size: the patch grid changes, so the position embeddings move to the new grid
  (learned ones are interpolated with ``resize_pos_embed``, fixed sin-cos ones rebuilt), which is
  what ``VisionTransformer.set_img_size`` does;
- another channel count (grey <-> RGB): the patch filters are converted, as timm does, by summing
  the colour filters (RGB -> grey) or repeating the grey filter, scaled by 1/3 (grey -> RGB).

Then either everything trains (full fine-tuning) or only the head (a linear probe on frozen
features). The trainer does all of this from ``Recipe(init_from=..., freeze=...)``; a backbone is a
course checkpoint (a masked autoencoder's too: its encoder), ``"torchvision:vit_b_16"`` (torchvision's
ImageNet weights) or ``"timm:<name>"``.

Built in notebooks/08_pretrained_weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ViTConfig
from .download import DownloadError, download
from .embeddings import resize_pos_embed
from .mae import encoder_state_dict, is_mae_state
from .model import VisionTransformer
from .pretrained import config_from_timm, config_from_torchvision, from_timm, from_torchvision
from .train.checkpoint import CheckpointError, load_checkpoint
from .train.recipes import FREEZES as FREEZE

__all__ = ["FREEZE", "backbone_config", "load_backbone", "finetune_config", "transfer_state", "start_from",
           "replace_head", "freeze", "adapt_in_chans", "resize_batch", "Resized"]

# what a backbone and the model fine-tuned from it may differ in; every other field must agree
_MAY_DIFFER = {"img_size", "num_classes", "in_chans", "fused_attn", "name", "drop_rate", "attn_drop_rate",
               "drop_path_rate"}


def _split(source: str) -> tuple[str, str]:
    kind, _, name = source.partition(":")
    return (kind, name) if kind in ("torchvision", "timm") and name else ("file", source)


def _library_model(source: str, pretrained: bool):
    """torchvision's or timm's model for ``"torchvision:<builder>"`` / ``"timm:<name>"``."""
    kind, name = _split(source)
    if kind == "torchvision":
        import torchvision  # ~3 s to import; only torchvision backbones need it

        if not hasattr(torchvision.models, name):
            raise ValueError(f"torchvision has no model {name!r}; try 'torchvision:vit_b_16'")
        get = lambda: getattr(torchvision.models, name)(weights="DEFAULT" if pretrained else None)  # noqa: E731
        what, advice = f"torchvision's {name} weights", "that needs the internet (Colab has it)"
    else:
        import timm  # ~4 s to import; only timm backbones need it

        get = lambda: timm.create_model(name, pretrained=pretrained)  # noqa: E731
        what, advice = (f"timm model {name!r}", "pretrained weights come from the Hugging Face Hub and need the "
                        "internet; check the name with timm.list_models('vit_*')")
    try:
        return download(what, get, advice)
    except DownloadError as e:  # the command line reports CheckpointErrors; the library's error stays the cause
        raise CheckpointError(str(e)) from e.__cause__


def backbone_config(source) -> ViTConfig:
    """The ViTConfig of a backbone (a checkpoint, ``"torchvision:…"``, ``"timm:…"`` or a model); reads no weights."""
    if isinstance(source, VisionTransformer):
        return source.config
    kind, name = _split(str(source))
    if kind == "file":
        return ViTConfig.from_dict(load_checkpoint(name)["model_config"])
    lib = _library_model(str(source), pretrained=False)
    return config_from_torchvision(lib) if kind == "torchvision" else config_from_timm(lib)


def load_backbone(source, map_location="cpu") -> VisionTransformer:
    """Our VisionTransformer holding a backbone's weights: a course checkpoint, ``"torchvision:…"`` or ``"timm:…"``."""
    if isinstance(source, VisionTransformer):
        return source
    kind, name = _split(str(source))
    if kind == "file":
        ck = load_checkpoint(name, map_location)
        cfg = ViTConfig.from_dict(ck["model_config"])
        if is_mae_state(ck["model"]):  # masked-autoencoder pretraining (lesson 11): its encoder is the backbone
            model = VisionTransformer(cfg.replace(num_classes=0))
            model.load_state_dict(encoder_state_dict(ck["model"]))
            return model
        model = VisionTransformer(cfg)
        model.load_state_dict(ck["model"])
        return model
    lib = _library_model(str(source), pretrained=True)
    return from_torchvision(lib) if kind == "torchvision" else from_timm(lib)


def finetune_config(backbone: ViTConfig, num_classes: int, img_size: int | None = None,
                    in_chans: int | None = None) -> ViTConfig:
    """The backbone's config with a ``num_classes`` head, for ``img_size`` images (default: the backbone's)."""
    img_size = img_size or backbone.img_size
    if img_size % backbone.patch_size:
        fits = [k * backbone.patch_size for k in (img_size // backbone.patch_size, img_size // backbone.patch_size + 1)
                if k > 0]
        raise ValueError(f"the backbone cuts {backbone.patch_size}x{backbone.patch_size} patches, so images of "
                         f"{img_size} px do not fit: resize them to {' or '.join(map(str, fits))} px "
                         f"(--img-size on the command line)")
    return backbone.replace(num_classes=num_classes, img_size=img_size, in_chans=in_chans or backbone.in_chans,
                            name=f"{backbone.name}-finetune")


def transfer_state(backbone: VisionTransformer, config: ViTConfig) -> dict[str, torch.Tensor]:
    """The backbone's weights made to fit a model built from ``config``: no head, positions and channels converted."""
    src = backbone.config
    differ = [f"{k}: {getattr(src, k)!r} in the backbone vs {getattr(config, k)!r} here"
              for k in src.to_dict() if k not in _MAY_DIFFER and getattr(src, k) != getattr(config, k)]
    if differ:
        raise CheckpointError(f"the backbone's architecture differs from this model's ({'; '.join(differ)}); build "
                              f"the config with vit_lessons.transfer.finetune_config(backbone_config(...), ...)")
    if src.in_chans != config.in_chans:
        raise CheckpointError(
            f"the backbone reads {src.in_chans}-channel images but this model {config.in_chans}-channel ones: "
            f"fine-tune on {src.in_chans}-channel data, or convert the backbone first with "
            f"vit_lessons.transfer.adapt_in_chans(model, {config.in_chans}) (it sums or repeats the patch filters)")
    sd = {k: v for k, v in backbone.state_dict().items() if not k.startswith("head.")}
    if "pos_embed" in sd and src.grid_size != config.grid_size:  # learned positions: interpolate to the new grid
        sd["pos_embed"] = resize_pos_embed(sd["pos_embed"], config.grid_size, int(src.class_token))  # (1, N', D)
    return sd


def start_from(model: VisionTransformer, source) -> VisionTransformer:
    """Load a backbone's weights into ``model``, all but its head (which keeps its fresh initialisation)."""
    sd = transfer_state(load_backbone(source), model.config)
    own = model.state_dict()
    sd.update({k: v for k, v in own.items() if k.startswith("head.")})
    model.load_state_dict(sd)
    return model


def replace_head(model: VisionTransformer, num_classes: int) -> VisionTransformer:
    """A new, freshly initialised ``num_classes`` head (timm's init: truncated normal 0.02, zero bias), in place."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
    head = nn.Linear(model.config.embed_dim, num_classes)
    nn.init.trunc_normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    model.head = head.to(next(model.parameters()).device)
    model.config = model.config.replace(num_classes=num_classes)
    return model


def freeze(model: VisionTransformer, what: str = "all-but-head") -> list[str]:
    """Stop gradients to all but the head ('all-but-head', a linear probe) or to nothing ('none').

    Returns the names of the parameters that still train.
    """
    if what not in FREEZE:
        raise ValueError(f"freeze must be one of {FREEZE}, got {what!r}")
    for name, p in model.named_parameters():
        p.requires_grad_(what == "none" or name.startswith("head."))
    return [n for n, p in model.named_parameters() if p.requires_grad]


def adapt_in_chans(model: VisionTransformer, in_chans: int) -> VisionTransformer:
    """Convert the patch embedding to ``in_chans`` input channels, in place (timm's rule).

    To one channel: the filters of all channels summed (a grey image equals R = G = B). From one to
    several: the grey filter repeated and scaled by ``1 / in_chans``, so a grey image copied into every
    channel gives the same tokens as before.
    """
    proj = model.patch_embed.proj
    w = proj.weight.data  # (D, C, P, P)
    c = w.shape[1]
    if in_chans == c:
        return model
    if in_chans == 1:
        new = w.sum(1, keepdim=True)  # (D, 1, P, P)
    elif c == 1:
        new = w.repeat(1, in_chans, 1, 1) / in_chans  # (D, C', P, P)
    else:
        raise ValueError(f"no sensible conversion from {c} to {in_chans} channels; only to 1 channel or from 1")
    conv = nn.Conv2d(in_chans, w.shape[0], proj.kernel_size, proj.stride).to(w.device)
    conv.weight.data.copy_(new)
    conv.bias.data.copy_(proj.bias.data)
    model.patch_embed.proj = conv
    model.patch_embed.in_chans = in_chans
    model.config = model.config.replace(in_chans=in_chans)
    return model


def resize_batch(x: torch.Tensor, img_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, img_size, img_size), bilinear; unchanged when it has that size (or img_size is 0)."""
    if not img_size or x.shape[-1] == img_size and x.shape[-2] == img_size:
        return x
    return F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False,
                         antialias=img_size < x.shape[-1])  # (B, C, img_size, img_size)


class Resized(nn.Module):
    """``model`` behind a resize of its input to ``img_size`` pixels: for evaluating on stored images of another size.

    Args:
        model: the model.
        img_size: the side its input is resized to (0: as it comes).

    Built in notebooks/08_pretrained_weights.
    """

    def __init__(self, model: nn.Module, img_size: int):
        super().__init__()
        self.model, self.img_size = model, img_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the model's output on (B, C, img_size, img_size)."""
        return self.model(resize_batch(x, self.img_size))
