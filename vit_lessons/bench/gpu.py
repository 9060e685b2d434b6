"""GPU benchmarks: what a GPU does with the course's recipes.

    python -m vit_lessons bench gpu-fashion-mnist --budget 300   # 5 minutes, bf16, data on the GPU
    python -m vit_lessons bench cifar-epoch-time                 # CIFAR-10 recipe epoch time, synthetic data

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from ..config import ViTConfig
from ..data import load_dataset
from ..machine import command, loadavg
from ..train import Trainer, default_setup
from .report import RESULTS, Benchmark, add_options, machine_record, median, today, write_results
from .runs import pick_device, run_one, synthetic

__all__ = ["gpu_fashion_mnist", "cifar_epoch_time", "COMMANDS"]

GPU_OUT = RESULTS / "gpu_fashion_mnist_5min"
CIFAR_OUT = RESULTS / "cifar10_epoch_time"


def gpu_fashion_mnist(budget: float = 300.0, seeds=(0,), out: Path = GPU_OUT, device=None, preset: str = "cifar_gpu",
                      batch_size: int = 512, lr: float = 2e-3, allow_cpu: bool = False,
                      runs_dir: Path = Path("experiments/bench-gpu")) -> dict:
    """Fashion-MNIST on a GPU within ``budget`` seconds: bf16 autocast, data on the GPU; reports throughput."""
    dev = pick_device(device)
    if dev.type != "cuda" and not allow_cpu:
        raise RuntimeError("no CUDA GPU here: this benchmark measures the GPU path (run it on Colab or a GPU "
                           "machine, or pass --allow-cpu to exercise the code path)")
    data = load_dataset("fashion-mnist")
    # a GPU sees many epochs in 5 minutes, so unlike the CPU recipe it needs augmentation
    _, recipe = default_setup("fashion-mnist", time_budget=budget, batch_size=batch_size, lr=lr, amp=True,
                              data_on_device=True, crop_pad=2, flip=True, erase=0.25, init="timm",
                              evals_per_epoch=1)
    cfg = ViTConfig.preset(preset, img_size=28, in_chans=1, num_classes=10, patch_size=4)
    runs = [run_one("gpu", cfg, recipe, data, s, runs_dir / f"seed{s}", device=dev) for s in seeds]
    summ = {"benchmark": "gpu-fashion-mnist", "command": command(), "budget_s": budget, "machine": machine_record(),
            "device": str(dev), "median_acc": median([r["final_acc"] for r in runs]),
            "median_images_per_s": median([r["images_per_s"] for r in runs]), "date": today()}
    write_results(out, summ, runs, f"# Fashion-MNIST on {summ['machine']['gpu'] or dev}, {budget:.0f} s\n\n"
                                   f"Command: `{summ['command']}`\n\nMedian test accuracy {summ['median_acc']:.2%}, "
                                   f"{summ['median_images_per_s']:.0f} training images/s.\n")
    return summ


def cifar_epoch_time(steps: int | None = None, device=None, out: Path | None = CIFAR_OUT,
                     batch_size: int | None = None, n_images: int = 50_000) -> dict:
    """Seconds per epoch of the CIFAR-10 recipe on synthetic 32x32 data (50,000 images), so a run can be planned."""
    dev = pick_device(device)
    cfg, recipe = default_setup("cifar10", epochs=1, val_size=0)  # a timing: every synthetic image trains
    if batch_size:
        recipe = dataclasses.replace(recipe, batch_size=batch_size)
    tr = Trainer(cfg, recipe, synthetic("cifar10", n_images), None, device=dev, seed=0, progress=False)
    spe = tr.steps_per_epoch
    n = min(steps or spe, spe)
    batches = tr.batches.epoch(0)
    warm = min(5, n)
    for _ in range(warm):  # warm-up: kernels, allocator
        tr.train_step(*next(batches))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n - warm):
        tr.train_step(*next(batches))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    per_step = dt / max(n - warm, 1)
    res = {"benchmark": "cifar-epoch-time", "command": command(), "device": str(dev), "machine": machine_record(),
           "model": cfg.to_dict(), "recipe": recipe.to_dict(), "steps_timed": n - warm, "steps_per_epoch": spe,
           "seconds_per_step": per_step, "epoch_seconds": per_step * spe,
           "images_per_s": recipe.batch_size / per_step if per_step else None, "loadavg": loadavg(), "date": today()}
    print(f"CIFAR-10 recipe ({cfg.name}, {tr.model.num_params:,} params, batch {recipe.batch_size}) on {dev}: "
          f"{per_step * 1000:.1f} ms/step, {res['epoch_seconds']:.1f} s/epoch, {res['images_per_s']:.0f} img/s")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{dev.type}.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def _gpu_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, GPU_OUT, budget=300.0, seeds=(0, 1, 2))
    p.add_argument("--allow-cpu", action="store_true", help="run the GPU path on the CPU anyway")


def _cifar_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, CIFAR_OUT)
    p.add_argument("--steps", type=int, default=None, help="time this many steps, not an epoch")


COMMANDS = (
    Benchmark("gpu-fashion-mnist", "GPU: bf16, data on the GPU, --budget seconds (default 300)", _gpu_arguments,
              lambda a: gpu_fashion_mnist(a.budget, a.seeds, a.out, device=a.device, allow_cpu=a.allow_cpu)),
    Benchmark("cifar-epoch-time", "CIFAR-10 recipe's seconds per epoch on synthetic 32x32 data", _cifar_arguments,
              lambda a: cifar_epoch_time(a.steps, a.device, a.out)),
)
