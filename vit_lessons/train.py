"""Training a ViT: the recipe, the Trainer, checkpoints, and the ``train`` / ``eval`` commands.

A run is one call::

    python -m vit_lessons train                      # Fashion-MNIST, the course CPU model and recipe
    python -m vit_lessons train --dataset cifar10    # a model and recipe that fit CIFAR-10 (GPU)
    torchrun --nproc_per_node 2 -m vit_lessons train # the same, DistributedDataParallel

and writes ``experiments/<name>/``: ``config.json`` (model, recipe, versions, seed),
``metrics.jsonl`` (one line per evaluation), ``last.pt`` and ``best.pt``.

Checkpoints hold only plain containers (tensors, dicts, lists, numbers, strings), are
written atomically (a temporary file in the same folder, then ``os.replace``) and load
with ``torch.load(weights_only=True)``, so opening a downloaded checkpoint runs no code.

Built in notebooks/06_training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .config import ViTConfig
from .model import VisionTransformer

__all__ = ["Recipe", "RECIPES", "default_setup", "tintn_setup", "lr_at", "Trainer", "evaluate", "confusion_matrix",
           "format_confusion", "save_checkpoint", "load_checkpoint", "CheckpointError", "load_model",
           "export_checkpoint", "read_metrics", "register_cli", "CHECKPOINT_FORMAT", "RunExistsError", "holds_run"]

CHECKPOINT_FORMAT = "vit_lessons.checkpoint/1"
log = logging.getLogger("vit_lessons.train")


# ---- the recipe ----------------------------------------------------------------------------------------
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
        beta2: AdamW's second-moment decay.
        warmup: fraction of training spent ramping the learning rate up linearly from zero.
        schedule: 'cosine' (warm-up, then cosine decay to zero) or 'constant'.
        label_smoothing: target probability moved from the true class to all classes.
        grad_clip: clip the global gradient norm to this (0 = off).
        crop_pad: random-crop padding in pixels (0 = off).
        flip: random horizontal flips.
        erase: probability of random erasing.
        amp: bf16 autocast on a GPU (ignored on a CPU, where it is slower).
        data_on_device: copy the whole dataset to the GPU once instead of per batch.
        evals_per_epoch: how often the test set is evaluated.
        init: 'timm' (truncated normal, timm's default) or 'mimetic' (attention starts out like a
            trained one, Trockman & Kolter 2023; see ``vit_lessons.attention.mimetic_init_``).
    """

    epochs: int = 10  # passes over the training set
    time_budget: float = 0.0  # seconds of training; 0 = train for `epochs`
    batch_size: int = 256  # images per step, all processes together
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.05  # decoupled weight decay on weight matrices only
    beta2: float = 0.99  # AdamW's second-moment decay; 0.99 adapts faster in short runs
    warmup: float = 0.05  # fraction of training spent warming up
    schedule: str = "cosine"  # 'cosine' or 'constant'
    label_smoothing: float = 0.1  # soft targets: less over-confident, better calibrated
    grad_clip: float = 1.0  # max global gradient norm; 0 = off
    crop_pad: int = 2  # random crop with this much zero padding; 0 = off
    flip: bool = True  # random horizontal flips (clothes and objects, not digits)
    erase: float = 0.0  # probability of random erasing
    amp: bool = True  # bf16 autocast on GPU
    data_on_device: bool = True  # keep the uint8 dataset on the GPU when it fits
    evals_per_epoch: int = 1  # test-set evaluations per epoch
    init: str = "timm"  # 'mimetic': W_q^T W_k ~ I, W_v^T W_o ~ -I per head; small ViTs learn faster

    def __post_init__(self):
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.init not in ("timm", "mimetic"):
            raise ValueError(f"init must be 'timm' or 'mimetic', got {self.init!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of training in [0, 1), got {self.warmup}")
        if self.batch_size <= 0 or self.lr <= 0:
            raise ValueError("batch_size and lr must be positive")
        if self.epochs <= 0 and self.time_budget <= 0:
            raise ValueError("give a positive number of epochs or a time budget in seconds")

    def to_dict(self) -> dict:
        """Plain dict for config.json and checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# For each dataset: (the model preset, changes to it, the recipe). `--dataset X` alone picks these.
RECIPES: dict[str, tuple[str, dict, Recipe]] = {
    # 2-core CPU, ~10 minutes (assets/results/fashion_mnist_10min). The course model slimmed for a time budget:
    # 7x7 patches (16 tokens instead of 49) and D=64, so ~12 epochs fit in 10 minutes on 2 cores; fixed 2-D
    # sin-cos positions and mimetic init, so attention starts out local and the first epochs count; no
    # augmentation: for most of such a run the model is still fitting the training set, and shifts and flips
    # cost accuracy (lesson 06, assets/results/ablations_2ep). With 17 tokens the written-out attention is
    # faster on a CPU than torch's fused kernel, and gives the same result (assets/results/cpu_kernels).
    "fashion-mnist": ("fashion_mnist_cpu", {"patch_size": 7, "embed_dim": 64, "pos_embed": "sincos2d",
                                            "fused_attn": False},
                      Recipe(epochs=10, batch_size=64, lr=2e-3, weight_decay=0.05, warmup=0.05, label_smoothing=0.1,
                             crop_pad=0, flip=False, init="mimetic")),
    # seconds on a CPU; digits are not mirror-symmetric, so no flips
    "digits": ("digits_cpu", {}, Recipe(epochs=15, batch_size=32, lr=3e-3, weight_decay=0.05, warmup=0.1,
                                    label_smoothing=0.1, crop_pad=1, flip=False)),
    # a GPU recipe in the spirit of omihub777/ViT-CIFAR: longer, stronger augmentation
    "cifar10": ("cifar_gpu", {}, Recipe(epochs=100, batch_size=256, lr=1e-3, weight_decay=0.05, warmup=0.05,
                                    label_smoothing=0.1, crop_pad=4, flip=True, erase=0.25)),
    "cifar100": ("cifar_gpu", {}, Recipe(epochs=100, batch_size=256, lr=1e-3, weight_decay=0.05, warmup=0.05,
                                     label_smoothing=0.1, crop_pad=4, flip=True, erase=0.25)),
}


def default_setup(dataset: str = "fashion-mnist", **recipe_changes) -> tuple[ViTConfig, Recipe]:
    """The model config and recipe the course uses for ``dataset``."""
    from .data import DATASETS

    if dataset not in RECIPES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(RECIPES)}")
    preset, changes, recipe = RECIPES[dataset]
    info = DATASETS[dataset]
    cfg = ViTConfig.preset(preset, img_size=info.img_size, in_chans=info.in_chans, num_classes=info.num_classes,
                           **changes)
    return cfg, dataclasses.replace(recipe, **recipe_changes)


def tintn_setup(**recipe_changes) -> tuple[ViTConfig, Recipe]:
    """tintn/vision-transformer-from-scratch's recipe on Fashion-MNIST: the seed recipe the course compares with.

    Hidden size 48, 4 layers, 4 heads, MLP 4 x 48, patch 4; AdamW lr 1e-2, weight decay 1e-2,
    batch 256, constant learning rate, no augmentation, no label smoothing, no clipping.
    """
    # the written-out attention kernel, as in our recipe: on these CPUs it is ~15% faster for tintn's model too
    # (2 threads), so the comparison is between recipes, not kernels
    cfg = ViTConfig(name="tintn_fmnist", img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=48,
                    depth=4, num_heads=4, mlp_ratio=4.0, fused_attn=False)
    recipe = Recipe(epochs=10, batch_size=256, lr=1e-2, weight_decay=1e-2, beta2=0.999, warmup=0.0,
                    schedule="constant", label_smoothing=0.0, grad_clip=0.0, crop_pad=0, flip=False, erase=0.0)
    return cfg, dataclasses.replace(recipe, **recipe_changes)


def lr_at(progress: float, recipe: Recipe) -> float:
    """Learning rate at ``progress`` in [0, 1] of training: linear warm-up, then cosine to zero (or constant)."""
    p = min(max(progress, 0.0), 1.0)
    if recipe.warmup > 0 and p < recipe.warmup:
        return recipe.lr * p / recipe.warmup
    if recipe.schedule == "constant":
        return recipe.lr
    q = (p - recipe.warmup) / (1 - recipe.warmup)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * q))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: biases, LayerNorms, class token and position embedding are exempt."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "pos_embed" not in name and "cls_token" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ---- evaluation -------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean, std, batch_size: int = 1000,
             amp: bool = False) -> dict:
    """Test loss, accuracy and predictions of ``model`` on uint8 ``images``; always the same batches, in order."""
    from .data import normalize_batch

    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    total_loss, preds = 0.0, []
    for i in range(0, len(labels), batch_size):
        x = normalize_batch(images[i:i + batch_size].to(dev), mean, std)
        y = labels[i:i + batch_size].to(dev)
        with _autocast(dev, amp):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
    model.train(was_training)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
    correct = int((pred == labels.cpu()).sum())
    n = max(len(labels), 1)
    return {"loss": total_loss / n, "acc": correct / n, "correct": correct, "n": len(labels), "pred": pred}


def _autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when asked; a no-op context elsewhere (CPU bf16 is slower than fp32 here)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) counts; row = true class, column = predicted class."""
    idx = target.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes**2).view(num_classes, num_classes)


def format_confusion(cm: torch.Tensor, classes) -> str:
    """The confusion matrix as aligned text, with per-class accuracy at the end of each row."""
    names = [str(c)[:11] for c in classes]
    w = max(6, max(len(n) for n in names) + 1)
    cw = max(5, len(str(int(cm.max()))) + 1)
    head = " " * w + "".join(f"{i:>{cw}}" for i in range(len(names))) + "   acc"
    lines = ["true \\ predicted", head]
    for i, n in enumerate(names):
        row = cm[i]
        acc = row[i].item() / max(row.sum().item(), 1)
        lines.append(f"{n:<{w}}" + "".join(f"{int(v):>{cw}}" for v in row) + f"  {acc:5.1%}")
    lines.append("columns: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)))
    return "\n".join(lines)


# ---- checkpoints -----------------------------------------------------------------------------------------
class CheckpointError(ValueError):
    """A checkpoint cannot be used: corrupt, not a course checkpoint, or from another configuration."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (plain containers only) atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a course checkpoint safely (``weights_only=True``); a clear CheckpointError if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        # TorchVersion is a plain str subclass (older checkpoints recorded torch.__version__ as it is)
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt zip, truncated file, foreign pickle...
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt or truncated file, or not written by torch.save: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). Delete it and train again, "
            f"or point to another file.") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "model" not in ck:
        raise CheckpointError(f"{path} loads, but is not a vit_lessons checkpoint (no '{CHECKPOINT_FORMAT}' format "
                              f"tag); for raw state dicts use VisionTransformer(cfg).load_state_dict(torch.load(...))")
    return ck


def load_model(path: str | os.PathLike, map_location="cpu") -> tuple[VisionTransformer, dict]:
    """(model in eval mode, checkpoint dict) from a course checkpoint, e.g. assets/checkpoints/*.pt."""
    ck = load_checkpoint(path, map_location)
    model = VisionTransformer(ViTConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **extra) -> Path:
    """A small copy of a checkpoint for sharing: the model and its records, without optimizer state."""
    ck = load_checkpoint(src)
    keep = {k: v for k, v in ck.items() if k not in ("optimizer", "rng")}
    keep["versions"] = {k: (v if v is None or isinstance(v, (int, float)) else str(v))
                        for k, v in ck.get("versions", {}).items()}
    keep.update(extra)
    return save_checkpoint(dst, keep)


def _config_diff(a: dict, b: dict) -> list[str]:
    return [f"{k}: {a.get(k)!r} in the checkpoint vs {b.get(k)!r} now" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a ``metrics.jsonl`` (a run folder or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def versions() -> dict:
    """Versions and machine, recorded in every config.json."""
    import numpy

    from . import __version__

    return {"python": platform.python_version(), "torch": str(torch.__version__), "numpy": numpy.__version__,
            "vit_lessons": __version__, "platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


# ---- distributed helpers ------------------------------------------------------------------------------------
def _dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) for a plain run."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _all_sum(values: list[float], device) -> list[float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")


class RunExistsError(FileExistsError):
    """The run folder already holds a run, and neither resuming nor overwriting was asked for."""


def holds_run(out_dir: str | os.PathLike) -> list[str]:
    """The files of an earlier run in ``out_dir`` (checkpoints, a non-empty metrics.jsonl); [] if none."""
    d = Path(out_dir)
    return [f for f in RUN_FILES if (d / f).exists() and (f != "metrics.jsonl" or (d / f).stat().st_size > 0)]


# ---- the Trainer -----------------------------------------------------------------------------------------------
class Trainer:
    """Trains a VisionTransformer on an in-memory dataset with a :class:`Recipe`.

    Args:
        config: the model's ViTConfig.
        recipe: how to train it.
        data: an ImageData (vit_lessons.data.load_dataset).
        out_dir: the run folder (config.json, metrics.jsonl, last.pt, best.pt); None writes nothing.
        device: 'cpu', 'cuda', 'cuda:1'…; None picks CUDA when available.
        seed: fixes the initial weights, data order and augmentation.
        progress: show tqdm bars (only when stderr is a terminal).
        resume: continue from ``out_dir/last.pt``.
        overwrite: start afresh in an ``out_dir`` that already holds a run, deleting its checkpoints
            and metrics; without it (or ``resume``) such a folder is refused, so no run is lost by accident.
        extra: recorded in config.json (the command line, for example).

    ``trainer.fit()`` trains and returns the list of metric records. Under ``torchrun`` it uses
    DistributedDataParallel: each process takes an equal share of every global batch, so the
    result matches one process with the same global batch.

    Built in notebooks/06_training.
    """

    def __init__(self, config: ViTConfig, recipe: Recipe, data, out_dir: str | os.PathLike | None = None,
                 device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
                 resume: bool = False, extra: dict | None = None, overwrite: bool = False):
        from .data import TensorBatches

        self.config, self.recipe, self.data, self.seed = config, recipe, data, seed
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._fresh = self.out_dir is not None and not resume and overwrite
        if self.out_dir is not None and not resume and not overwrite and holds_run(self.out_dir):
            raise RunExistsError(
                f"{self.out_dir} already holds a run ({', '.join(holds_run(self.out_dir))}). Continue it with "
                f"--resume, start another with a new --exp-name, or replace it with --overwrite "
                f"(its checkpoints and metrics are then deleted).")
        self.rank, self.world_size, local_rank = _dist_env()
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None and self.world_size > 1:
            self.device = torch.device("cuda", local_rank)
        self.progress = progress
        self.extra = extra or {}
        self._check_data()
        if self.device.type == "cpu":
            # Tiny values (denormals) in AdamW's moment estimates make CPU arithmetic many times slower as
            # training goes on; flushing them to zero costs nothing in accuracy.
            torch.set_flush_denormal(True)
        if self.world_size > 1:
            self._init_distributed()
        torch.manual_seed(seed)  # initial weights depend on the seed only
        self.model = VisionTransformer(config)
        if recipe.init == "mimetic":
            from .attention import mimetic_init_

            mimetic_init_(self.model)  # draws from the generator just seeded: the same weights on every process
        self.model.to(self.device)
        self.net = self.model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        # one fused kernel per step on a GPU; on a CPU the multi-tensor ("foreach") update, which torch only
        # picks by itself for GPU tensors: 5-12% more images/s for the CPU recipe model (bench cpu-kernels)
        kind = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        self.optimizer = torch.optim.AdamW(param_groups(self.model, recipe.weight_decay), lr=recipe.lr,
                                           betas=(0.9, recipe.beta2), **kind)
        on_dev = recipe.data_on_device and self.device.type == "cuda"
        store = self.device if on_dev else torch.device("cpu")
        self.train_x, self.train_y = data.train_x.to(store), data.train_y.to(store)
        self.test_x, self.test_y = data.test_x.to(store), data.test_y.to(store)
        info = data.info
        self.batches = TensorBatches(self.train_x, self.train_y, recipe.batch_size, seed, recipe.crop_pad,
                                     recipe.flip, recipe.erase, info.mean, info.std, self.rank, self.world_size)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = recipe.epochs * self.steps_per_epoch
        self.epoch, self.step, self.train_time = 0, 0, 0.0
        self._t0 = None  # start of the running stretch of training (None while not training)
        self.best_acc, self.history = -1.0, []
        if resume:
            self._resume()

    # -- set-up ------------------------------------------------------------------------------------------------
    def _check_data(self) -> None:
        cfg, info = self.config, self.data.info
        x = self.data.train_x
        if tuple(x.shape[1:]) != (cfg.in_chans, cfg.img_size, cfg.img_size):
            raise ValueError(f"the model expects ({cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) images but "
                             f"{info.name} has {tuple(x.shape[1:])}: build the config with img_size={info.img_size}, "
                             f"in_chans={info.in_chans}")
        if cfg.num_classes != info.num_classes:
            raise ValueError(f"the model has {cfg.num_classes} outputs but {info.name} has {info.num_classes} classes")

    def _init_distributed(self) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group(backend)

    @property
    def is_main(self) -> bool:
        """True in the process that writes files and logs (rank 0)."""
        return self.rank == 0

    def run_config(self) -> dict:
        """What config.json records: model, recipe, dataset, seed, processes, versions."""
        return {"model": self.config.to_dict(), "recipe": self.recipe.to_dict(), "dataset": self.data.info.name,
                "seed": self.seed, "world_size": self.world_size, "device": str(self.device),
                "num_params": self.model.num_params, "versions": versions(), **self.extra}

    # -- checkpoints ------------------------------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to continue exactly: model, optimizer, schedule position, RNG states, records."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"format": CHECKPOINT_FORMAT, "model_config": self.config.to_dict(), "recipe": self.recipe.to_dict(),
                "dataset": self.data.info.name, "classes": list(self.data.info.classes), "seed": self.seed,
                "world_size": self.world_size, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"kind": self.recipe.schedule, "step": self.step, "total_steps": self.total_steps,
                              "train_time": self.train_time},
                "epoch": self.epoch, "step": self.step, "train_time": self.train_time, "best_acc": self.best_acc,
                "metrics": self.history, "rng": rng, "versions": versions(),
                "command": self.extra.get("command", "")}

    def _resume(self) -> None:
        path = self.out_dir / "last.pt" if self.out_dir else None
        if path is None or not path.exists():
            raise CheckpointError(f"--resume: no checkpoint at {path}; start without --resume "
                                  f"(or pick the run with --exp-name)")
        ck = load_checkpoint(path, map_location=self.device)
        # the attention kernel is not part of the model: the same weights give the same function either way
        diff = _config_diff({k: v for k, v in ck["model_config"].items() if k != "fused_attn"},
                            {k: v for k, v in self.config.to_dict().items() if k != "fused_attn"})
        rdiff = _config_diff({k: v for k, v in Recipe.from_dict(ck["recipe"]).to_dict().items() if k != "epochs"},
                             {k: v for k, v in self.recipe.to_dict().items() if k != "epochs"})
        other = [f"{k}: {ck.get(k)!r} in the checkpoint vs {v!r} now" for k, v in
                 (("dataset", self.data.info.name), ("seed", self.seed)) if ck.get(k) != v]
        if diff or rdiff or other:
            raise CheckpointError(
                f"{path} was written by a run with another configuration ({'; '.join(diff + rdiff + other)}). "
                f"Resume with the same options, or start a new run with another --exp-name.")
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.epoch, self.step, self.train_time = int(ck["epoch"]), int(ck["step"]), float(ck["train_time"])
        self.best_acc, self.history = float(ck["best_acc"]), list(ck["metrics"])
        torch.set_rng_state(ck["rng"]["torch"].cpu())
        if "cuda" in ck["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([t.cpu() for t in ck["rng"]["cuda"]])
        if self.is_main:
            log.info(f"resumed from {path} at epoch {self.epoch} (step {self.step}, "
                     f"{self.train_time:.0f} s of training so far)")
        if self.is_main and self.out_dir is not None:  # drop records written after the checkpoint
            self._write_metrics()

    def _write_metrics(self) -> None:
        p = self.out_dir / "metrics.jsonl"
        tmp = p.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.history))
        os.replace(tmp, p)

    def save(self, name: str = "last.pt") -> Path | None:
        """Write a checkpoint into the run folder (rank 0 only)."""
        if self.out_dir is None or not self.is_main:
            return None
        return save_checkpoint(self.out_dir / name, self.state())

    # -- training ----------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training so far, including the running stretch since the last evaluation."""
        return self.train_time + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def progress_fraction(self) -> float:
        """How far through training we are: by the clock under a time budget, else by steps."""
        if self.recipe.time_budget > 0:
            return self.elapsed() / self.recipe.time_budget
        return self.step / max(self.total_steps, 1)

    def _budget_spent(self) -> bool:
        """Under a time budget, True once it is used up; all processes agree (rank 0's clock decides)."""
        spent = self.elapsed() >= self.recipe.time_budget
        if self.world_size > 1:
            import torch.distributed as dist

            t = torch.tensor([float(spent)], device=self.device)
            dist.broadcast(t, 0)
            spent = bool(t.item())
        return spent

    def done(self) -> bool:
        """True when the epochs or the time budget are used up."""
        if self.recipe.time_budget > 0:
            return self.train_time >= self.recipe.time_budget
        return self.epoch >= self.recipe.epochs

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """One optimisation step: forward, loss, backward, clip, step. Returns (summed loss, correct)."""
        r = self.recipe
        lr = lr_at(self.progress_fraction(), r)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        with _autocast(self.device, r.amp):
            logits = self.net(x)  # (b, classes)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=r.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if r.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), r.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss.item() * len(y), int((logits.argmax(1) == y).sum())

    def evaluate(self) -> dict:
        """Test loss and accuracy (shared out over processes under DDP)."""
        info = self.data.info
        n = len(self.test_y)
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        res = evaluate(self.model, self.test_x[lo:hi], self.test_y[lo:hi], info.mean, info.std,
                       amp=self.recipe.amp)
        loss_sum, correct = _all_sum([res["loss"] * res["n"], float(res["correct"])], self.device)
        return {"loss": loss_sum / n, "acc": correct / n, "correct": int(round(correct))}

    def fit(self) -> list[dict]:
        """Train until the epochs (or the time budget) are used up; returns the metric records."""
        from tqdm.auto import tqdm

        if self.is_main and self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self._fresh:  # --overwrite: the old run's files go, so none of them can be mixed with this one
                for f in RUN_FILES:
                    (self.out_dir / f).unlink(missing_ok=True)
                self._fresh = False
            (self.out_dir / "config.json").write_text(json.dumps(self.run_config(), indent=2) + "\n")
            if not (self.out_dir / "metrics.jsonl").exists():
                (self.out_dir / "metrics.jsonl").write_text("")
        r = self.recipe
        self.net.train()
        spe = self.steps_per_epoch
        eval_at = sorted({round(spe * (k + 1) / max(r.evals_per_epoch, 1)) for k in range(max(r.evals_per_epoch, 1))})
        show = self.progress and self.is_main and sys.stderr.isatty()
        while not self.done():
            start = self.step - self.epoch * spe
            bar = tqdm(total=spe, initial=start, desc=f"epoch {self.epoch + 1}", leave=False, disable=not show,
                       dynamic_ncols=True)
            loss_sum = correct = seen = 0.0
            self._t0 = time.perf_counter()
            for i, (x, y) in enumerate(self.batches.epoch(self.epoch, start), start=start):
                ls, c = self.train_step(x, y)
                loss_sum, correct, seen = loss_sum + ls, correct + c, seen + len(y)
                bar.update(1)
                if (i + 1) % 10 == 0 and show:
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
                over = r.time_budget > 0 and self._budget_spent()
                last = i + 1 == spe
                if (i + 1) in eval_at or over or last:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    self.train_time = self.elapsed()  # the clock stops: evaluation is not counted
                    self._t0 = None
                    self._record(loss_sum, correct, seen, i + 1)
                    loss_sum = correct = seen = 0.0
                    self._t0 = time.perf_counter()
                    if over:
                        break
            self._t0 = None
            bar.close()
            if self.step - self.epoch * spe >= spe:  # a full epoch done
                self.epoch += 1
                self.save("last.pt")
            elif r.time_budget > 0 and self.done():
                self.save("last.pt")
        return self.history

    def _record(self, loss_sum: float, correct: float, seen: float, step_in_epoch: int) -> None:
        loss_sum, correct, seen = _all_sum([loss_sum, correct, seen], self.device)
        test = self.evaluate()
        rec = {"epoch": round(self.epoch + step_in_epoch / self.steps_per_epoch, 4), "step": self.step,
               "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
               "test_loss": test["loss"], "test_acc": test["acc"], "test_correct": test["correct"],
               "lr": self.optimizer.param_groups[0]["lr"], "train_time": round(self.train_time, 3),
               "wall_time": time.time()}
        self.history.append(rec)
        if not self.is_main:
            return
        log.info(f"[epoch {rec['epoch']:5.2f}] train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.4f} | "
                 f"test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f} | lr {rec['lr']:.2e} | "
                 f"{self.train_time:.0f} s")
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            if test["acc"] > self.best_acc:
                self.best_acc = test["acc"]
                self.save("best.pt")


# ---- command line ----------------------------------------------------------------------------------------------
def setup_logging(level=logging.INFO) -> None:
    """Timestamped log lines: ``[2026-01-31 12:00:00|INFO] message``."""
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("[%(asctime)s|%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("vit_lessons")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False


_TRAIN_HELP = """\
Train a Vision Transformer from scratch.

With no options: Fashion-MNIST, the course's CPU model (fashion_mnist_cpu with 7x7
patches, D=64 and 2-D sin-cos positions, mimetic attention init) and its recipe for
10 epochs, about 8 minutes on a 2-core AMD EPYC (2 threads); add --time-budget 600
to stop, and end the schedule, at exactly 10 minutes. What that reaches is measured
in assets/results/fashion_mnist_10min/README.md. `--dataset X` alone picks a model
and recipe that fit X. Every recipe ingredient has a switch, so its worth can be
measured (lesson 06 does this). On a machine busy with other work, --threads 1 is
often faster than the default.

The run folder experiments/<exp-name>/ gets config.json, metrics.jsonl, last.pt
(every epoch) and best.pt (best test accuracy). Kill a run at any moment and
continue it with the same command plus --resume; on a CPU it ends exactly where an
uninterrupted run would.

Under `torchrun --nproc_per_node N -m vit_lessons train ...` the same command trains
with DistributedDataParallel (gloo on CPU, nccl on GPU); --batch-size stays the
global batch.
"""

_EXAMPLES = """\
examples:
  python -m vit_lessons train                                  # Fashion-MNIST, 10 epochs
  python -m vit_lessons train --time-budget 600 --exp-name fm10 # stop (and end the schedule) at 10 min
  python -m vit_lessons train --init timm --exp-name timm-init # an ablation: without mimetic init
  python -m vit_lessons train --dataset cifar10 --device cuda   # Colab GPU
  python -m vit_lessons train --exp-name fm10 --resume          # continue a killed run
  python -m vit_lessons eval experiments/fm10/best.pt           # accuracy + confusion matrix
"""


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected on/off, got {s!r}")


def add_train_arguments(p) -> None:
    """The options of ``train`` (also used by the benchmarks)."""
    from .config import PRESETS

    g = p.add_argument_group("what to train")
    g.add_argument("--dataset", default="fashion-mnist", choices=sorted(RECIPES),
                   help="dataset (default: fashion-mnist); picks the default model and recipe")
    g.add_argument("--preset", default=None, choices=PRESETS,
                   help="model preset from ViTConfig (default: the dataset's: fashion_mnist_cpu, cifar_gpu, ...)")
    g.add_argument("--patch-size", type=int, default=None, help="override the preset's patch size")
    g.add_argument("--embed-dim", type=int, default=None, help="override the preset's width D")
    g.add_argument("--depth", type=int, default=None, help="override the preset's number of blocks")
    g.add_argument("--num-heads", type=int, default=None, help="override the preset's number of heads")
    g.add_argument("--pool", choices=["cls", "mean"], default=None, help="class token or mean of patch tokens")
    g.add_argument("--pos-embed", choices=["learned", "sincos2d"], default=None,
                   help="learned position embeddings, or fixed 2-D sin-cos ones")
    g.add_argument("--data-root", default=None, help="folder with the dataset files (else found or downloaded)")
    g = p.add_argument_group("recipe (defaults: the dataset's recipe)")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="train for this many seconds instead (evaluation not counted); the schedule ends at zero then")
    g.add_argument("--batch-size", type=int, default=None, help="global batch size")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW)")
    g.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay")
    g.add_argument("--warmup", type=float, default=None, help="warm-up, as a fraction of training")
    g.add_argument("--schedule", choices=["cosine", "constant"], default=None, help="learning-rate schedule")
    g.add_argument("--label-smoothing", type=float, default=None, help="0 switches it off")
    g.add_argument("--grad-clip", type=float, default=None, help="max gradient norm; 0 switches it off")
    g.add_argument("--crop-pad", type=int, default=None, help="random-crop padding; 0 switches cropping off")
    g.add_argument("--flip", type=_bool, default=None, metavar="{on,off}", help="random horizontal flips")
    g.add_argument("--erase", type=float, default=None, help="random-erasing probability")
    g.add_argument("--no-augment", action="store_true", help="no crop, flip or erasing")
    g.add_argument("--amp", type=_bool, default=None, metavar="{on,off}", help="bf16 autocast on GPU (default on)")
    g.add_argument("--data-on-device", type=_bool, default=None, metavar="{on,off}",
                   help="keep the dataset on the GPU (default on)")
    g.add_argument("--init", choices=["timm", "mimetic"], default=None,
                   help="weight init: timm's truncated normal, or mimetic attention (Trockman & Kolter 2023)")
    g.add_argument("--evals-per-epoch", type=int, default=None, help="test evaluations per epoch (default 1)")
    g = p.add_argument_group("run")
    g.add_argument("--exp-name", default=None, help="run folder name under --out (default: <dataset>-seed<seed>)")
    g.add_argument("--out", default="experiments", help="where run folders go (default: experiments)")
    g.add_argument("--resume", action="store_true", help="continue from <out>/<exp-name>/last.pt")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run already in <out>/<exp-name>/ (its checkpoints and metrics are deleted); "
                        "without it, or --resume, an existing run is never touched")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    g.add_argument("--seed", type=int, default=0, help="fixes initial weights, data order and augmentation")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def setup_from_args(args) -> tuple[ViTConfig, Recipe]:
    """The model config and recipe an argparse namespace asks for."""
    cfg, recipe = default_setup(args.dataset)
    if args.preset:
        from .data import DATASETS

        info = DATASETS[args.dataset]
        cfg = ViTConfig.preset(args.preset, img_size=info.img_size, in_chans=info.in_chans,
                               num_classes=info.num_classes)
    over = {k: getattr(args, k) for k in ("patch_size", "embed_dim", "depth", "num_heads", "pool", "pos_embed")
            if getattr(args, k) is not None}
    if over.get("pool") == "mean":
        over.setdefault("class_token", cfg.class_token)
    if over:
        cfg = cfg.replace(**over)
    changes = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weight_decay", "warmup", "schedule",
                                              "label_smoothing", "grad_clip", "crop_pad", "flip", "erase", "amp",
                                              "data_on_device", "evals_per_epoch", "init")
               if getattr(args, k) is not None}
    if args.time_budget is not None:
        changes["time_budget"] = args.time_budget
    if args.no_augment:
        changes.update(crop_pad=0, flip=False, erase=0.0)
    return cfg, dataclasses.replace(recipe, **changes)


def _train_cmd(args) -> int:
    from .data import DatasetNotFoundError, load_dataset

    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg, recipe = setup_from_args(args)
        data = load_dataset(args.dataset, root=args.data_root)
        name = args.exp_name or f"{args.dataset}-seed{args.seed}"
        cmd = "python -m vit_lessons " + " ".join(sys.argv[1:]) if sys.argv else ""
        trainer = Trainer(cfg, recipe, data, Path(args.out) / name, device=args.device, seed=args.seed,
                          progress=not args.no_progress, resume=args.resume, extra={"command": cmd},
                          overwrite=args.overwrite)
    except (CheckpointError, DatasetNotFoundError, ValueError, RunExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.is_main:
        log.info(f"{data}")
        log.info(f"model {cfg.name}: patch {cfg.patch_size}, D {cfg.embed_dim}, depth {cfg.depth}, "
                 f"heads {cfg.num_heads}, pool {cfg.pool}, {trainer.model.num_params:,} parameters; "
                 f"{trainer.world_size} process(es) on {trainer.device}, {torch.get_num_threads()} threads")
        budget = f"{recipe.time_budget:.0f} s" if recipe.time_budget else f"{recipe.epochs} epochs"
        log.info(f"recipe: {budget}, batch {recipe.batch_size}, lr {recipe.lr:g} ({recipe.schedule}, warm-up "
                 f"{recipe.warmup:g}), wd {recipe.weight_decay:g}, smoothing {recipe.label_smoothing:g}, clip "
                 f"{recipe.grad_clip:g}, crop {recipe.crop_pad}, flip {recipe.flip}, erase {recipe.erase:g}, "
                 f"init {recipe.init}")
        log.info(f"writing {trainer.out_dir}/")
    hist = trainer.fit()
    if trainer.is_main and hist:
        last = hist[-1]
        log.info(f"done: test acc {last['test_acc']:.4f} (best {trainer.best_acc:.4f}) after "
                 f"{trainer.train_time:.0f} s of training; checkpoints in {trainer.out_dir}/")
    if trainer.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


def _eval_cmd(args) -> int:
    from .data import DatasetNotFoundError, load_dataset

    try:
        model, ck = load_model(args.checkpoint)
        data = load_dataset(ck["dataset"], root=args.data_root)
    except (CheckpointError, DatasetNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev)
    res = evaluate(model, data.test_x, data.test_y, data.info.mean, data.info.std, batch_size=args.batch_size)
    cm = confusion_matrix(res["pred"], data.test_y, data.info.num_classes)
    print(f"{args.checkpoint}: {ck['model_config'].get('name', '')} on {ck['dataset']}, "
          f"epoch {ck.get('epoch')}, {sum(v.numel() for v in ck['model'].values()):,} values")
    print(f"test accuracy {res['acc']:.4f} ({res['correct']}/{res['n']}), test loss {res['loss']:.4f}")
    print(format_confusion(cm, data.info.classes))
    return 0


def register_cli(subparsers) -> None:
    """Add the ``train`` and ``eval`` sub-commands."""
    import argparse

    p = subparsers.add_parser("train", help="train a ViT (Fashion-MNIST on a CPU by default)", description=_TRAIN_HELP,
                              epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(p)
    p.set_defaults(func=_train_cmd)
    e = subparsers.add_parser("eval", help="test accuracy and confusion matrix of a checkpoint",
                              description="Evaluate a checkpoint on its dataset's test set: accuracy, loss and "
                                          "a confusion matrix (rows: true class, columns: predicted).")
    e.add_argument("checkpoint", help="a .pt written by `train` (last.pt, best.pt) or assets/checkpoints/*.pt")
    e.add_argument("--data-root", default=None, help="folder with the dataset files")
    e.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size (default 1000)")
    e.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    e.set_defaults(func=_eval_cmd)
