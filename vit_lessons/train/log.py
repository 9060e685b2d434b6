"""Log lines of training runs and benchmarks: timestamped, on stdout, from the process that writes files.

Built in notebooks/06_training.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["log", "setup_logging"]

log = logging.getLogger("vit_lessons.train")


def setup_logging(level=logging.INFO) -> None:
    """Timestamped log lines on stdout: ``[2026-01-31 12:00:00|INFO] message``."""
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("[%(asctime)s|%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("vit_lessons")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False
