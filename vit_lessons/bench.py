"""Benchmarks: commands that measure, and write what they measured (with how) into assets/results/.

    python -m vit_lessons bench fashion-mnist-10min --seeds 0 1 2     # our recipe vs tintn's, 2 CPU cores
    python -m vit_lessons bench ablations --budget 120                # what each recipe ingredient is worth
    python -m vit_lessons bench gpu-fashion-mnist --budget 300        # GPU: 5 minutes, bf16, data on the GPU
    python -m vit_lessons bench cifar-epoch-time                      # CIFAR-10 recipe epoch time, synthetic data

Benchmarks are commands, never timed tests: their numbers depend on the machine and on
what else runs on it, so each output records the command, the machine, the torch
version and the load average before and after every run.

Built in notebooks/06_training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

__all__ = ["machine", "loadavg", "time_to", "run_one", "fashion_mnist_10min", "ablations", "gpu_fashion_mnist",
           "cifar_epoch_time", "ABLATIONS", "register_cli"]

RESULTS = Path("assets/results")


def loadavg() -> str:
    """The 1/5/15-minute load averages (``/proc/loadavg``), or '' where there is none."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def machine() -> dict:
    """A description of this machine for the results files."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": str(torch.__version__), "python": platform.python_version(), "platform": platform.platform()}


def time_to(history: list[dict], acc: float) -> float | None:
    """Training seconds until the first evaluation at or above ``acc`` (None if never)."""
    for r in history:
        if r["test_acc"] >= acc:
            return r["train_time"]
    return None


def _command() -> str:
    return "python -m vit_lessons " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_one(name: str, cfg, recipe, data, seed: int, out_dir: Path, device=None, progress=False) -> dict:
    """Train one configuration; returns a summary with the load average around it."""
    from .train import Trainer, log

    before = loadavg()
    t0 = time.time()
    # the benchmark decides itself which runs to reuse (fashion_mnist_10min); one it calls here starts afresh
    tr = Trainer(cfg, recipe, data, out_dir, device=device, seed=seed, progress=progress, overwrite=True,
                 extra={"command": _command(), "bench_run": name})
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


def _write(out: Path, summary: dict, runs: list[dict], table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    (out / "README.md").write_text(table)


def _copy_metrics(run_dir: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text((run_dir / "metrics.jsonl").read_text())


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _median_time(xs):
    """Median of times to a target; None (a run that never got there) counts as longer than any time."""
    if not xs:
        return None
    ts = sorted(xs, key=lambda x: math.inf if x is None else x)
    n = len(ts)
    if n % 2:
        return ts[n // 2]
    a, b = ts[n // 2 - 1], ts[n // 2]
    return None if a is None or b is None else (a + b) / 2


def _fmt_s(x) -> str:
    return "never" if x is None else f"{x:.0f} s"


def _setups(budget: float, evals_per_epoch: int):
    """(name, config, recipe) of the two recipes the 10-minute benchmark compares."""
    from .train import default_setup, tintn_setup

    ours = default_setup("fashion-mnist", time_budget=budget, evals_per_epoch=evals_per_epoch)
    tintn = tintn_setup(time_budget=budget, evals_per_epoch=evals_per_epoch)
    return [("ours", *ours), ("tintn", *tintn)]


def _pinned_run(core: int, name: str, cfg, recipe, seed: int, out_dir: Path, device, queue) -> None:
    """One benchmark run in a child process that has CPU core ``core`` to itself (one torch thread)."""
    from .data import load_dataset
    from .train import setup_logging

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    setup_logging()
    try:
        res = run_one(name, cfg, recipe, load_dataset("fashion-mnist"), seed, out_dir, device=device)
        res["cpu_affinity"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        queue.put((name, res))
    except BaseException as e:  # noqa: BLE001 - reported by the parent, which waits for every child
        queue.put((name, f"{type(e).__name__}: {e}"))


def _side_by_side(jobs: list[tuple], device) -> list[dict]:
    """Run (name, cfg, recipe, seed, out_dir) jobs at the same time, each in its own process on its own core."""
    import multiprocessing as mp

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if len(cores) < len(jobs):
        raise RuntimeError(f"--side-by-side needs {len(jobs)} CPU cores, this machine offers {len(cores)}")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_pinned_run, args=(core, *job, device, q)) for core, job in zip(cores, jobs)]
    for p in procs:
        p.start()
    import queue

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


def fashion_mnist_10min(seeds=(0, 1, 2), budget: float = 600.0, out: Path = RESULTS / "fashion_mnist_10min",
                        runs_dir: Path = Path("experiments/bench"), checkpoint: Path | None = None,
                        evals_per_epoch: int = 2, device=None, side_by_side: bool = False) -> dict:
    """Our recipe and tintn's seed recipe at the same wall-clock budget, seed by seed.

    By default the two run one after the other with the threads torch is given; with
    ``side_by_side`` they run at the same time, each in its own process pinned to its own
    core with one thread, so both see exactly the same machine conditions.
    """
    from .data import load_dataset
    from .train import export_checkpoint

    data = None if side_by_side else load_dataset("fashion-mnist")
    runs, start_load = [], loadavg()
    done = _finished_runs(out)  # a benchmark that stopped part-way continues where it stopped
    setups = _setups(budget, evals_per_epoch)
    for seed in seeds:
        todo = []
        for name, cfg, recipe in setups:
            rd = runs_dir / f"fmnist{int(budget)}s-{name}-seed{seed}"
            prev = done.get((name, seed))
            if prev and prev["recipe"] == recipe.to_dict() and prev["model"] == cfg.to_dict() and \
                    prev.get("side_by_side", False) == side_by_side and (Path(prev["run_dir"]) / "last.pt").exists():
                runs.append(prev)
                continue
            todo.append((name, cfg, recipe, seed, rd))
        if side_by_side and todo:
            new = _side_by_side(todo, device)
        else:
            new = [run_one(name, cfg, recipe, data, seed, rd, device=device) for name, cfg, recipe, seed, rd in todo]
        for (name, *_rest, rd), r in zip(todo, new):
            r["side_by_side"] = side_by_side
            _copy_metrics(rd, out / f"{name}_seed{seed}.metrics.jsonl")
            runs.append(r)
        if todo:
            _write(out, {"partial": True}, runs, "partial results; the run is still going\n")
    start_load = runs[0]["loadavg_before"] if runs else start_load  # before the first run, even if reused
    end_load = runs[-1]["loadavg_after"] if runs else loadavg()  # after the last run, even if reused
    summ = {"benchmark": "fashion-mnist-10min", "command": _command(), "budget_s": budget, "seeds": list(seeds),
            "counted": "training wall-clock time only: data batching and augmentation, forward, backward, optimizer "
                       "steps; not counted: loading the dataset from disk, building the model, test evaluations "
                       f"({evals_per_epoch} per epoch, clock paused)",
            "side_by_side": side_by_side,
            "how": ("side by side: for each seed both recipes trained at the same time, each in its own process "
                    "pinned to its own core, one torch thread each" if side_by_side else
                    "one run after the other, each with the whole machine"),
            "machine": machine() | ({"torch_threads": 1} if side_by_side else {}),
            "loadavg_start": start_load, "loadavg_end": end_load,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    for name in ("ours", "tintn"):
        rs = [r for r in runs if r["name"] == name]
        summ[name] = {"median_acc": _median([r["final_acc"] for r in rs]),
                      "accs": [r["final_acc"] for r in rs],
                      "median_time_to_85": _median_time([r["time_to_85"] for r in rs]),
                      "times_to_85": [r["time_to_85"] for r in rs],
                      "median_epochs": _median([r["epochs"] for r in rs]),
                      "median_images_per_s": _median([r["images_per_s"] for r in rs]),
                      "num_params": rs[0]["num_params"], "model": rs[0]["model"], "recipe": rs[0]["recipe"]}
    a, b = summ["ours"]["median_time_to_85"], summ["tintn"]["median_time_to_85"]
    summ["time_to_85_ratio_tintn_over_ours"] = round(b / a, 2) if a and b else None
    if a and not b:  # tintn's median run never got there: the ratio is at least budget / ours
        summ["time_to_85_ratio_at_least"] = round(budget / a, 2)
    if checkpoint is not None:  # the median seed of our recipe becomes the shared checkpoint
        ours = sorted((r for r in runs if r["name"] == "ours"), key=lambda r: r["final_acc"])
        med = ours[len(ours) // 2]
        rec = {"test_acc": med["final_acc"], "test_correct": med["final_correct"], "seed": med["seed"],
               "train_time_s": med["train_time"], "epochs": med["epochs"], "command": _command(),
               "how": summ["how"],
               "note": f"median of seeds {list(seeds)} of our recipe in the fashion-mnist-10min benchmark; "
                       f"weights at the end of the {budget:.0f} s budget (last.pt, not the best evaluation)",
               "machine": summ["machine"], "loadavg_before": med["loadavg_before"],
               "loadavg_after": med["loadavg_after"]}
        export_checkpoint(Path(med["run_dir"]) / "last.pt", checkpoint, record=rec)
        Path(checkpoint).with_suffix(".json").write_text(json.dumps(rec, indent=2) + "\n")
        _copy_metrics(Path(med["run_dir"]), Path(checkpoint).with_suffix(".metrics.jsonl"))
        summ["checkpoint"] = {"path": str(checkpoint), **rec}
    _write(out, summ, runs, _fmnist_table(summ, runs))
    return summ


def _finished_runs(out: Path) -> dict:
    """(name, seed) -> run summary of the runs an earlier call of the benchmark already finished."""
    f = out / "runs.jsonl"
    if not f.exists():
        return {}
    runs = [json.loads(s) for s in f.read_text().splitlines() if s.strip()]
    return {(r["name"], r["seed"]): r for r in runs}


def _fmnist_table(s: dict, runs: list[dict]) -> str:
    m = s["machine"]
    lines = [f"# Fashion-MNIST, {s['budget_s']:.0f} s of training on a {m['cpu_count']}-core CPU "
             f"({m['torch_threads']} torch thread(s) per run)", "",
             f"Command: `{s['command']}`  ", f"Date: {s['date']}  ",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
             f"python {m['python']}, {m['platform']}  ",
             f"Load average (1/5/15 min) at start: {s['loadavg_start']}; at end: {s['loadavg_end']}. "
             + ("Side by side, a load near 2 is the two runs themselves; more means other work shared the machine "
                "(see each run's load average).  " if s.get("side_by_side") else
                "The machine may have been shared with other work, so throughput can vary between runs (see each "
                "run's load average).  "),
             f"Counted time: {s['counted']}.  ", f"How: {s.get('how', 'one run after the other')}.", "",
             "| recipe | median test acc | accs (seeds) | median time to 85% | median epochs | img/s | params |",
             "|---|---|---|---|---|---|---|"]
    for name in ("ours", "tintn"):
        r = s[name]
        lines.append(f"| {name} | {r['median_acc']:.2%} | {', '.join(f'{a:.2%}' for a in r['accs'])} | "
                     f"{_fmt_s(r['median_time_to_85'])} | {r['median_epochs']:.1f} | {r['median_images_per_s']:.0f} | "
                     f"{r['num_params']:,} |")
    ratio = s["time_to_85_ratio_tintn_over_ours"]
    if ratio is None and s.get("time_to_85_ratio_at_least"):
        ratio = (f"more than {s['time_to_85_ratio_at_least']} (the median tintn run did not reach 85% within the "
                 f"budget; the ratio is at least budget / our median time)")
    lines += ["", f"Time to 85%, tintn / ours (medians): {ratio}", "", "Runs:", "",
              "| recipe | seed | test acc | epochs | time to 85% | img/s | load before | load after |",
              "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['name']} | {r['seed']} | {r['final_acc']:.2%} | {r['epochs']:.2f} | "
                     f"{_fmt_s(r['time_to_85'])} | {r['images_per_s']:.0f} | {r['loadavg_before']} | "
                     f"{r['loadavg_after']} |")
    return "\n".join(lines) + "\n"


# name -> (model overrides, recipe overrides); each switches one ingredient off, or swaps one design choice
ABLATIONS = {
    "full recipe": ({}, {}),
    "timm init instead of mimetic": ({}, {"init": "timm"}),
    "learned positions instead of sin-cos": ({"pos_embed": "learned"}, {}),
    "no label smoothing": ({}, {"label_smoothing": 0.0}),
    "with crop + flip augmentation": ({}, {"crop_pad": 2, "flip": True}),
    "no warm-up/cosine (constant lr)": ({}, {"schedule": "constant", "warmup": 0.0}),
    "no gradient clipping": ({}, {"grad_clip": 0.0}),
    "mean pooling instead of CLS": ({"pool": "mean"}, {}),
    "D 96 instead of 64": ({"embed_dim": 96}, {}),
    "patch 4 instead of 7": ({"patch_size": 4}, {}),
    "tintn seed recipe": (None, None),
}


def ablations(budget: float = 120.0, seed: int = 0, only=None, out: Path | None = None,
              runs_dir: Path = Path("experiments/ablations"), device=None, epochs: int = 0) -> dict:
    """Each recipe ingredient switched off in turn, same wall-clock budget (or, with ``epochs``, the same
    number of epochs, which does not depend on the machine's load), one seed."""
    from .data import load_dataset
    from .train import default_setup, tintn_setup

    tag = f"{epochs}ep" if epochs else f"{int(budget)}s"
    length = {"epochs": epochs, "time_budget": 0.0} if epochs else {"time_budget": budget}
    out = out or RESULTS / f"ablations_{tag}"
    data = load_dataset("fashion-mnist")
    runs, start = [], loadavg()
    for name, (m, r) in ABLATIONS.items():
        if only and name not in only:
            continue
        if m is None:
            cfg, recipe = tintn_setup(**length)
        else:
            cfg, recipe = default_setup("fashion-mnist", **length, **r)
            cfg = cfg.replace(**m) if m else cfg
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name.split(" (")[0]).strip("-")
        res = run_one(name, cfg, recipe, data, seed, runs_dir / f"{tag}-{slug}", device=device)
        _copy_metrics(runs_dir / f"{tag}-{slug}", out / f"{slug}.metrics.jsonl")
        runs.append(res)
        _write(out, {"partial": True}, runs, "partial results; the run is still going\n")
    summ = {"benchmark": "ablations", "command": _command(), "budget_s": 0 if epochs else budget, "epochs": epochs,
            "seed": seed, "machine": machine(),
            "loadavg_start": start, "loadavg_end": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "counted": (f"{epochs} epochs per variant, whatever the time" if epochs else
                        "training wall-clock time only (evaluation once per epoch, clock paused)")}
    base = runs[0]["final_acc"] if runs and runs[0]["name"] == "full recipe" else None
    what = f"{epochs} epochs" if epochs else f"{budget:.0f} s of training"
    lines = [f"# Ablations: Fashion-MNIST, {what} each, seed {seed}", "",
             f"Command: `{summ['command']}`  ", f"Date: {summ['date']}  ",
             f"Machine: {summ['machine']['cpu']}, {summ['machine']['cpu_count']} cores, torch "
             f"{summ['machine']['torch']}; load average at start {start}, at end {summ['loadavg_end']}  ",
             "A short run: these measure what each ingredient is worth early in training, not at 10 minutes. "
             + ("Same number of epochs for every variant, so faster variants get no credit for speed (see img/s; "
                "it is only indicative, the machine was shared). " if epochs else "") +
             "One seed each, so differences below ~0.3 points are within seed noise.", "",
             "| variant | test acc | vs full | epochs | img/s | load before | load after |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        d = f"{(r['final_acc'] - base) * 100:+.2f}" if base is not None else ""
        lines.append(f"| {r['name']} | {r['final_acc']:.2%} | {d} | {r['epochs']:.2f} | {r['images_per_s']:.0f} | "
                     f"{r['loadavg_before']} | {r['loadavg_after']} |")
    _write(out, summ, runs, "\n".join(lines) + "\n")
    return summ


def _need_cuda(device) -> torch.device:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return dev


def gpu_fashion_mnist(budget: float = 300.0, seeds=(0,), out: Path = RESULTS / "gpu_fashion_mnist_5min",
                      device=None, preset: str = "cifar_gpu", batch_size: int = 512, lr: float = 2e-3,
                      allow_cpu: bool = False, runs_dir: Path = Path("experiments/bench-gpu")) -> dict:
    """Fashion-MNIST on a GPU within ``budget`` seconds: bf16 autocast, data on the GPU; reports throughput."""
    from .config import ViTConfig
    from .data import load_dataset
    from .train import default_setup

    dev = _need_cuda(device)
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
    summ = {"benchmark": "gpu-fashion-mnist", "command": _command(), "budget_s": budget, "machine": machine(),
            "device": str(dev), "median_acc": _median([r["final_acc"] for r in runs]),
            "median_images_per_s": _median([r["images_per_s"] for r in runs]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write(out, summ, runs, f"# Fashion-MNIST on {summ['machine']['gpu'] or dev}, {budget:.0f} s\n\n"
                            f"Command: `{summ['command']}`\n\nMedian test accuracy {summ['median_acc']:.2%}, "
                            f"{summ['median_images_per_s']:.0f} training images/s.\n")
    return summ


def cifar_epoch_time(steps: int | None = None, device=None, out: Path | None = RESULTS / "cifar10_epoch_time",
                     batch_size: int | None = None, n_images: int = 50_000) -> dict:
    """Seconds per epoch of the CIFAR-10 recipe on synthetic 32x32 data (50,000 images), so a run can be planned."""
    from .train import Trainer, default_setup

    dev = _need_cuda(device)
    cfg, recipe = default_setup("cifar10", epochs=1)
    if batch_size:
        recipe = dataclasses.replace(recipe, batch_size=batch_size)
    tr = Trainer(cfg, recipe, _synthetic("cifar10", n_images), None, device=dev, seed=0, progress=False)
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
    res = {"benchmark": "cifar-epoch-time", "command": _command(), "device": str(dev), "machine": machine(),
           "model": cfg.to_dict(), "recipe": recipe.to_dict(), "steps_timed": n - warm, "steps_per_epoch": spe,
           "seconds_per_step": per_step, "epoch_seconds": per_step * spe,
           "images_per_s": recipe.batch_size / per_step if per_step else None, "loadavg": loadavg(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"CIFAR-10 recipe ({cfg.name}, {tr.model.num_params:,} params, batch {recipe.batch_size}) on {dev}: "
          f"{per_step * 1000:.1f} ms/step, {res['epoch_seconds']:.1f} s/epoch, {res['images_per_s']:.0f} img/s")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{dev.type}.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def _synthetic(dataset: str, n_images: int):
    """Random uint8 images and labels with ``dataset``'s shape: for timing, when the real data is not needed."""
    from .data import DATASETS, ImageData

    info = DATASETS[dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_images, info.in_chans, info.img_size, info.img_size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, info.num_classes, (n_images,), generator=g)
    return ImageData(info, x, y, x[:1000], y[:1000], source="synthetic")


KERNEL_VARIANTS = {  # name: (fused_attn, AdamW foreach)
    "SDPA attention, per-tensor AdamW": (True, False),
    "SDPA attention, foreach AdamW": (True, True),
    "explicit attention, per-tensor AdamW": (False, False),
    "explicit attention, foreach AdamW (the recipe)": (False, True),
}


def cpu_kernels(threads=(1, 2), rounds: int = 5, steps: int = 40, dataset: str = "fashion-mnist",
                out: Path | None = RESULTS / "cpu_kernels") -> dict:
    """Training images/s of ``dataset``'s recipe model on the CPU for each attention kernel and AdamW
    implementation. The variants take turns, ``rounds`` times, so a change in machine load hits them all
    alike; the medians and their ratios to the first variant are reported."""
    from .train import Trainer, default_setup

    cfg, recipe = default_setup(dataset, epochs=1)
    data = _synthetic(dataset, recipe.batch_size * (steps + 5))
    before, rows = torch.get_num_threads(), []
    try:
        for th in threads:
            torch.set_num_threads(th)
            trainers = {}
            for name, (fused_attn, foreach) in KERNEL_VARIANTS.items():
                tr = Trainer(cfg.replace(fused_attn=fused_attn), recipe, data, None, device="cpu", seed=0,
                             progress=False)
                tr.optimizer.defaults["foreach"] = foreach
                for g in tr.optimizer.param_groups:
                    g["foreach"] = foreach
                trainers[name] = tr
            speeds = {name: [] for name in trainers}
            for k in range(rounds):
                names = list(trainers)
                for name in names[k % len(names):] + names[:k % len(names)]:  # a different order each round
                    tr = trainers[name]
                    batches = list(tr.batches.epoch(0))[:steps + 5]
                    for x, y in batches[:5]:  # warm-up: allocator, kernel choice
                        tr.train_step(x, y)
                    t0 = time.perf_counter()
                    for x, y in batches[5:]:
                        tr.train_step(x, y)
                    speeds[name].append(steps * recipe.batch_size / (time.perf_counter() - t0))
            base = statistics.median(speeds[next(iter(speeds))])
            for name, v in speeds.items():
                rows.append({"threads": th, "variant": name, "images_per_s": statistics.median(v),
                             "all_images_per_s": [round(s, 1) for s in v], "vs_first": statistics.median(v) / base})
    finally:
        torch.set_num_threads(before)
    res = {"benchmark": "cpu-kernels", "command": _command(), "dataset": dataset, "model": cfg.to_dict(),
           "batch_size": recipe.batch_size, "steps_per_timing": steps, "rounds": rounds, "machine": machine(),
           "loadavg": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    lines = [f"# CPU kernels: training images/s of the {dataset} recipe model ({cfg.name}, patch {cfg.patch_size}, "
             f"D {cfg.embed_dim}, {cfg.num_patches + 1} tokens, batch {recipe.batch_size})", "",
             f"Command: `{res['command']}`  ", f"Date: {res['date']}  ",
             f"Machine: {res['machine']['cpu']}, {res['machine']['cpu_count']} cores, torch {res['machine']['torch']}; "
             f"load average after {res['loadavg']}  ",
             f"Median of {rounds} timings of {steps} steps each; the variants take turns, so the ratios are "
             "measured side by side.", "", "| threads | variant | images/s | vs first |", "|---|---|---|---|"]
    lines += [f"| {r['threads']} | {r['variant']} | {r['images_per_s']:.0f} | {r['vs_first']:.2f}x |" for r in rows]
    table = "\n".join(lines) + "\n"
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(res, indent=2) + "\n")
        (out / "README.md").write_text(table)
    return res


# ---- command line ----------------------------------------------------------------------------------
def _bench_cmd(args) -> int:
    from .train import setup_logging

    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.budget is None:
        args.budget = {"ablations": 120.0, "gpu-fashion-mnist": 300.0}.get(args.which, 600.0)
    try:
        if args.which == "fashion-mnist-10min":
            s = fashion_mnist_10min(args.seeds, args.budget, Path(args.out or RESULTS / "fashion_mnist_10min"),
                                    checkpoint=Path(args.checkpoint) if args.checkpoint else None,
                                    evals_per_epoch=args.evals_per_epoch, device=args.device,
                                    side_by_side=args.side_by_side)
            print(_fmnist_table(s, []).split("Runs:")[0])
        elif args.which == "ablations":
            ablations(args.budget, args.seeds[0], only=args.only, out=Path(args.out) if args.out else None,
                      device=args.device, epochs=args.epochs or 0)
        elif args.which == "gpu-fashion-mnist":
            gpu_fashion_mnist(args.budget, args.seeds, Path(args.out or RESULTS / "gpu_fashion_mnist_5min"),
                              device=args.device, allow_cpu=args.allow_cpu)
        elif args.which == "cpu-kernels":
            cpu_kernels(tuple(args.thread_counts), out=Path(args.out or RESULTS / "cpu_kernels"))
        elif args.which == "cifar-epoch-time":
            cifar_epoch_time(args.steps, args.device, Path(args.out or RESULTS / "cifar10_epoch_time"))
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def register_cli(subparsers) -> None:
    """Add the ``bench`` sub-command."""
    import argparse

    p = subparsers.add_parser(
        "bench", help="benchmarks that write assets/results/ (not tests: they take minutes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a benchmark and write its results, with the command, machine, torch version and load "
                    "averages, under assets/results/.\n\n"
                    "  fashion-mnist-10min  our recipe vs tintn's seed recipe, --budget seconds each, per seed\n"
                    "  ablations            each recipe ingredient switched off, --budget seconds each\n"
                    "  gpu-fashion-mnist    GPU: bf16, data on the GPU, --budget seconds (default 300)\n"
                    "  cifar-epoch-time     CIFAR-10 recipe's seconds per epoch on synthetic 32x32 data\n"
                    "  cpu-kernels          images/s on the CPU: SDPA vs explicit attention, per-tensor vs foreach "
                    "AdamW")
    p.add_argument("which", choices=["fashion-mnist-10min", "ablations", "gpu-fashion-mnist", "cifar-epoch-time",
                                     "cpu-kernels"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--budget", type=float, default=None, help="seconds of training per run "
                   "(defaults: 600, ablations 120, gpu 300)")
    p.add_argument("--out", default=None, help="results folder (default under assets/results/)")
    p.add_argument("--checkpoint", default=None,
                   help="fashion-mnist-10min: export the median seed of our recipe here (e.g. "
                        "assets/checkpoints/fashion_mnist_vit.pt)")
    p.add_argument("--evals-per-epoch", type=int, default=2, help="test evaluations per epoch (clock paused)")
    p.add_argument("--epochs", type=int, default=None,
                   help="ablations: train this many epochs per variant instead of a time budget")
    p.add_argument("--only", nargs="+", default=None, help="ablations: run only these variants")
    p.add_argument("--steps", type=int, default=None, help="cifar-epoch-time: time this many steps, not an epoch")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch; on a machine shared with other work 1 thread per process avoids "
                        "threads waiting on each other (measured ~5x faster under load here)")
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2],
                   help="cpu-kernels: the torch thread counts to measure (default 1 2)")
    p.add_argument("--side-by-side", action="store_true",
                   help="fashion-mnist-10min: train both recipes at the same time, each in its own process on its "
                        "own core with one thread (needs 2 cores), so both see the same machine conditions")
    p.add_argument("--allow-cpu", action="store_true", help="gpu-fashion-mnist: run the GPU path on the CPU anyway")
    p.set_defaults(func=_bench_cmd)
