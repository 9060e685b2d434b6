"""One config object for every Vision Transformer in the course.

Field names follow timm's ``VisionTransformer`` constructor, so a config here and a
timm model built from the same words have the same parameters, key for key.

Built in notebooks/05_vision_transformer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

POOLS = ("cls", "mean")
POS_EMBEDS = ("learned", "sincos2d")


@dataclass
class ViTConfig:
    """Every number that defines a ViT; validated on creation.

    Args:
        img_size: side of the square input image in pixels.
        patch_size: side of a square patch; must divide ``img_size``.
        in_chans: input channels (1 for Fashion-MNIST, 3 for RGB).
        num_classes: size of the classification head; 0 gives features only.
        embed_dim: width D of every token.
        depth: number of encoder blocks.
        num_heads: attention heads h; must divide ``embed_dim``.
        mlp_ratio: hidden width of the MLP as a multiple of D.
        qkv_bias: bias on the fused query/key/value projection.
        drop_rate: dropout after position embeddings, in MLPs and projections.
        attn_drop_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic depth, rising linearly to this over the blocks.
        pool: 'cls' reads the class token; 'mean' averages the patch tokens.
        pos_embed: 'learned' parameters or fixed 'sincos2d' values.
        class_token: prepend a learnable class token.
        fused_attn: use ``F.scaled_dot_product_attention`` instead of the explicit path.
        layer_norm_eps: epsilon of every LayerNorm (1e-6 as in the paper's code).
        distilled: add DeiT's distillation token and its head (notebooks/09_small_data).
        spt: shifted patch tokenization, a locality route for small data (notebooks/09_small_data).
        lsa: locality self-attention, a locality route for small data (notebooks/09_small_data).
        stem: output widths of a convolutional stem (3x3 conv + BatchNorm + ReLU each, stride 1) whose
            feature map the patch embedding cuts, instead of the raw pixels: the paper's hybrid
            architecture (Sec. 3.1). ``()`` (the default) is the plain ViT (notebooks/09_small_data).
    """

    img_size: int = 224  # pixels per side; 224 is ImageNet's crop
    patch_size: int = 16  # pixels per patch side: "16x16 words"
    in_chans: int = 3  # colour channels the patch embedding reads
    num_classes: int = 1000  # head outputs; 0 = no head, return pooled features
    embed_dim: int = 768  # D, the width every token keeps through the encoder
    depth: int = 12  # L, encoder blocks stacked
    num_heads: int = 12  # h; each head sees D / h dimensions
    mlp_ratio: float = 4.0  # MLP hidden = mlp_ratio * D (paper: 3072 for D=768)
    qkv_bias: bool = True  # the paper's code has biases on q, k, v
    drop_rate: float = 0.0  # dropout on embeddings, MLP and projections
    attn_drop_rate: float = 0.0  # dropout on attention probabilities
    drop_path_rate: float = 0.0  # stochastic depth: randomly skip residual branches
    pool: str = "cls"  # 'cls' (paper, BERT) or 'mean' of patch tokens
    pos_embed: str = "learned"  # 'learned' (paper) or fixed 'sincos2d'
    class_token: bool = True  # mean pooling can drop it; cls pooling needs it
    fused_attn: bool = True  # SDPA kernel; False = explicit softmax(QK^T/sqrt d)V
    layer_norm_eps: float = 1e-6  # the paper's code and timm use 1e-6, not torch's 1e-5
    distilled: bool = False  # DeiT's distillation token and second head (timm's dist_token, head_dist)
    spt: bool = False  # shifted patch tokenization (Lee et al. 2021): each patch also sees its neighbours
    lsa: bool = False  # locality self-attention (Lee et al. 2021): learned temperature, no self-attention
    stem: tuple[int, ...] = ()  # hybrid (paper Sec. 3.1): patches of a small CNN's feature map, e.g. (16, 32)
    name: str = field(default="custom", compare=False)  # a label for printing only

    def __post_init__(self) -> None:
        for f in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{f} must be a positive int, got {v!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0 (0 = no head), got {self.num_classes!r}")
        if self.img_size % self.patch_size:
            raise ValueError(
                f"img_size {self.img_size} is not divisible by patch_size {self.patch_size}: "
                f"use img_size {_near_multiples(self.img_size, self.patch_size)} "
                f"or patch_size in {_divisors(self.img_size)}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}: "
                f"each head needs embed_dim / num_heads dimensions; use num_heads in "
                f"{_divisors(self.embed_dim, limit=32)} or embed_dim "
                f"{_near_multiples(self.embed_dim, self.num_heads)}"
            )
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"pos_embed must be one of {POS_EMBEDS}, got {self.pos_embed!r}")
        if self.distilled and not self.class_token:
            raise ValueError("distilled=True needs class_token=True: the distillation token sits beside it")
        if self.pool == "cls" and not self.class_token:
            raise ValueError("pool='cls' needs class_token=True; use pool='mean' without a class token")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if isinstance(self.stem, int) or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                                                 for w in self.stem):
            raise ValueError(f"stem must be a tuple of positive channel widths such as (16, 32), or () for no stem; "
                             f"got {self.stem!r}")
        self.stem = tuple(self.stem)  # a list read back from config.json compares equal to the tuple
        if self.stem and self.spt:
            raise ValueError("stem and spt both replace what the patch embedding reads: choose one (spt=False, or "
                             "stem=())")
        for f in ("drop_rate", "attn_drop_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, f) < 1.0:
                raise ValueError(f"{f} must be in [0, 1), got {getattr(self, f)}")

    # ---- derived sizes -------------------------------------------------------------
    @property
    def grid_size(self) -> int:
        """Patches per side (H / P)."""
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """N, the patches per image: (H / P) * (W / P)."""
        return self.grid_size**2

    @property
    def num_tokens(self) -> int:
        """N + 1: the N patches plus the class token (N + 2 with DeiT's distillation token, N without a class token)."""
        return self.num_patches + int(self.class_token) + int(self.distilled)

    @property
    def head_dim(self) -> int:
        """d = D / h, the width of one attention head."""
        return self.embed_dim // self.num_heads

    @property
    def mlp_hidden_dim(self) -> int:
        """Width of the MLP's hidden layer."""
        return int(self.embed_dim * self.mlp_ratio)

    def replace(self, **changes) -> ViTConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict, for ``config.json`` and checkpoints: what JSON gives back (``stem`` as a list)."""
        return dataclasses.asdict(self) | {"stem": list(self.stem)}

    @classmethod
    def from_dict(cls, d: dict) -> ViTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ViTConfig fields {unknown}; known fields are {sorted(known)}")
        return cls(**d)

    @classmethod
    def preset(cls, preset_name: str, /, **changes) -> ViTConfig:
        """A named size from :data:`PRESETS` (``'vit_b_16'``, ``'fashion_mnist_cpu'``…), with ``changes``.

        This is the one way to build a named size; :data:`PRESETS` lists them with what each is. For
        convenience each is also a classmethod of its own: ``ViTConfig.vit_b_16(num_classes=10)``.
        """
        if preset_name not in PRESETS:
            raise ValueError(f"unknown preset {preset_name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{"name": preset_name, **PRESETS[preset_name].sizes, **changes})


@dataclass(frozen=True)
class Preset:
    """A named ViT size: what it is, and the fields it sets (the rest keep ViTConfig's defaults).

    Built in notebooks/05_vision_transformer.
    """

    about: str
    sizes: dict


# Every preset, once: ViTConfig.preset(name) and the classmethod ViTConfig.<name>() both build from here.
PRESETS: dict[str, Preset] = {
    # the paper's Table 1 (and DeiT's small sizes), 224 px RGB, 1000 classes
    "vit_ti_16": Preset("ViT-Ti/16 (DeiT-Ti): D=192, 12 layers, 3 heads, 5.7M parameters.",
                        dict(embed_dim=192, depth=12, num_heads=3, patch_size=16)),
    "vit_s_16": Preset("ViT-S/16 (DeiT-S): D=384, 12 layers, 6 heads, 22.1M parameters.",
                       dict(embed_dim=384, depth=12, num_heads=6, patch_size=16)),
    "vit_b_16": Preset("ViT-B/16, paper Table 1: D=768, 12 layers, MLP 3072, 12 heads, 86M.",
                       dict(embed_dim=768, depth=12, num_heads=12, patch_size=16)),
    "vit_b_32": Preset("ViT-B/32: ViT-B with 32x32 patches (49 patches at 224 px).",
                       dict(embed_dim=768, depth=12, num_heads=12, patch_size=32)),
    "vit_l_16": Preset("ViT-L/16, paper Table 1: D=1024, 24 layers, MLP 4096, 16 heads, 307M.",
                       dict(embed_dim=1024, depth=24, num_heads=16, patch_size=16)),
    "vit_l_32": Preset("ViT-L/32: ViT-L with 32x32 patches.",
                       dict(embed_dim=1024, depth=24, num_heads=16, patch_size=32)),
    "vit_h_14": Preset("ViT-H/14, paper Table 1: D=1280, 32 layers, MLP 5120, 16 heads, 632M.",
                       dict(embed_dim=1280, depth=32, num_heads=16, patch_size=14)),
    # course sizes
    "tiny": Preset("A toy for tests and shape traces: 32 px RGB, patch 8, D=32, 2 blocks.",
                   dict(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=32, depth=2, num_heads=4,
                        mlp_ratio=2.0)),
    # the model lessons 06-09 train, load and dissect (assets/checkpoints/fashion_mnist_vit.pt): 7x7 patches and
    # D=64 so many epochs fit in 10 CPU minutes; fixed 2-D sin-cos positions; with 17 tokens the written-out
    # attention is faster on a CPU than torch's fused kernel and gives the same result (assets/results/cpu_kernels)
    "fashion_mnist_cpu": Preset("The course's Fashion-MNIST model: 28x28 grey, 7x7 patches (16 + 1 tokens), D=64, "
                                "6 blocks, 204,874 parameters.",
                                dict(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=64, depth=6,
                                     num_heads=4, mlp_ratio=2.0, pos_embed="sincos2d", fused_attn=False)),
    # the paper's hybrid (Sec. 3.1) of the course's model: two 3x3 conv + BatchNorm + ReLU layers (1 -> 16 -> 32
    # channels, stride 1) before the same 7x7 patch embedding; everything after the patch embedding unchanged
    "fashion_mnist_hybrid": Preset("The course's Fashion-MNIST model reading a conv stem's feature map (16, 32 "
                                   "channels): the paper's hybrid, 306,938 parameters.",
                                   dict(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=64, depth=6,
                                        num_heads=4, mlp_ratio=2.0, pos_embed="sincos2d", fused_attn=False,
                                        stem=(16, 32))),
    # a finer grid of the same width class: 49 patches show the shapes of lessons 00-05 on a 7x7 grid
    "fashion_mnist_p4": Preset("A 4x4-patch Fashion-MNIST ViT: 28x28 grey, 49 + 1 tokens, D=96, 6 blocks, 456,394 "
                               "parameters (learned positions).",
                               dict(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=96, depth=6,
                                    num_heads=4, mlp_ratio=2.0)),
    "cifar_gpu": Preset("The course's GPU model for CIFAR-10/100: 32x32 RGB, 4x4 patches (64 + 1 tokens).",
                        dict(img_size=32, patch_size=4, in_chans=3, num_classes=10, embed_dim=384, depth=7,
                             num_heads=6, mlp_ratio=2.0, drop_path_rate=0.1)),
    "digits_cpu": Preset("scikit-learn's 8x8 digits: 2x2 patches (16 + 1 tokens), seconds to train.",
                         dict(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=64, depth=4,
                              num_heads=4, mlp_ratio=2.0)),
}


def _preset_classmethod(name: str, preset: Preset) -> classmethod:
    def build(cls, **changes) -> ViTConfig:
        return cls.preset(name, **changes)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{preset.about} Keyword arguments change any field."
    return classmethod(build)


for _name, _preset in PRESETS.items():  # ViTConfig.vit_b_16(), ViTConfig.tiny(), ...
    setattr(ViTConfig, _name, _preset_classmethod(_name, _preset))


def _divisors(n: int, limit: int | None = None) -> list[int]:
    ds = [d for d in range(1, n + 1) if n % d == 0 and d > 1]
    if limit is not None:
        ds = [d for d in ds if d <= limit]
    return ds[:8]


def _near_multiples(n: int, m: int) -> str:
    lo, hi = (n // m) * m, (n // m + 1) * m
    return f"{lo} or {hi}" if lo > 0 else f"{hi}"
