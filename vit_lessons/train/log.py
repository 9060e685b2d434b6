"""Log lines of training runs and benchmarks: timestamped, on stdout, from the process that writes files.

Built in notebooks/06_training.
"""

from __future__ import annotations

import logging
import sys
import time

# the terminal bar (drawn only on a tty): tqdm.auto's notebook widget, and its warning without ipywidgets, never
from tqdm import tqdm

__all__ = ["log", "setup_logging", "progress_line", "EpochProgress"]

log = logging.getLogger("vit_lessons.train")


class _Stdout(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stdout`` is when a line is logged (a notebook's, a test's)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):  # StreamHandler.__init__ assigns it; the property always answers sys.stdout
        pass


def setup_logging(level=logging.INFO) -> None:
    """Timestamped log lines on stdout: ``[2026-01-31 12:00:00|INFO] message``."""
    h = _Stdout()
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


class EpochProgress:
    """What a run shows while an epoch trains: a tqdm bar on a terminal, a log line every 5% of the epoch
    when the output goes to a file or a pipe, nothing when ``enabled`` is False (other DDP ranks, progress off).

    Built in notebooks/06_training.
    """

    def __init__(self, epoch: int, steps_per_epoch: int, start: int, enabled: bool):
        self.epoch, self.spe, self.start = epoch, steps_per_epoch, start
        self.tty = enabled and sys.stderr.isatty()
        # into a file or a pipe the bar draws nothing: a log line at every 5% of an epoch instead
        self.log_at = {-(-steps_per_epoch * k // 20) for k in range(1, 20)} if enabled and not self.tty else set()
        self.bar = tqdm(total=steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}", leave=False,
                        disable=not self.tty, dynamic_ncols=True)
        self.began = time.perf_counter()

    def update(self, step: int, mean_loss, lr: float) -> None:
        """After ``step`` steps of the epoch; ``mean_loss()`` is called only when something is shown."""
        self.bar.update(1)
        if self.tty and step % 10 == 0:
            self.bar.set_postfix(loss=f"{mean_loss():.3f}", lr=f"{lr:.2e}")
        if step in self.log_at:
            per_step = (time.perf_counter() - self.began) / (step - self.start)
            log.info(progress_line(self.epoch, step, self.spe, per_step, mean_loss()))

    def close(self) -> None:
        """Remove the bar."""
        self.bar.close()
