"""What each ingredient of the Fashion-MNIST recipe is worth: switch one off (or swap one design choice)
at a time, with the same budget for every variant, one seed:

    python -m vit_lessons bench ablations --epochs 2     # 2 epochs each, whatever the time
    python -m vit_lessons bench ablations --budget 120   # 120 s of training each

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..data import load_dataset
from ..machine import command, loadavg
from ..train import RECIPES
from .report import RESULTS, Benchmark, add_options, copy_metrics, machine_record, today, write_results
from .runs import run_one

__all__ = ["Ablation", "ABLATIONS", "ablations", "COMMANDS"]


@dataclass(frozen=True)
class Ablation:
    """One variant: a named recipe (``vit_lessons.train.RECIPES``) with some of its model or recipe changed.

    Built in notebooks/06_training.
    """

    name: str
    model: dict = field(default_factory=dict)  # changes to the recipe's model config
    recipe: dict = field(default_factory=dict)  # changes to the recipe
    base: str = "fashion-mnist"  # the named recipe it starts from


# each switches one ingredient off, or swaps one design choice; the first is the baseline of the table
ABLATIONS = (
    Ablation("full recipe"),
    Ablation("timm init instead of mimetic", recipe={"init": "timm"}),
    Ablation("learned positions instead of sin-cos", model={"pos_embed": "learned"}),
    Ablation("no label smoothing", recipe={"label_smoothing": 0.0}),
    Ablation("with crop + flip augmentation", recipe={"crop_pad": 2, "flip": True}),
    Ablation("no warm-up/cosine (constant lr)", recipe={"schedule": "constant", "warmup": 0.0}),
    Ablation("no gradient clipping", recipe={"grad_clip": 0.0}),
    Ablation("mean pooling instead of CLS", model={"pool": "mean"}),
    Ablation("D 96 instead of 64", model={"embed_dim": 96}),
    Ablation("patch 4 instead of 7", model={"patch_size": 4}),
    Ablation("tintn seed recipe", base="tintn"),
)


def ablations(budget: float = 120.0, seed: int = 0, only=None, out: Path | None = None,
              runs_dir: Path = Path("experiments/ablations"), device=None, epochs: int = 0) -> dict:
    """Each recipe ingredient switched off in turn, same wall-clock budget (or, with ``epochs``, the same
    number of epochs, which does not depend on the machine's load), one seed."""
    tag = f"{epochs}ep" if epochs else f"{int(budget)}s"
    length = {"epochs": epochs, "time_budget": 0.0} if epochs else {"time_budget": budget}
    out = out or RESULTS / f"ablations_{tag}"
    data = load_dataset("fashion-mnist")
    runs, start = [], loadavg()
    for ab in ABLATIONS:
        if only and ab.name not in only:
            continue
        cfg, recipe = RECIPES[ab.base].setup(**length, **ab.recipe)
        cfg = cfg.replace(**ab.model)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", ab.name.split(" (")[0]).strip("-")
        res = run_one(ab.name, cfg, recipe, data, seed, runs_dir / f"{tag}-{slug}", device=device)
        copy_metrics(runs_dir / f"{tag}-{slug}", out / f"{slug}.metrics.jsonl")
        runs.append(res)
        write_results(out, {"partial": True}, runs, "partial results; the run is still going\n")
    summ = {"benchmark": "ablations", "command": command(), "budget_s": 0 if epochs else budget, "epochs": epochs,
            "seed": seed, "machine": machine_record(), "loadavg_start": start, "loadavg_end": loadavg(),
            "date": today(),
            "counted": (f"{epochs} epochs per variant, whatever the time" if epochs else
                        "training wall-clock time only (evaluation once per epoch, clock paused)")}
    write_results(out, summ, runs, _table(summ, runs, budget, epochs, seed))
    return summ


def _table(summ: dict, runs: list[dict], budget: float, epochs: int, seed: int) -> str:
    first = runs[0] if runs and runs[0]["name"] == ABLATIONS[0].name else None
    base = first["final_acc"] if first else None
    base_val = first.get("val_acc") if first else None
    what = f"{epochs} epochs" if epochs else f"{budget:.0f} s of training"
    m = summ["machine"]
    lines = [f"# Ablations: Fashion-MNIST, {what} each, seed {seed}", "",
             f"Command: `{summ['command']}`  ", f"Date: {summ['date']}  ",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']}; load average at start "
             f"{summ['loadavg_start']}, at end {summ['loadavg_end']}  ",
             "A short run: these measure what each ingredient is worth early in training, not at 10 minutes. "
             + ("Same number of epochs for every variant, so faster variants get no credit for speed (see img/s; "
                "it is only indicative, the machine was shared). " if epochs else "") +
             "One seed each, so differences below ~0.3 points are within seed noise. Verdicts are read on the "
             "validation split (5,000 training images held out); the test accuracy of the same evaluation is "
             "reported beside it and chose nothing.", "",
             "| variant | val acc | vs full (val) | test acc | vs full (test) | epochs | img/s | load before | "
             "load after |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        d = f"{(r['final_acc'] - base) * 100:+.2f}" if base is not None else ""
        val = r.get("val_acc")
        dv = f"{(val - base_val) * 100:+.2f}" if val is not None and base_val is not None else ""
        lines.append(f"| {r['name']} | {'-' if val is None else f'{val:.2%}'} | {dv} | {r['final_acc']:.2%} | {d} | "
                     f"{r['epochs']:.2f} | {r['images_per_s']:.0f} | {r['loadavg_before']} | {r['loadavg_after']} |")
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, None, budget=120.0, seeds=(0,))
    p.add_argument("--epochs", type=int, default=0, help="train this many epochs per variant instead of a time budget")
    p.add_argument("--only", nargs="+", default=None, choices=[a.name for a in ABLATIONS], metavar="VARIANT",
                   help="run only these variants (their names as in ABLATIONS, quoted)")


def _run(args: argparse.Namespace) -> None:
    ablations(args.budget, args.seeds[0], only=args.only, out=args.out, device=args.device, epochs=args.epochs)


COMMANDS = (Benchmark("ablations", "each recipe ingredient switched off, --budget seconds (or --epochs) each",
                      _add_arguments, _run),)
