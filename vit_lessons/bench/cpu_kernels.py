"""Training speed on the CPU for each attention kernel and AdamW implementation, measured side by side:

    python -m vit_lessons bench cpu-kernels --thread-counts 1 2

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..machine import command, loadavg
from ..train import Trainer, default_setup
from .report import RESULTS, Benchmark, add_options, machine_record, today
from .runs import synthetic

__all__ = ["KernelVariant", "KERNEL_VARIANTS", "cpu_kernels", "COMMANDS"]

OUT = RESULTS / "cpu_kernels"


@dataclass(frozen=True)
class KernelVariant:
    """Which attention kernel and which AdamW update one timing uses.

    Built in notebooks/06_training.
    """

    name: str
    fused_attn: bool  # torch's scaled_dot_product_attention, or the written-out softmax(QK^T/sqrt d)V
    foreach: bool  # AdamW's multi-tensor update, or one tensor at a time


KERNEL_VARIANTS = (  # the first is the baseline of the ratios
    KernelVariant("SDPA attention, per-tensor AdamW", fused_attn=True, foreach=False),
    KernelVariant("SDPA attention, foreach AdamW", fused_attn=True, foreach=True),
    KernelVariant("explicit attention, per-tensor AdamW", fused_attn=False, foreach=False),
    KernelVariant("explicit attention, foreach AdamW (the recipe)", fused_attn=False, foreach=True),
)


def cpu_kernels(threads=(1, 2), rounds: int = 5, steps: int = 40, dataset: str = "fashion-mnist",
                out: Path | None = OUT) -> dict:
    """Training images/s of ``dataset``'s recipe model on the CPU for each attention kernel and AdamW
    implementation. The variants take turns, ``rounds`` times, so a change in machine load hits them all
    alike; the medians and their ratios to the first variant are reported."""
    cfg, recipe = default_setup(dataset, epochs=1, val_size=0)  # a timing: every synthetic image trains
    data = synthetic(dataset, recipe.batch_size * (steps + 5))
    before, rows = torch.get_num_threads(), []
    try:
        for th in threads:
            torch.set_num_threads(th)
            trainers = {}
            for v in KERNEL_VARIANTS:
                tr = Trainer(cfg.replace(fused_attn=v.fused_attn), recipe, data, None, device="cpu", seed=0,
                             progress=False)
                tr.optimizer.defaults["foreach"] = v.foreach
                for g in tr.optimizer.param_groups:
                    g["foreach"] = v.foreach
                trainers[v.name] = tr
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
            base = statistics.median(speeds[KERNEL_VARIANTS[0].name])
            for name, v in speeds.items():
                rows.append({"threads": th, "variant": name, "images_per_s": statistics.median(v),
                             "all_images_per_s": [round(s, 1) for s in v], "vs_first": statistics.median(v) / base})
    finally:
        torch.set_num_threads(before)
    res = {"benchmark": "cpu-kernels", "command": command(), "dataset": dataset, "model": cfg.to_dict(),
           "batch_size": recipe.batch_size, "steps_per_timing": steps, "rounds": rounds, "machine": machine_record(),
           "loadavg": loadavg(), "date": today(), "rows": rows}
    table = _table(res, cfg, recipe.batch_size)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(res, indent=2) + "\n")
        (out / "README.md").write_text(table)
    return res


def _table(res: dict, cfg, batch_size: int) -> str:
    lines = [f"# CPU kernels: training images/s of the {res['dataset']} recipe model ({cfg.name}, patch "
             f"{cfg.patch_size}, D {cfg.embed_dim}, {cfg.num_patches + 1} tokens, batch {batch_size})", "",
             f"Command: `{res['command']}`  ", f"Date: {res['date']}  ",
             f"Machine: {res['machine']['cpu']}, {res['machine']['cpu_count']} cores, torch {res['machine']['torch']}; "
             f"load average after {res['loadavg']}  ",
             f"Median of {res['rounds']} timings of {res['steps_per_timing']} steps each; the variants take turns, so "
             "the ratios are measured side by side.", "", "| threads | variant | images/s | vs first |",
             "|---|---|---|---|"]
    lines += [f"| {r['threads']} | {r['variant']} | {r['images_per_s']:.0f} | {r['vs_first']:.2f}x |"
              for r in res["rows"]]
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT, device=False)
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2],
                   help="the torch thread counts to measure (default 1 2)")


COMMANDS = (Benchmark("cpu-kernels", "images/s on the CPU: SDPA vs explicit attention, per-tensor vs foreach AdamW",
                      _add_arguments, lambda a: cpu_kernels(tuple(a.thread_counts), out=a.out)),)
