"""Pretrained weights from torchvision and timm, converted into our model.

timm uses our names already, so its state dict loads as it is. torchvision's ViT
names things differently (``conv_proj``, ``encoder.layers.encoder_layer_N``,
``self_attention.in_proj_weight``…); :func:`convert_torchvision_state_dict` renames
them. Both are proven in tests on randomly initialised models: same weights in, same
logits out. Downloading real weights needs the internet (Colab has it).

Built in notebooks/05_vision_transformer.
"""

from __future__ import annotations

import re

import torch

from .config import ViTConfig
from .download import download
from .model import VisionTransformer

__all__ = ["convert_torchvision_state_dict", "config_from_torchvision", "from_torchvision", "from_timm",
           "TORCHVISION_PRESETS"]

# torchvision builder -> our preset
TORCHVISION_PRESETS = {"vit_b_16": "vit_b_16", "vit_b_32": "vit_b_32", "vit_l_16": "vit_l_16",
                       "vit_l_32": "vit_l_32", "vit_h_14": "vit_h_14"}

_LAYER = re.compile(r"^encoder\.layers\.encoder_layer_(\d+)\.(.+)$")
_IN_LAYER = {
    "ln_1.weight": "norm1.weight", "ln_1.bias": "norm1.bias",
    "self_attention.in_proj_weight": "attn.qkv.weight", "self_attention.in_proj_bias": "attn.qkv.bias",
    "self_attention.out_proj.weight": "attn.proj.weight", "self_attention.out_proj.bias": "attn.proj.bias",
    "ln_2.weight": "norm2.weight", "ln_2.bias": "norm2.bias",
    "mlp.0.weight": "mlp.fc1.weight", "mlp.0.bias": "mlp.fc1.bias",
    "mlp.3.weight": "mlp.fc2.weight", "mlp.3.bias": "mlp.fc2.bias",
    # names of torchvision < 0.13
    "mlp.linear_1.weight": "mlp.fc1.weight", "mlp.linear_1.bias": "mlp.fc1.bias",
    "mlp.linear_2.weight": "mlp.fc2.weight", "mlp.linear_2.bias": "mlp.fc2.bias",
}
_TOP = {
    "class_token": "cls_token", "conv_proj.weight": "patch_embed.proj.weight",
    "conv_proj.bias": "patch_embed.proj.bias", "encoder.pos_embedding": "pos_embed",
    "encoder.ln.weight": "norm.weight", "encoder.ln.bias": "norm.bias",
    "heads.head.weight": "head.weight", "heads.head.bias": "head.bias",
}


def convert_torchvision_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ``VisionTransformer`` state dict to our (timm's) names.

    The tensors need no reshaping: torchvision's ``in_proj_weight`` stacks q, k, v
    row-wise, exactly like our fused ``qkv`` Linear.
    """
    out = {}
    for k, v in sd.items():
        if k in _TOP:
            out[_TOP[k]] = v
            continue
        m = _LAYER.match(k)
        if m and m.group(2) in _IN_LAYER:
            out[f"blocks.{m.group(1)}.{_IN_LAYER[m.group(2)]}"] = v
            continue
        if k.startswith("heads.pre_logits"):
            raise ValueError("this torchvision model has a pre-logits layer (representation_size); "
                             "our ViT has none: build it with representation_size=None")
        raise ValueError(f"unexpected key {k!r} in the torchvision state dict; is it a torchvision ViT?")
    return out


def config_from_torchvision(model) -> ViTConfig:
    """The ViTConfig matching a torchvision ``VisionTransformer`` instance."""
    layer0 = model.encoder.layers[0]
    return ViTConfig(
        name="from_torchvision", img_size=model.image_size, patch_size=model.patch_size, in_chans=3,
        num_classes=model.num_classes, embed_dim=model.hidden_dim, depth=len(model.encoder.layers),
        num_heads=layer0.num_heads, mlp_ratio=model.mlp_dim / model.hidden_dim, qkv_bias=True,
        layer_norm_eps=layer0.ln_1.eps,
    )


def from_torchvision(model_or_name="vit_b_16", weights="DEFAULT") -> VisionTransformer:
    """Our ViT holding a torchvision ViT's weights.

    ``model_or_name`` is a torchvision ``VisionTransformer`` instance, or a builder name
    (``'vit_b_16'``…) whose ``weights`` are downloaded by torchvision (needs internet).
    """
    if isinstance(model_or_name, str):
        import torchvision  # ~3 s to import; only building torchvision's model by name needs it

        if model_or_name not in TORCHVISION_PRESETS:
            raise ValueError(f"unknown torchvision ViT {model_or_name!r}; choose one of {sorted(TORCHVISION_PRESETS)}")
        tv = download(f"torchvision's {model_or_name} weights",
                      lambda: getattr(torchvision.models, model_or_name)(weights=weights),
                      "downloading needs the internet (Colab has it); offline, build torchvision's model with "
                      "weights=None and pass the instance instead")
    else:
        tv = model_or_name
    ours = VisionTransformer(config_from_torchvision(tv))
    ours.load_state_dict(convert_torchvision_state_dict(tv.state_dict()))
    return ours


def config_from_timm(model) -> ViTConfig:
    """The ViTConfig matching a timm ``VisionTransformer`` with class-token pooling."""
    pe = model.patch_embed
    blk = model.blocks[0]
    gp = getattr(model, "global_pool", "token")
    if gp != "token":
        raise ValueError(f"timm model uses global_pool={gp!r}; only class-token pooling ('token') converts exactly")
    return ViTConfig(
        name="from_timm", img_size=pe.img_size[0], patch_size=pe.patch_size[0], in_chans=pe.proj.in_channels,
        num_classes=getattr(model, "num_classes", 0), embed_dim=model.embed_dim, depth=len(model.blocks),
        num_heads=blk.attn.num_heads, mlp_ratio=blk.mlp.fc1.out_features / model.embed_dim,
        qkv_bias=blk.attn.qkv.bias is not None, layer_norm_eps=blk.norm1.eps,
    )


def from_timm(model_or_name="vit_base_patch16_224", pretrained: bool = True) -> VisionTransformer:
    """Our ViT holding a timm ViT's weights: the state dict loads as it is (strict)."""
    if isinstance(model_or_name, str):
        import timm  # ~4 s to import; only creating a model by name needs it

        name = model_or_name
        model_or_name = download(f"timm model {name!r}", lambda: timm.create_model(name, pretrained=pretrained),
                                 "pretrained weights come from the Hugging Face Hub and need the internet; check "
                                 "the name with timm.list_models('vit_*')")
    ours = VisionTransformer(config_from_timm(model_or_name))
    ours.load_state_dict(model_or_name.state_dict())
    return ours
