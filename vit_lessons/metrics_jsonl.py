"""A run's ``metrics.jsonl``: one JSON record per evaluation, read by the plots, written by the Trainer.

It sits outside ``vit_lessons.train`` so that plotting a finished run (``viz.plot_curves``) does
not import the trainer and its dependencies.

Built in notebooks/06_training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["read_metrics", "write_metrics", "append_metrics"]


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a ``metrics.jsonl`` (a run folder or the file itself).

    Built in notebooks/06_training.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"no metrics at {p}: give a run folder (experiments/<run>/) or its metrics.jsonl")
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def write_metrics(run_dir: str | os.PathLike, records: list[dict]) -> None:
    """Replace ``run_dir/metrics.jsonl`` with ``records``, atomically (a temporary file, then rename).

    Built in notebooks/06_training.
    """
    p = Path(run_dir) / "metrics.jsonl"
    tmp = p.with_name(".metrics.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, p)


def append_metrics(run_dir: str | os.PathLike, record: dict) -> None:
    """Add one record to the end of ``run_dir/metrics.jsonl``.

    Built in notebooks/06_training.
    """
    with open(Path(run_dir) / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
