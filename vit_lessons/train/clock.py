"""The training clock: seconds spent training, paused while evaluating or writing a checkpoint.

Built in notebooks/06_training.
"""

from __future__ import annotations

import contextlib
import time

__all__ = ["Clock"]


class Clock:
    """Seconds of training. ``start()`` runs it, ``stop()`` banks the running stretch, ``paused()`` stops it
    for a block (evaluation, a checkpoint) and runs it again after, if it was running.

    Args:
        spent: seconds already trained (a resumed run's).

    Built in notebooks/06_training.
    """

    def __init__(self, spent: float = 0.0):
        self.spent = float(spent)
        self._t0: float | None = None  # start of the running stretch; None while stopped

    @property
    def running(self) -> bool:
        """True while the clock runs."""
        return self._t0 is not None

    def start(self) -> None:
        """Run the clock (from now)."""
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        """Stop it, adding the running stretch to ``spent``."""
        self.spent = self.elapsed()
        self._t0 = None

    def elapsed(self) -> float:
        """Seconds trained so far, the running stretch included."""
        return self.spent + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    @contextlib.contextmanager
    def paused(self, before_stop=None):
        """Stop the clock inside the block (``before_stop()`` first, e.g. a CUDA synchronize); restart it after."""
        was_running = self.running
        if was_running:
            if before_stop is not None:
                before_stop()
            self.stop()
        try:
            yield self
        finally:
            if was_running:
                self.start()
