"""What every benchmark shares: how it plugs into the command line, what it records about the machine,
medians, and the files it writes.

A benchmark module offers ``COMMANDS``, a tuple of :class:`Benchmark` records; listing the module
in ``vit_lessons/cli.py`` makes each one ``python -m vit_lessons bench <name>``. Its results folder
under ``assets/results/`` gets ``summary.json`` (the command, machine, versions, load averages,
medians), ``runs.jsonl`` (one line per run) and ``README.md`` (the same as tables).

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..machine import command, machine, versions

__all__ = ["Benchmark", "RESULTS", "add_options", "command", "machine_record", "today", "median", "median_time",
           "fmt_s", "write_results", "copy_metrics", "finished_runs"]

RESULTS = Path("assets/results")


@dataclass(frozen=True)
class Benchmark:
    """One ``python -m vit_lessons bench <name>`` command.

    Args:
        name: the word after ``bench``.
        help: one line for ``bench --help``.
        add_arguments: adds the benchmark's own flags to its argparse parser.
        run: runs it from the parsed arguments; it may return an exit status (an int), and a
            RuntimeError or ValueError it raises is shown as a one-line error.

    Built in notebooks/06_training.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], object]


def add_options(p: argparse.ArgumentParser, out: Path | None, budget: float | None = None, seeds=None,
                device: bool = True) -> None:
    """The flags benchmarks have in common: --out, --threads, and where they apply --budget, --seeds, --device."""
    p.add_argument("--out", type=Path, default=out,
                   help=f"results folder (default: {out or 'under ' + str(RESULTS)})")
    p.add_argument("--threads", dest="torch_threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch; on a machine shared with other work 1 thread per process avoids "
                        "threads waiting on each other (measured ~5x faster under load here)")
    if budget is not None:
        p.add_argument("--budget", type=float, default=budget, help=f"seconds of training per run (default {budget:g})")
    if seeds is not None:
        p.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                       help=f"seeds (default {' '.join(map(str, seeds))})")
    if device:
        p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")


def machine_record() -> dict:
    """The machine and versions, as every results file records them."""
    return machine() | versions()


def today() -> str:
    """Date and time for a results file."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


def median(xs):
    """Median of the values that are not None (None if there are none)."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def median_time(xs):
    """Median of times to a target; None (a run that never got there) counts as longer than any time."""
    if not xs:
        return None
    ts = sorted(xs, key=lambda x: math.inf if x is None else x)
    n = len(ts)
    if n % 2:
        return ts[n // 2]
    a, b = ts[n // 2 - 1], ts[n // 2]
    return None if a is None or b is None else (a + b) / 2


def fmt_s(x) -> str:
    """Seconds for a table; 'never' for a target not reached."""
    return "never" if x is None else f"{x:.0f} s"


def write_results(out: Path, summary: dict, runs: list[dict], table: str) -> None:
    """summary.json, runs.jsonl and README.md of a benchmark."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    (out / "README.md").write_text(table)


def copy_metrics(run_dir: Path, dst: Path) -> None:
    """Copy a run's metrics.jsonl next to the results."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text((run_dir / "metrics.jsonl").read_text())


def finished_runs(out: Path) -> dict:
    """(name, seed) -> run summary of the runs an earlier call of the benchmark already finished."""
    f = out / "runs.jsonl"
    if not f.exists():
        return {}
    runs = [json.loads(s) for s in f.read_text().splitlines() if s.strip()]
    return {(r["name"], r["seed"]): r for r in runs}
