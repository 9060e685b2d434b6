"""Which explanation is faithful? Deletion and insertion-side curves of every relevance method, on the
committed Fashion-MNIST checkpoints:

    python -m vit_lessons bench explain --threads 1

For each checkpoint, the first ``--images`` test images and each image's predicted class: every
method of :data:`vit_lessons.relevance.METHODS` ranks the 16 patches; the patches are removed in
that order, most relevant first (deletion: a low area under the probability curve is good) and
least relevant first (the insertion side: a high area is good), painted with the dataset mean
(0 after normalisation) and, to show what the fill does, with black (pixel 0). Means over images
with 95% bootstrap intervals, and each method's paired difference to the random order.

Built in notebooks/07_looking_inside.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import time
from pathlib import Path

import torch

from ..data import load_dataset, normalize_batch
from ..faithfulness import FILLS, ORDERS, bootstrap_ci, curve_auc, perturbation_curve
from ..machine import command, loadavg
from ..relevance import METHODS, relevance_map
from ..train import load_model, log, setup_logging
from .report import RESULTS, Benchmark, add_options, machine_record, today, write_results

__all__ = ["CHECKPOINTS", "explain_faithfulness", "COMMANDS"]

OUT = RESULTS / "explain_faithfulness"
CHECKPOINTS = (Path("assets/checkpoints/fashion_mnist_vit.pt"),  # sin-cos positions
               Path("assets/checkpoints/fashion_mnist_vit_learned_pos.pt"))
SIDES = {"most-first": "deletion", "least-first": "insertion"}  # order -> the name of its area


def _method_run(model, x, pred, method: str, fills, norm, seed: int, batch_size: int, options: dict) -> dict:
    """One method on one checkpoint: per-image areas for every (fill, order), mean curves, seconds."""
    g = torch.Generator().manual_seed(seed)  # the same ties, and the same random order, on every run
    aucs = {(f, o): [] for f in fills for o in ORDERS}
    curves = {(f, o): torch.zeros(model.config.num_patches + 1) for f in fills for o in ORDERS}
    map_s = curve_s = 0.0
    for i in range(0, len(x), batch_size):
        xb, tb = x[i:i + batch_size], pred[i:i + batch_size]
        t0 = time.perf_counter()
        rel = relevance_map(method, model, xb, tb, **options.get(method, {}))  # (b, gh, gw)
        t1 = time.perf_counter()
        for f in fills:
            for o in ORDERS:
                c = perturbation_curve(model, xb, rel, tb, o, f, mean=norm[0], std=norm[1], generator=g,
                                       batch_size=None).cpu()  # (b, N + 1)
                aucs[(f, o)].append(curve_auc(c))
                curves[(f, o)] += c.sum(dim=0)
        map_s, curve_s = map_s + t1 - t0, curve_s + time.perf_counter() - t1
    return {"aucs": {k: torch.cat(v) for k, v in aucs.items()},
            "curves": {k: (v / len(x)).tolist() for k, v in curves.items()}, "map_s": map_s, "curve_s": curve_s}


def _checkpoint(job: tuple) -> tuple[dict, list[dict]]:
    """Every method on one checkpoint: (the checkpoint's record, one row per method)."""
    ck, methods, images, fills, seed, batch_size, n_boot, ig_steps, device, threads = job
    torch.set_num_threads(threads)  # a worker process starts with torch's default
    setup_logging()
    data = load_dataset("fashion-mnist")
    norm = (data.info.mean, data.info.std)
    model = load_model(ck)[0].to(device)
    x = normalize_batch(data.test_x[:images].to(device), *norm)  # (B, 1, 28, 28)
    y = data.test_y[:images].to(device)
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch_size]).argmax(-1) for i in range(0, images, batch_size)])  # (B,)
    acc = float((pred == y).float().mean())
    per_image, rows = {}, []
    for method in methods:
        r = _method_run(model, x, pred, method, fills, norm, seed, batch_size,
                        {"integrated-gradients": {"steps": ig_steps}})
        per_image[method] = r["aucs"]
        row = {"checkpoint": str(ck), "method": method, "images": images, "accuracy": acc,
               "map_s": round(r["map_s"], 3), "curve_s": round(r["curve_s"], 3),
               "s_per_100": round((r["map_s"] + r["curve_s"]) / images * 100, 3), "threads": threads}
        for (f, o), v in r["aucs"].items():
            key = f"{SIDES[o]}_{f}"
            gen = torch.Generator().manual_seed(seed)  # the same resamples for every method: paired comparisons
            row[key] = dict(zip(("mean", "lo", "hi"), bootstrap_ci(v, n_boot, generator=gen)))
            if method != "random" and "random" in per_image:
                diff = v - per_image["random"][(f, o)]  # (B,): paired over images
                row[key]["minus_random"] = dict(zip(("mean", "lo", "hi"), bootstrap_ci(diff, n_boot, generator=gen)))
            row[key]["curve"] = [round(p, 5) for p in r["curves"][(f, o)]]
        rows.append(row)
        d, i = row[f"deletion_{fills[0]}"]["mean"], row[f"insertion_{fills[0]}"]["mean"]
        log.info(f"{ck.name} {method:>20}: deletion {d:.3f}, insertion {i:.3f} ({fills[0]} fill), "
                 f"{row['s_per_100']:.1f} s per 100 images")
    return {"checkpoint": str(ck), "pos_embed": model.config.pos_embed, "accuracy": acc}, rows


def explain_faithfulness(checkpoints=CHECKPOINTS, methods=None, images: int = 2000, fills=FILLS, seed: int = 0,
                         out: Path | None = OUT, batch_size: int = 500, n_boot: int = 2000, ig_steps: int = 32,
                         device=None, jobs: int = 1) -> dict:
    """Deletion and insertion-side areas of every method on every checkpoint; writes ``out`` unless it is None.

    ``jobs`` checkpoints at a time, each in its own process with this process's thread count.
    """
    methods = list(methods or METHODS)
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    checkpoints = [Path(c) for c in checkpoints]
    n_test = len(load_dataset("fashion-mnist").test_y)
    if not 2 <= images <= n_test:
        raise ValueError(f"--images must be between 2 and {n_test} (the test split), got {images}")
    for ck in checkpoints:
        if not ck.exists():
            raise ValueError(f"no checkpoint at {ck}: run from the repository root, or pass --checkpoints PATH ...")
    todo = [(ck, methods, images, tuple(fills), seed, batch_size, n_boot, ig_steps, device, torch.get_num_threads())
            for ck in checkpoints]
    start, results, runs = loadavg(), [], []
    with contextlib.ExitStack() as stack:
        if jobs > 1 and len(todo) > 1:
            done = stack.enter_context(mp.get_context("spawn").Pool(min(jobs, len(todo)))).imap(_checkpoint, todo)
        else:
            done = map(_checkpoint, todo)
        for record, rows in done:
            results.append(record)
            runs += rows
            if out is not None:
                write_results(out, {"partial": True}, runs, "partial results; the benchmark is still running\n")
    summ = {"benchmark": "explain", "command": command(), "checkpoints": results, "methods": methods,
            "images": images, "fills": list(fills), "seed": seed, "n_boot": n_boot, "ig_steps": ig_steps,
            "batch_size": batch_size, "device": device, "jobs": jobs, "results": runs, "machine": machine_record(),
            "loadavg_start": start, "loadavg_end": loadavg(), "date": today()}
    if out is not None:
        write_results(out, summ, runs, _readme(summ))
        log.info(f"wrote {out}/")
    return summ


def _cell(r: dict, diff: bool = False) -> str:
    s = f"{r['mean']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"
    if diff and "minus_random" in r:
        d = r["minus_random"]
        s += f" ({d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}])"
    return s


def _readme(s: dict) -> str:
    m = s["machine"]
    lines = ["# Faithfulness of the explanations: deletion and insertion-side curves", "",
             f"Command: `{s['command']}`  ", f"Date: {s['date']}  ",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads per process, "
             f"{s['jobs']} checkpoint(s) at a time, device {s['device']}, "
             f"torch {m['torch']}; load average at start {s['loadavg_start']}, at end {s['loadavg_end']}", "",
             f"The first {s['images']:,} Fashion-MNIST test images; each is explained for its predicted class. Each "
             "method ranks the 16 patches; they are removed one by one, most relevant first (**deletion**: the "
             "probability of the class should fall fast, so lower is better) or least relevant first (the "
             "**insertion** side: the most relevant patches stay longest, so higher is better), painted with the "
             "dataset mean (0 after normalisation) or with black (pixel 0). Area under the probability curve over "
             "0-16 removed patches, scaled to [0, 1]; mean over images with a 95% bootstrap interval "
             f"({s['n_boot']} resamples); in brackets after it, the paired difference to the random order. Ties in "
             f"a map are broken at random (seed {s['seed']}). Integrated gradients: {s['ig_steps']} steps from the "
             "mean image. Seconds per 100 images: the map and its four curves.", ""]
    for ck in s["checkpoints"]:
        rows = [r for r in s["results"] if r["checkpoint"] == ck["checkpoint"]]
        lines += [f"## `{ck['checkpoint']}` ({ck['pos_embed']} positions, accuracy {ck['accuracy']:.1%} on these "
                  "images)", ""]
        for f in s["fills"]:
            lines += [f"Removed patches painted with **{'the dataset mean' if f == 'mean' else 'black'}**:", "",
                      "| method | deletion AUC (lower is better) | insertion-side AUC (higher is better) "
                      "| s / 100 images |",
                      "|---|---|---|---|"]
            lines += [f"| {r['method']} | {_cell(r[f'deletion_{f}'], True)} | {_cell(r[f'insertion_{f}'], True)} | "
                      f"{r['s_per_100']:.1f} |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT)
    p.add_argument("--images", type=int, default=2000, help="first N test images (default 2000)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                   help=f"relevance methods (default: all: {' '.join(METHODS)})")
    p.add_argument("--checkpoints", nargs="+", type=Path, default=list(CHECKPOINTS), metavar="PATH",
                   help="course checkpoints of a 28 px Fashion-MNIST model (default: the two committed ones)")
    p.add_argument("--fills", nargs="+", default=list(FILLS), choices=list(FILLS),
                   help="what removed patches are painted with (default: mean zero)")
    p.add_argument("--seed", type=int, default=0, help="ties, the random order and the bootstrap (default 0)")
    p.add_argument("--batch-size", type=int, default=500, help="images per forward pass (default 500)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--ig-steps", type=int, default=32, help="integrated gradients' steps (default 32)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="checkpoints at a time, each in its own process with --threads threads (default 1)")


def _run(args: argparse.Namespace) -> None:
    explain_faithfulness(args.checkpoints, args.methods, args.images, tuple(args.fills), args.seed, args.out,
                         args.batch_size, args.boot, args.ig_steps, args.device, args.jobs)


COMMANDS = (Benchmark("explain", "faithfulness of every explanation method: deletion and insertion-side curves, "
                                 "mean and black fill, on the committed Fashion-MNIST checkpoints",
                      _add_arguments, _run),)
