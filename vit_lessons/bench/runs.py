"""The training runs benchmarks are made of: one run with the load average around it, runs side by
side on their own cores, and synthetic data for timings that need no real images.

Built in notebooks/06_training.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
from pathlib import Path

import torch

from ..config import ViTConfig
from ..data import DATASETS, ImageData, load_dataset
from ..machine import command, loadavg
from ..train import Recipe, Trainer, log, setup_logging

__all__ = ["time_to", "chosen_record", "run_one", "run_side_by_side", "synthetic", "pick_device", "LoadSampler"]


def time_to(history: list[dict], acc: float) -> float | None:
    """Training seconds until the first evaluation at or above ``acc`` test accuracy (None if never)."""
    for r in history:
        if r["test_acc"] >= acc:
            return r["train_time"]
    return None


def chosen_record(history: list[dict]) -> dict:
    """The evaluation a run stands by: the best validation accuracy (the earliest of equals), or the last
    evaluation when the run held out no validation split. Test accuracy never chooses."""
    with_val = [r for r in history if r.get("val_acc") is not None and r["val_acc"] == r["val_acc"]]  # not NaN
    return max(with_val, key=lambda r: r["val_acc"]) if with_val else history[-1]


class LoadSampler:
    """While the block runs, the 1-minute load average every ``every`` seconds and this process's CPU share
    (CPU seconds / wall seconds: about 1.0 for a one-thread run that had its core to itself)."""

    def __init__(self, every: float = 5.0):
        self.every, self.samples, self.cpu_share = every, [], None
        self._stop = threading.Event()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            one = loadavg().split()
            if one:
                self.samples.append(float(one[0]))

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        wall = time.perf_counter() - self._wall
        self.cpu_share = round((time.process_time() - self._cpu) / max(wall, 1e-9), 3)
        return False

    def record(self) -> dict:
        """What a run's result keeps: the samples, their mean and maximum, and the CPU share."""
        s = self.samples
        return {"load_samples": s, "load_mean": round(sum(s) / len(s), 2) if s else None,
                "load_max": max(s) if s else None, "cpu_share": self.cpu_share}


def run_one(name: str, cfg: ViTConfig, recipe: Recipe, data: ImageData, seed: int, out_dir: Path, device=None,
            progress=False) -> dict:
    """Train one configuration; returns a summary with the load average around it."""
    before = loadavg()
    t0 = time.time()
    # the benchmark decides itself which runs to reuse (fashion_mnist_10min); one it calls here starts afresh
    tr = Trainer(cfg, recipe, data, out_dir, device=device, seed=seed, progress=progress, overwrite=True,
                 extra={"command": command(), "bench_run": name})
    with LoadSampler() as load:
        hist = tr.fit()
    after = loadavg()
    chosen = chosen_record(hist)  # the best validation evaluation: its test accuracy is the run's result
    res = {"name": name, "seed": seed, "final_acc": chosen["test_acc"], "final_correct": chosen["test_correct"],
           "chosen_epoch": chosen["epoch"], "val_acc": chosen.get("val_acc"), "val_size": tr.val_size,
           "last_acc": hist[-1]["test_acc"], "max_test_acc": max(r["test_acc"] for r in hist),
           "epochs": hist[-1]["epoch"], "steps": tr.step,
           "train_time": round(tr.train_time, 2), "wall_time": round(time.time() - t0, 1),
           "images_per_s": round(tr.step * recipe.batch_size / max(tr.train_time, 1e-9), 1),
           "time_to_85": time_to(hist, 0.85), "time_to_90": time_to(hist, 0.90), "time_to_91": time_to(hist, 0.91),
           "num_params": tr.model.num_params, "loadavg_before": before, "loadavg_after": after, **load.record(),
           "model": cfg.to_dict(), "recipe": recipe.to_dict(), "run_dir": str(out_dir)}
    log.info(f"{name} seed {seed}: test acc {res['final_acc']:.4f} at the best validation epoch "
             f"({res['chosen_epoch']:.2f} of {res['epochs']:.2f}), time to 85% {res['time_to_85']} s, load mean "
             f"{res['load_mean']}, max {res['load_max']}, CPU share {res['cpu_share']}")
    return res


def _pinned_run(core: int, dataset: str | ImageData, name: str, cfg, recipe, seed: int, out_dir: Path, device,
                results, key=None) -> None:
    """One benchmark run in a child process that has CPU core ``core`` to itself (one torch thread); its result
    goes into the queue ``results`` as (``key`` or ``name``, result), an error as a string in its place."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    setup_logging()
    try:
        data = dataset if isinstance(dataset, ImageData) else load_dataset(dataset)  # a name, or the images
        res = run_one(name, cfg, recipe, data, seed, out_dir, device=device)
        res["cpu_affinity"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        results.put((key or name, res))
    except BaseException as e:  # noqa: BLE001 - reported by the parent, which waits for every child
        results.put((key or name, f"{type(e).__name__}: {e}"))


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
