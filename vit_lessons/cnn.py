"""A small convolutional network: the baseline lesson 09 races the ViT against, and its teacher.

A CNN has locality and translation equivariance built in (a 3x3 kernel sees neighbours only, and
the same kernel slides everywhere); a ViT must learn both from data. On 60k small images that
prior is worth a lot. ``CNNConfig`` mirrors :class:`~vit_lessons.config.ViTConfig` (a validated
dataclass with ``to_dict``/``from_dict``), so the course's Trainer, checkpoints and ``eval`` work
for both; ``build_model`` and ``config_from_dict`` pick the right class.

Shape legend: B batch, C channels, H W height width, K classes.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import ViTConfig
from .model import VisionTransformer, count_params

__all__ = ["CNNConfig", "SmallCNN", "CNN_PRESETS", "build_model", "config_from_dict"]

CNN_POOLS = ("flatten", "avg")


@dataclass
class CNNConfig:
    """Every number that defines the small CNN; validated on creation.

    Args:
        img_size: side of the square input image in pixels.
        in_chans: input channels.
        num_classes: outputs of the classifier.
        channels: output channels of each stage; every stage halves H and W with 2x2 max pooling.
        convs_per_stage: 3x3 convolutions (each + BatchNorm + ReLU) in every stage.
        kernel_size: side of every convolution kernel (odd, padded to keep H and W).
        pool: 'flatten' keeps where each feature was (a dense layer reads all positions);
            'avg' averages over positions (global average pooling, fewer parameters).
        hidden: width of the dense layer before the classifier (0: none).
        dropout: dropout before the classifier.
        batchnorm: BatchNorm after every convolution.
        channels_last: keep weights and activations channels-last (NHWC), which CPU kernels run faster.

    Built in notebooks/09_small_data.
    """

    img_size: int = 28  # pixels per side
    in_chans: int = 1  # grey images
    num_classes: int = 10  # Fashion-MNIST's classes
    channels: tuple = (32, 64)  # per stage; each stage halves the image side
    convs_per_stage: int = 1  # convolutions before each pooling
    kernel_size: int = 3  # 3x3: the smallest kernel that sees all 8 neighbours
    pool: str = "flatten"  # 'flatten' keeps positions, 'avg' averages them away
    hidden: int = 128  # dense layer before the classifier (0 = none)
    dropout: float = 0.25  # before the classifier
    batchnorm: bool = True  # steadier, faster training at a high learning rate
    # NHWC layout: CPU convolution kernels run it faster (cnn_small training steps, batch 128, one thread on the
    # course's 2-core EPYC: 2181 images per CPU-second against 1440 in NCHW)
    channels_last: bool = True
    name: str = field(default="cnn", compare=False)  # a label for printing only

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # a list from config.json becomes a tuple
        for f in ("img_size", "in_chans", "num_classes", "convs_per_stage", "kernel_size"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{f} must be a positive int, got {v!r}")
        if not self.channels or min(self.channels) <= 0:
            raise ValueError(f"channels must be positive widths, one per stage, got {self.channels!r}")
        if self.img_size < 2 ** len(self.channels):
            raise ValueError(f"img_size {self.img_size} is too small to halve {len(self.channels)} times (one per "
                             f"stage in channels={self.channels}): use fewer stages")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so padding keeps the image size, got {self.kernel_size}")
        if self.pool not in CNN_POOLS:
            raise ValueError(f"pool must be one of {CNN_POOLS}, got {self.pool!r}")
        if self.hidden < 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"hidden must be >= 0 and dropout in [0, 1), got {self.hidden}, {self.dropout}")

    def replace(self, **changes) -> CNNConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict for config.json and checkpoints; ``arch`` tells it apart from a ViTConfig."""
        return {"arch": "cnn", **dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, d: dict) -> CNNConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error that names them."""
        d = {k: v for k, v in d.items() if k != "arch"}
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown CNNConfig fields {unknown}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, /, **changes) -> CNNConfig:
        """A named design from :data:`CNN_PRESETS`, with ``changes``."""
        if name not in CNN_PRESETS:
            raise ValueError(f"unknown CNN preset {name!r}; choose one of {sorted(CNN_PRESETS)}")
        return cls(**{"name": name, **CNN_PRESETS[name], **changes})


# Designs lesson 09 compares (assets/results/small_data_10min/README.md has what each reached).
CNN_PRESETS: dict[str, dict] = {
    # the 2-conv network of the Fashion-MNIST benchmark table (zalandoresearch/fashion-mnist, ~92%): 5x5
    # convolutions with 32 and 64 channels, each followed by 2x2 pooling, a 1024-wide dense layer
    "fmnist_2conv": dict(channels=(32, 64), kernel_size=5, hidden=1024, batchnorm=False, dropout=0.4),
    # the course's teacher: 3x3 convolutions with BatchNorm, two per stage, a narrow dense layer
    "cnn_teacher": dict(channels=(32, 64), convs_per_stage=2, kernel_size=3, hidden=128, dropout=0.25),
    # one 3x3 convolution per stage: about a quarter of the teacher's multiply-adds
    "cnn_small": dict(channels=(32, 64), convs_per_stage=1, kernel_size=3, hidden=128, dropout=0.25),
    # three stages and global average pooling instead of the dense layer: fewer weights, a weaker teacher
    "cnn_gap": dict(channels=(32, 64, 128), convs_per_stage=1, kernel_size=3, pool="avg", hidden=0, dropout=0.0),
}


class SmallCNN(nn.Module):
    """Stages of (3x3 conv + BatchNorm + ReLU) x n and 2x2 max pooling, then a dense classifier.

    Args:
        config: a :class:`CNNConfig`.

    ``model(x)`` maps (B, C, H, W) images to (B, K) logits, like the ViT.

    Built in notebooks/09_small_data.
    """

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        self.config = cfg = config or CNNConfig()
        layers, c_in = [], cfg.in_chans
        for c in cfg.channels:
            for _ in range(cfg.convs_per_stage):
                layers += [nn.Conv2d(c_in, c, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=not cfg.batchnorm),
                           *([nn.BatchNorm2d(c)] if cfg.batchnorm else []), nn.ReLU(inplace=True)]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = cfg.img_size // 2 ** len(cfg.channels)  # each pooling floors: 28 -> 14 -> 7 -> 3
        flat = c_in * side * side if cfg.pool == "flatten" else c_in
        hidden = [nn.Linear(flat, cfg.hidden), nn.ReLU(inplace=True)] if cfg.hidden else []
        self.pre_logits = nn.Sequential(*hidden, nn.Dropout(cfg.dropout))
        self.head = nn.Linear(cfg.hidden or flat, cfg.num_classes)
        if cfg.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, K) logits."""
        cfg = self.config
        if x.ndim != 4 or tuple(x.shape[1:]) != (cfg.in_chans, cfg.img_size, cfg.img_size):
            raise ValueError(f"SmallCNN expects (B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) images, "
                             f"got {tuple(x.shape)}")
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # same shape, NHWC in memory
        x = self.features(x)  # (B, C', H / 2^s, W / 2^s)
        x = x.flatten(1) if cfg.pool == "flatten" else x.mean(dim=(2, 3))  # (B, C' H' W') or (B, C')
        return self.head(self.pre_logits(x))  # (B, K)

    @property
    def num_params(self) -> int:
        """All parameters."""
        return count_params(self)


def build_model(config: ViTConfig | CNNConfig) -> nn.Module:
    """The model a config describes: a VisionTransformer for a ViTConfig, a SmallCNN for a CNNConfig.

    Built in notebooks/09_small_data.
    """
    if isinstance(config, CNNConfig):
        return SmallCNN(config)
    if isinstance(config, ViTConfig):
        return VisionTransformer(config)
    raise TypeError(f"config must be a ViTConfig or a CNNConfig, got {type(config).__name__}")


def config_from_dict(d: dict) -> ViTConfig | CNNConfig:
    """The config a checkpoint's ``model_config`` records (a CNN's carries ``arch: 'cnn'``).

    Built in notebooks/09_small_data.
    """
    return CNNConfig.from_dict(d) if d.get("arch") == "cnn" else ViTConfig.from_dict(d)
