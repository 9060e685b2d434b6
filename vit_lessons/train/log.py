"""Log lines of training runs and benchmarks: timestamped, on stdout, from the process that writes files.

Built in notebooks/06_training.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["log", "setup_logging", "progress_line"]

log = logging.getLogger("vit_lessons.train")


def setup_logging(level=logging.INFO) -> None:
    """Timestamped log lines on stdout: ``[2026-01-31 12:00:00|INFO] message``."""
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("[%(asctime)s|%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("vit_lessons")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False


def progress_line(epoch: int, step: int, steps_per_epoch: int, sec_per_step: float, loss: float) -> str:
    """Where a run is inside an epoch, for logs that go to a file or a pipe (no progress bar draws there).

    ``epoch`` counts from 0 (the epoch in progress), ``step`` is the step within it.
    """
    left = sec_per_step * (steps_per_epoch - step)
    return (f"epoch {epoch + 1}: {100 * step // steps_per_epoch:3d}% ({step}/{steps_per_epoch} steps) | "
            f"train loss {loss:.4f} | {sec_per_step:.2f} s/step, about {left:.0f} s to the epoch's end")
