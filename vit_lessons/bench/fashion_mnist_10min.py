"""Our Fashion-MNIST recipe against tintn's seed recipe at the same wall-clock budget, seed by seed:

    python -m vit_lessons bench fashion-mnist-10min --seeds 0 1 2     # 10 minutes of training per run

A call that stopped part-way continues where it stopped: finished runs with the same model and
recipe are reused. ``--checkpoint`` exports the median seed of our recipe (assets/checkpoints/).

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data import load_dataset
from ..machine import command, loadavg
from ..train import default_setup, export_checkpoint, tintn_setup
from .budgeted import add_budget_options, contestant_medians, reusable, summary_header
from .report import RESULTS, Benchmark, copy_metrics, finished_runs, fmt_s, machine_record, write_results
from .runs import run_one, run_side_by_side

__all__ = ["fashion_mnist_10min", "COMMANDS"]

OUT = RESULTS / "fashion_mnist_10min"
RUNS_DIR = Path("experiments/bench")


def _setups(budget: float, evals_per_epoch: int):
    """(name, config, recipe) of the two recipes the benchmark compares."""
    ours = default_setup("fashion-mnist", time_budget=budget, evals_per_epoch=evals_per_epoch)
    tintn = tintn_setup(time_budget=budget, evals_per_epoch=evals_per_epoch)
    return [("ours", *ours), ("tintn", *tintn)]


def fashion_mnist_10min(seeds=(0, 1, 2), budget: float = 600.0, out: Path = OUT,
                        runs_dir: Path = RUNS_DIR, checkpoint: Path | None = None,
                        evals_per_epoch: int = 2, device=None, side_by_side: bool = False) -> dict:
    """Our recipe and tintn's seed recipe at the same wall-clock budget, seed by seed.

    By default the two run one after the other with the threads torch is given; with
    ``side_by_side`` they run at the same time, each in its own process pinned to its own
    core with one thread, so both see exactly the same machine conditions.
    """
    data = None if side_by_side else load_dataset("fashion-mnist")
    runs, start_load = [], loadavg()
    done = finished_runs(out)  # a benchmark that stopped part-way continues where it stopped
    for seed in seeds:
        todo = []
        for name, cfg, recipe in _setups(budget, evals_per_epoch):
            rd = runs_dir / f"fmnist{int(budget)}s-{name}-seed{seed}"
            prev = done.get((name, seed))
            if reusable(prev, cfg, recipe) and prev.get("side_by_side", False) == side_by_side:
                runs.append(prev)
                continue
            todo.append((name, cfg, recipe, seed, rd))
        if side_by_side and todo:
            new = run_side_by_side("fashion-mnist", todo, device)
        else:
            new = [run_one(name, cfg, recipe, data, seed, rd, device=device) for name, cfg, recipe, seed, rd in todo]
        for (name, *_rest, rd), r in zip(todo, new):
            r["side_by_side"] = side_by_side
            copy_metrics(rd, out / f"{name}_seed{seed}.metrics.jsonl")
            runs.append(r)
        if todo:
            write_results(out, {"partial": True}, runs, "partial results; the run is still going\n")
    summ = _summary(runs, seeds, budget, evals_per_epoch, side_by_side, start_load)
    if checkpoint is not None:
        summ["checkpoint"] = {"path": str(checkpoint), **_export_median(runs, seeds, budget, summ, checkpoint)}
    write_results(out, summ, runs, _table(summ, runs))
    return summ


def _summary(runs, seeds, budget, evals_per_epoch, side_by_side, start_load) -> dict:
    summ = summary_header(
        "fashion-mnist-10min", budget, seeds, runs, start_load,
        machine=machine_record() | ({"torch_threads": 1} if side_by_side else {}),
        counted="training wall-clock time only: data batching and augmentation, forward, backward, optimizer "
                "steps; not counted: loading the dataset from disk, building the model, test evaluations "
                f"({evals_per_epoch} per epoch, clock paused)",
        side_by_side=side_by_side,
        how=("side by side: for each seed both recipes trained at the same time, each in its own process "
             "pinned to its own core, one torch thread each" if side_by_side else
             "one run after the other, each with the whole machine"))
    for name in ("ours", "tintn"):
        summ[name] = contestant_medians([r for r in runs if r["name"] == name])
    a, b = summ["ours"]["median_time_to_85"], summ["tintn"]["median_time_to_85"]
    summ["time_to_85_ratio_tintn_over_ours"] = round(b / a, 2) if a and b else None
    if a and not b:  # tintn's median run never got there: the ratio is at least budget / ours
        summ["time_to_85_ratio_at_least"] = round(budget / a, 2)
    return summ


def _export_median(runs, seeds, budget, summ, checkpoint: Path) -> dict:
    """The median seed of our recipe becomes the shared checkpoint; returns its record."""
    ours = sorted((r for r in runs if r["name"] == "ours"), key=lambda r: r["final_acc"])
    med = ours[len(ours) // 2]
    rec = {"test_acc": med["final_acc"], "test_correct": med["final_correct"], "seed": med["seed"],
           "train_time_s": med["train_time"], "epochs": med["epochs"], "command": command(), "how": summ["how"],
           "note": f"median of seeds {list(seeds)} of our recipe in the fashion-mnist-10min benchmark; "
                   f"weights at the end of the {budget:.0f} s budget (last.pt, not the best evaluation)",
           "machine": summ["machine"], "loadavg_before": med["loadavg_before"], "loadavg_after": med["loadavg_after"]}
    export_checkpoint(Path(med["run_dir"]) / "last.pt", checkpoint, record=rec)
    Path(checkpoint).with_suffix(".json").write_text(json.dumps(rec, indent=2) + "\n")
    copy_metrics(Path(med["run_dir"]), Path(checkpoint).with_suffix(".metrics.jsonl"))
    return rec


def _table(s: dict, runs: list[dict]) -> str:
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
                     f"{fmt_s(r['median_time_to_85'])} | {r['median_epochs']:.1f} | {r['median_images_per_s']:.0f} | "
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
                     f"{fmt_s(r['time_to_85'])} | {r['images_per_s']:.0f} | {r['loadavg_before']} | "
                     f"{r['loadavg_after']} |")
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_budget_options(p, OUT, RUNS_DIR, evals_per_epoch=2, evals="test evaluations")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="export the median seed of our recipe here (e.g. assets/checkpoints/fashion_mnist_vit.pt)")
    p.add_argument("--side-by-side", action="store_true",
                   help="train both recipes at the same time, each in its own process on its own core with one "
                        "thread (needs 2 cores), so both see the same machine conditions")


def _run(args: argparse.Namespace) -> None:
    s = fashion_mnist_10min(args.seeds, args.budget, args.out, args.runs_dir, checkpoint=args.checkpoint,
                            evals_per_epoch=args.evals_per_epoch, device=args.device,
                            side_by_side=args.side_by_side)
    print(_table(s, []).split("Runs:")[0])


COMMANDS = (Benchmark("fashion-mnist-10min", "our recipe vs tintn's seed recipe, --budget seconds each, per seed",
                      _add_arguments, _run),)
