"""What the budgeted benchmarks share, those where every contestant trains for the same wall-clock
seconds, seed by seed (``bench fashion-mnist-10min``, ``bench small-data``): their common flags, when
an earlier call's run can be reused instead of trained again, and the summary's header and the
medians it gives for each contestant.

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..machine import command, loadavg
from .report import add_options, machine_record, median, median_time, today

__all__ = ["add_budget_options", "reusable", "summary_header", "contestant_medians"]


def add_budget_options(p: argparse.ArgumentParser, out: Path, runs_dir: Path, evals_per_epoch: int,
                       evals: str = "evaluations") -> None:
    """--out, --threads, --device, --budget (600 s), --seeds (0 1 2), --runs-dir and --evals-per-epoch.

    ``evals`` says what is evaluated for the help text ("test evaluations", ...).
    """
    add_options(p, out, budget=600.0, seeds=(0, 1, 2))
    p.add_argument("--runs-dir", type=Path, default=runs_dir,
                   help=f"where the run folders (checkpoints, metrics) go (default {runs_dir})")
    p.add_argument("--evals-per-epoch", type=int, default=evals_per_epoch,
                   help=f"{evals} per epoch, clock paused (default {evals_per_epoch})")


def reusable(prev: dict | None, cfg, recipe) -> bool:
    """True if ``prev``, an earlier call's run of the same name and seed (or None), trained this very model
    with this very recipe and its last.pt is still there."""
    return bool(prev) and prev["recipe"] == recipe.to_dict() and prev["model"] == cfg.to_dict() and \
        (Path(prev["run_dir"]) / "last.pt").exists()


def summary_header(benchmark: str, budget: float, seeds, runs: list[dict], start_load: str,
                   machine: dict | None = None, **fields) -> dict:
    """The summary's first fields: the benchmark, the command, the budget, the seeds, then ``fields`` (what
    was counted, how the runs shared the machine ...), the machine (default :func:`machine_record`), the
    load averages before the first run and after the last (reused runs included) and the date."""
    return {"benchmark": benchmark, "command": command(), "budget_s": budget, "seeds": list(seeds), **fields,
            "machine": machine_record() if machine is None else machine,
            "loadavg_start": runs[0]["loadavg_before"] if runs else start_load,
            "loadavg_end": runs[-1]["loadavg_after"] if runs else loadavg(), "date": today()}


def contestant_medians(rs: list[dict]) -> dict:
    """One contestant's runs (one per seed, at least one) in the summary: each run's test accuracy and time
    to 85%, their medians, the median epochs and throughput, its size, model and recipe."""
    if not rs:
        raise ValueError("contestant_medians needs at least one run: the contestant has no finished run")
    return {"median_acc": median([r["final_acc"] for r in rs]), "accs": [r["final_acc"] for r in rs],
            "median_time_to_85": median_time([r["time_to_85"] for r in rs]),
            "times_to_85": [r["time_to_85"] for r in rs], "median_epochs": median([r["epochs"] for r in rs]),
            "median_images_per_s": median([r["images_per_s"] for r in rs]), "num_params": rs[0]["num_params"],
            "model": rs[0]["model"], "recipe": rs[0]["recipe"]}
