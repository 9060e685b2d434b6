"""The recipe: how a model is trained. One dataclass, and one table of named recipes.

Every field of :class:`Recipe` carries the help text and the check of its command-line flag
(``train --lr``, ``--flip on``…), so adding an ingredient is one edit here: the command line,
``config.json`` and the checkpoints pick it up from the field.

Built in notebooks/06_training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..cnn import CNNConfig
from ..config import ViTConfig
from ..data import DATASETS

__all__ = ["Recipe", "NamedRecipe", "RECIPES", "default_setup", "tintn_setup", "recipe_problem",
           "CNN_RECIPE", "cnn_setup"]

SCHEDULES = ("cosine", "constant")
INITS = ("timm", "mimetic")
DISTILL = ("none", "soft", "hard", "token")
FREEZES = ("none", "all-but-head")  # all-but-head: a linear probe on a frozen backbone
PRETRAIN = ("none", "mae")  # mae: masked-autoencoder pretraining, no labels used (vit_lessons/mae.py)

# what each `check` word accepts, and how a message says it
_CHECKS = {
    "positive": (lambda v: v > 0, "a positive {kind}"),
    "non-negative": (lambda v: v >= 0, "0 or a positive {kind}"),
    "fraction": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "probability": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "count-or-default": (lambda v: v >= -1, "-1 (the dataset's default), 0 or a positive {kind}"),
}


def _ingredient(default, help: str, check: str | None = None, choices: tuple | None = None,
                metavar: str | None = None):
    """A Recipe field with what its command-line flag shows (help, choices) and checks."""
    return field(default=default, metadata={"help": help, "check": check, "choices": choices, "metavar": metavar})


@dataclass
class Recipe:
    """How a model is trained; every ingredient can be switched off to measure what it is worth.

    Args:
        epochs: passes over the training set (ignored when ``time_budget`` is set).
        time_budget: seconds of training; the schedule then follows the clock and ends at zero
            exactly when the budget is spent. Evaluation time is not counted.
        batch_size: images per optimisation step, all processes together.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay (not applied to biases, norms, embeddings).
        beta2: AdamW's second-moment decay; 0.99 adapts faster than 0.999 in short runs.
        warmup: fraction of training spent ramping the learning rate up linearly from zero.
        schedule: 'cosine' (warm-up, then cosine decay to zero) or 'constant'.
        label_smoothing: target probability moved from the true class to all classes; soft
            targets make the model less over-confident.
        grad_clip: clip the global gradient norm to this (0 = off).
        crop_pad: random-crop padding in pixels (0 = off).
        flip: random horizontal flips (clothes and objects, not digits).
        erase: probability of random erasing.
        amp: bf16 autocast on a GPU (ignored on a CPU, where it is slower).
        data_on_device: copy the whole dataset to the GPU once instead of per batch.
        evals_per_epoch: how often the validation and test sets are evaluated.
        val_size: training images held out (class-stratified, the same for every seed) to choose
            ``best.pt`` on; -1 takes the dataset's default (1/12: 5,000 of Fashion-MNIST's 60,000),
            0 holds out nothing (and no best.pt is written). Test accuracy never chooses anything.
        init: 'timm' (truncated normal, timm's default) or 'mimetic' (attention starts out like a
            trained one, Trockman & Kolter 2023; see ``vit_lessons.attention.mimetic_init_``).
        distill: 'none', or how to learn from ``teacher``: 'soft', 'hard' or 'token' (DeiT; see
            ``vit_lessons.train.distill``).
        distill_alpha: weight of the teacher's loss; the true labels get 1 - alpha.
        distill_tau: temperature of soft distillation.
        teacher: path of the teacher's course checkpoint ('' = no teacher).
        init_from: start from a trained backbone instead ('' = from scratch): a course checkpoint,
            ``'torchvision:vit_b_16'`` or ``'timm:<name>'``; every weight but the head's is loaded
            (``vit_lessons.transfer``, notebooks/08_pretrained_weights).
        freeze: 'all-but-head' trains the head only (a linear probe); 'none' trains everything.
        img_size: resize every batch to this many pixels per side before the model (0 = as stored):
            a backbone's input size, or another patch grid.
        train_size: train on this many of the training images (class-balanced, drawn with the run's seed,
            after the validation split is held out; 0 = all): 600 is 1% of Fashion-MNIST's labels.
        eval_every: evaluate every this many optimisation steps instead of ``evals_per_epoch`` times an
            epoch (0 = per epoch): for small training sets, whose epochs last a few steps.
        pretrain: 'none' (classification) or 'mae': masked-autoencoder pretraining of the encoder,
            labels unused (``vit_lessons.mae``, notebooks/11_self_supervised); best.pt is then the lowest
            validation reconstruction loss.
        mask_ratio, decoder_dim, decoder_depth, decoder_heads: the masked autoencoder's masking and decoder.

    Built in notebooks/06_training.
    """

    epochs: int = _ingredient(10, "passes over the training set", "non-negative")
    time_budget: float = _ingredient(0.0, "train for this many seconds instead (evaluation not counted); the "
                                          "schedule ends at zero then", "non-negative", metavar="SECONDS")
    batch_size: int = _ingredient(256, "global batch size (all processes together)", "positive")
    lr: float = _ingredient(2e-3, "peak learning rate (AdamW)", "positive")
    weight_decay: float = _ingredient(0.05, "AdamW weight decay, on weight matrices only", "non-negative")
    beta2: float = _ingredient(0.99, "AdamW's second-moment decay", "fraction")
    warmup: float = _ingredient(0.05, "warm-up, as a fraction of training", "fraction")
    schedule: str = _ingredient("cosine", "learning-rate schedule", choices=SCHEDULES)
    label_smoothing: float = _ingredient(0.1, "0 switches it off", "fraction")
    grad_clip: float = _ingredient(1.0, "max gradient norm; 0 switches it off", "non-negative")
    crop_pad: int = _ingredient(2, "random-crop padding; 0 switches cropping off", "non-negative")
    flip: bool = _ingredient(True, "random horizontal flips")
    erase: float = _ingredient(0.0, "random-erasing probability", "probability")
    amp: bool = _ingredient(True, "bf16 autocast on GPU (default on)")
    data_on_device: bool = _ingredient(True, "keep the dataset on the GPU (default on)")
    evals_per_epoch: int = _ingredient(1, "validation and test evaluations per epoch (default 1)", "positive")
    val_size: int = _ingredient(-1, "training images held out to choose best.pt on (-1: the dataset's default, 5,000 "
                                    "for Fashion-MNIST; 0: none, and no best.pt)", "count-or-default", metavar="N")
    init: str = _ingredient("timm", "weight init: timm's truncated normal, or mimetic attention (Trockman & "
                                    "Kolter 2023)", choices=INITS)
    # distillation (Touvron et al. 2021), vit_lessons/train/distill.py; off unless a teacher is named
    distill: str = _ingredient("none", "learn from --teacher's predictions: soft (KL at --distill-tau), hard "
                                       "(its argmax) or token (DeiT's distillation token)", choices=DISTILL)
    distill_alpha: float = _ingredient(0.5, "weight of the teacher's loss (the true labels get 1 - alpha)",
                                       "probability")
    distill_tau: float = _ingredient(1.0, "temperature of soft distillation", "positive")
    teacher: str = _ingredient("", "a course checkpoint (e.g. of train --model cnn) that teaches this model",
                               metavar="CHECKPOINT")
    init_from: str = _ingredient("", "fine-tune from this backbone: a checkpoint (.pt), torchvision:vit_b_16 or "
                                     "timm:<name>; every weight but the head's is loaded", metavar="CHECKPOINT")
    freeze: str = _ingredient("none", "all-but-head trains only the head (a linear probe)", choices=FREEZES)
    img_size: int = _ingredient(0, "resize images to this many pixels per side before the model (0 = as "
                                   "stored)", "non-negative", metavar="PIXELS")
    train_size: int = _ingredient(0, "train on N of the training images, class-balanced (0: all; the validation "
                                     "split is held out first)", "non-negative", metavar="N")
    eval_every: int = _ingredient(0, "evaluate every N steps instead of per epoch (0: per epoch)", "non-negative",
                                  metavar="STEPS")
    # masked-autoencoder pretraining (He et al. 2021), vit_lessons/mae.py
    pretrain: str = _ingredient("none", "mae: pretrain the encoder as a masked autoencoder (no labels used)",
                                choices=PRETRAIN)
    mask_ratio: float = _ingredient(0.75, "fraction of patches removed from each image (--pretrain mae)", "fraction")
    decoder_dim: int = _ingredient(64, "the masked autoencoder's decoder width", "positive")
    decoder_depth: int = _ingredient(1, "the masked autoencoder's decoder blocks", "positive")
    decoder_heads: int = _ingredient(4, "the masked autoencoder's decoder heads", "positive")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            problem = recipe_problem(f, getattr(self, f.name))
            if problem:
                raise ValueError(f"{f.name} must be {problem}, got {getattr(self, f.name)!r}")
        if self.epochs <= 0 and self.time_budget <= 0:
            raise ValueError(f"nothing to train: epochs={self.epochs} and time_budget={self.time_budget}; give a "
                             "positive number of epochs (--epochs N) or a time budget in seconds "
                             "(--time-budget SECONDS)")
        if self.pretrain != "none" and (self.distill != "none" or self.init_from or self.freeze != "none"):
            raise ValueError("--pretrain mae trains an encoder without labels: it takes no --distill, --init-from "
                             "or --freeze (fine-tune its checkpoint afterwards with --init-from)")
        if (self.distill == "none") != (not self.teacher):
            raise ValueError("distillation needs both --distill {soft,hard,token} and --teacher CHECKPOINT; "
                             f"got distill={self.distill!r}, teacher={self.teacher!r}")

    def to_dict(self) -> dict:
        """Plain dict for config.json and checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def recipe_problem(f: dataclasses.Field, value) -> str | None:
    """What ``value`` would have to be for Recipe field ``f`` ('a positive integer'…), or None if it is fine."""
    choices, check = f.metadata.get("choices"), f.metadata.get("check")
    if choices and value not in choices:
        return " or ".join(map(repr, choices))
    if check:
        ok, words = _CHECKS[check]
        if not ok(value):
            return words.format(kind="integer" if f.type == "int" else "number")
    return None


@dataclass(frozen=True)
class NamedRecipe:
    """A model and the recipe that trains it on one dataset.

    Args:
        name: how the table and the benchmarks call it.
        dataset: a name in ``vit_lessons.data.DATASETS``; the model is built for its images and classes.
        preset: the ``ViTConfig`` preset the model starts from.
        model: changes to that preset.
        recipe: the recipe.

    Built in notebooks/06_training.
    """

    name: str
    dataset: str
    preset: str
    model: dict
    recipe: Recipe

    def setup(self, **recipe_changes) -> tuple[ViTConfig, Recipe]:
        """(model config, recipe), with ``recipe_changes`` applied to the recipe."""
        info = DATASETS[self.dataset]
        img_size = recipe_changes.get("img_size", self.recipe.img_size) or info.img_size
        cfg = ViTConfig.preset(self.preset, img_size=img_size, in_chans=info.in_chans,
                               num_classes=info.num_classes, **self.model)
        return cfg, dataclasses.replace(self.recipe, **recipe_changes)


# The course recipe for each dataset (named as the dataset: `--dataset X` alone picks it), and the seed
# recipe lesson 06 and the benchmarks compare with.
RECIPES: dict[str, NamedRecipe] = {r.name: r for r in (
    # 2-core CPU, ~10 minutes (assets/results/fashion_mnist_10min). The course model (preset fashion_mnist_cpu:
    # 7x7 patches, 16 tokens, D=64, sin-cos positions) with mimetic init, so attention starts out local and the
    # first epochs count; no augmentation: for most of such a run the model is still fitting the training set,
    # and shifts and flips cost accuracy (lesson 06, assets/results/ablations_2ep).
    NamedRecipe("fashion-mnist", "fashion-mnist", "fashion_mnist_cpu", {},
                Recipe(epochs=10, batch_size=64, lr=2e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                       crop_pad=0, flip=False, init="mimetic")),
    # the paper's hybrid (Sec. 3.1) with the same recipe: lesson 09's race measures it against the plain ViT
    NamedRecipe("fashion-mnist-hybrid", "fashion-mnist", "fashion_mnist_hybrid", {},
                Recipe(epochs=10, batch_size=64, lr=2e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                       crop_pad=0, flip=False, init="mimetic")),
    # lesson 11: the course model pretrained as a masked autoencoder (He et al. 2021) on the training images
    # without labels; AdamW with beta2 0.95 as the paper's pretraining (its Table 8), shifts and flips as its
    # augmentation; fine-tune the checkpoint with --init-from (bench mae races it against training from scratch)
    NamedRecipe("fashion-mnist-mae", "fashion-mnist", "fashion_mnist_cpu", {},
                Recipe(epochs=10, batch_size=256, lr=1.5e-3, weight_decay=0.05, beta2=0.95, warmup=0.05,
                       label_smoothing=0.0, crop_pad=2, flip=True, init="mimetic", pretrain="mae", mask_ratio=0.75,
                       decoder_dim=64, decoder_depth=1, decoder_heads=4)),
    # seconds on a CPU; digits are not mirror-symmetric, so no flips
    NamedRecipe("digits", "digits", "digits_cpu", {},
                Recipe(epochs=15, batch_size=32, lr=3e-3, weight_decay=0.05, warmup=0.1, label_smoothing=0.1,
                       crop_pad=1, flip=False)),
    # a GPU recipe in the spirit of omihub777/ViT-CIFAR: longer, stronger augmentation
    NamedRecipe("cifar10", "cifar10", "cifar_gpu", {},
                Recipe(epochs=100, batch_size=256, lr=1e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                       crop_pad=4, flip=True, erase=0.25)),
    # Colab GPU, not measured here: ViT-B/16 pretrained on ImageNet-21k (timm's copy of the original weights)
    # fine-tuned on CIFAR-10 upsampled to 384 px, the resolution google-research/vision_transformer fine-tunes
    # at (its README: 99.02%; jeonsworld/ViT-pytorch 99.08% at 224 px). The 14x14 grid of position embeddings
    # is interpolated to 24x24. A few epochs with a small AdamW rate: the backbone already knows images.
    NamedRecipe("cifar10-finetune", "cifar10", "vit_b_16", {},
                Recipe(epochs=3, batch_size=128, lr=1e-4, weight_decay=0.05, warmup=0.1, label_smoothing=0.1,
                       crop_pad=4, flip=True, init_from="timm:vit_base_patch16_224.orig_in21k", img_size=384)),
    NamedRecipe("cifar100", "cifar100", "cifar_gpu", {},
                Recipe(epochs=100, batch_size=256, lr=1e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                       crop_pad=4, flip=True, erase=0.25)),
    # tintn/vision-transformer-from-scratch on Fashion-MNIST: hidden size 48, 4 layers, 4 heads, MLP 4 x 48,
    # patch 4; AdamW lr 1e-2, weight decay 1e-2, batch 256, constant learning rate, no augmentation, no label
    # smoothing, no clipping. The written-out attention kernel, as in our recipe: on these CPUs it is ~15%
    # faster for tintn's model too (2 threads), so the comparison is between recipes, not kernels.
    NamedRecipe("tintn", "fashion-mnist", "tiny",
                {"name": "tintn_fmnist", "patch_size": 4, "embed_dim": 48, "depth": 4, "num_heads": 4,
                 "mlp_ratio": 4.0, "fused_attn": False},
                Recipe(epochs=10, batch_size=256, lr=1e-2, weight_decay=1e-2, beta2=0.999, warmup=0.0,
                       schedule="constant", label_smoothing=0.0, grad_clip=0.0, crop_pad=0, flip=False, erase=0.0)),
)}


def default_setup(dataset: str = "fashion-mnist", **recipe_changes) -> tuple[ViTConfig, Recipe]:
    """The model config and recipe the course uses for ``dataset``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    return RECIPES[dataset].setup(**recipe_changes)


# Lesson 09's CNN baseline and teacher (vit_lessons/cnn.py); assets/results/small_data_10min has what it reaches.
CNN_RECIPE = Recipe(epochs=5, batch_size=128, lr=2e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                    crop_pad=0, flip=False)


def cnn_setup(dataset: str = "fashion-mnist", preset: str = "cnn_teacher",
              **recipe_changes) -> tuple[CNNConfig, Recipe]:
    """The CNN of lesson 09 (``train --model cnn``) for ``dataset``, and its recipe with ``recipe_changes``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    info = DATASETS[dataset]
    cfg = CNNConfig.preset(preset, img_size=info.img_size, in_chans=info.in_chans, num_classes=info.num_classes)
    return cfg, dataclasses.replace(CNN_RECIPE, **recipe_changes)


def tintn_setup(**recipe_changes) -> tuple[ViTConfig, Recipe]:
    """tintn/vision-transformer-from-scratch's recipe on Fashion-MNIST: the seed recipe the course compares with."""
    return RECIPES["tintn"].setup(**recipe_changes)
