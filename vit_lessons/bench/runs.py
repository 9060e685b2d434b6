"""The training runs benchmarks are made of: one run with the load average around it, runs side by
side on their own cores, and synthetic data for timings that need no real images.

Built in notebooks/06_training.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from pathlib import Path

import torch

from ..config import ViTConfig
from ..data import DATASETS, ImageData, load_dataset
from ..machine import command, loadavg
from ..train import Recipe, Trainer, log, setup_logging

__all__ = ["time_to", "run_one", "run_side_by_side", "synthetic", "pick_device"]


def time_to(history: list[dict], acc: float) -> float | None:
    """Training seconds until the first evaluation at or above ``acc`` (None if never)."""
    for r in history:
        if r["test_acc"] >= acc:
            return r["train_time"]
    return None


def run_one(name: str, cfg: ViTConfig, recipe: Recipe, data: ImageData, seed: int, out_dir: Path, device=None,
            progress=False) -> dict:
    """Train one configuration; returns a summary with the load average around it."""
    before = loadavg()
    t0 = time.time()
    # the benchmark decides itself which runs to reuse (fashion_mnist_10min); one it calls here starts afresh
    tr = Trainer(cfg, recipe, data, out_dir, device=device, seed=seed, progress=progress, overwrite=True,
                 extra={"command": command(), "bench_run": name})
    hist = tr.fit()
    after = loadavg()
    res = {"name": name, "seed": seed, "final_acc": hist[-1]["test_acc"], "final_correct": hist[-1]["test_correct"],
           "best_acc": max(r["test_acc"] for r in hist), "epochs": hist[-1]["epoch"], "steps": tr.step,
           "train_time": round(tr.train_time, 2), "wall_time": round(time.time() - t0, 1),
           "images_per_s": round(tr.step * recipe.batch_size / max(tr.train_time, 1e-9), 1),
           "time_to_85": time_to(hist, 0.85), "time_to_90": time_to(hist, 0.90), "time_to_91": time_to(hist, 0.91),
           "num_params": tr.model.num_params, "loadavg_before": before, "loadavg_after": after,
           "model": cfg.to_dict(), "recipe": recipe.to_dict(), "run_dir": str(out_dir)}
    log.info(f"{name} seed {seed}: test acc {res['final_acc']:.4f} after {res['epochs']:.2f} epochs, "
             f"time to 85% {res['time_to_85']} s, load {before} -> {after}")
    return res


def _pinned_run(core: int, dataset: str, name: str, cfg, recipe, seed: int, out_dir: Path, device, results) -> None:
    """One benchmark run in a child process that has CPU core ``core`` to itself (one torch thread)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    setup_logging()
    try:
        res = run_one(name, cfg, recipe, load_dataset(dataset), seed, out_dir, device=device)
        res["cpu_affinity"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        results.put((name, res))
    except BaseException as e:  # noqa: BLE001 - reported by the parent, which waits for every child
        results.put((name, f"{type(e).__name__}: {e}"))


def run_side_by_side(dataset: str, jobs: list[tuple], device) -> list[dict]:
    """Run (name, cfg, recipe, seed, out_dir) jobs at the same time, each in its own process on its own core."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if len(cores) < len(jobs):
        raise RuntimeError(f"--side-by-side needs {len(jobs)} CPU cores, this machine offers {len(cores)}")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_pinned_run, args=(core, dataset, *job, device, q)) for core, job in zip(cores, jobs)]
    for p in procs:
        p.start()
    got = {}
    while len(got) < len(procs):
        try:
            name, res = q.get(timeout=5)
            got[name] = res
        except queue.Empty:  # a child killed from outside (out of memory, a signal) never reports: stop waiting
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                for p in procs:
                    p.terminate()
                raise RuntimeError(f"a side-by-side run died without a result (exit codes {dead}); "
                                   "finished runs are kept, run the same command again to continue") from None
    for p in procs:
        p.join()
    bad = {k: v for k, v in got.items() if isinstance(v, str)}
    if bad:
        raise RuntimeError(f"side-by-side runs failed: {bad}")
    return [got[job[0]] for job in jobs]


def synthetic(dataset: str, n_images: int) -> ImageData:
    """Random uint8 images and labels with ``dataset``'s shape: for timing, when the real data is not needed."""
    info = DATASETS[dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_images, info.in_chans, info.img_size, info.img_size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, info.num_classes, (n_images,), generator=g)
    return ImageData(info, x, y, x[:1000], y[:1000], source="synthetic")


def pick_device(device) -> torch.device:
    """``device``, or CUDA when there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
