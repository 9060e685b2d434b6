"""What a Trainer writes into its run folder and reads back to resume: config.json, last.pt and best.pt.

A checkpoint holds everything that decides what training does next (weights, optimizer moments,
the step the schedule has reached, the training clock, the random generators' states, the sums of
a half-finished evaluation interval), so a run killed at any moment and resumed from its last.pt
ends exactly where an uninterrupted run would. :class:`Resumable` is the part of the Trainer that
does this; :mod:`vit_lessons.train.trainer` holds the loop.

Built in notebooks/06_training.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..machine import environment
from ..metrics_jsonl import write_metrics
from . import distributed
from .checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, resume_mismatch, save_checkpoint
from .log import log

__all__ = ["Resumable"]


class Resumable:
    """The Trainer's checkpoints: writing them (epoch ends, ``save_every`` minutes) and resuming from last.pt.

    A mixin: it reads the attributes the :class:`~vit_lessons.train.Trainer` sets up (model, optimizer,
    step, train_time, history, out_dir, ...) and its clock (``elapsed``, ``_t0``).

    Built in notebooks/06_training.
    """

    def run_config(self) -> dict:
        """What config.json records: model, recipe, dataset, seed, processes, versions."""
        return {"model": self.config.to_dict(), "recipe": self.recipe.to_dict(), "dataset": self.data.info.name,
                "seed": self.seed, "world_size": self.world_size, "device": str(self.device),
                "num_params": self.model.num_params, "versions": environment(), **self.extra}

    def state(self) -> dict:
        """Everything needed to continue exactly: model, optimizer, schedule position, RNG states, records."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"format": CHECKPOINT_FORMAT, "model_config": self.config.to_dict(), "recipe": self.recipe.to_dict(),
                "dataset": self.data.info.name, "classes": list(self.data.info.classes), "seed": self.seed,
                "world_size": self.world_size, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"kind": self.recipe.schedule, "step": self.step, "total_steps": self.total_steps,
                              "train_time": self.train_time},
                # epochs done, counted as metrics.jsonl counts them (1.0 after the first, 2.5 halfway through
                # the third): best.pt, written during an evaluation, and last.pt agree
                "epoch": round(self.step / self.steps_per_epoch, 4), "partial_sums": list(self._partial),
                "step": self.step, "train_time": self.train_time, "best_acc": self.best_acc,
                "metrics": self.history, "rng": rng, "versions": environment(),
                "command": self.extra.get("command", "")}

    def save(self, name: str = "last.pt") -> Path | None:
        """Write a checkpoint into the run folder (rank 0 only)."""
        if name == "last.pt":
            self._last_save = time.perf_counter()  # --save-every counts from here, on every process
        if self.out_dir is None or not self.is_main:
            return None
        return save_checkpoint(self.out_dir / name, self.state())

    def _save_due(self) -> bool:
        """--save-every: True when last.pt is older than ``save_every`` minutes (rank 0's clock decides)."""
        return distributed.rank0_decides(time.perf_counter() - self._last_save >= 60 * self.save_every, self.device)

    def _save_mid_epoch(self, loss_sum: float, correct: float, seen: float) -> None:
        """last.pt in the middle of an epoch, with the training sums since the last evaluation (all processes')."""
        self.train_time = self.elapsed()  # the clock stops while writing, as for an evaluation
        self._t0 = None
        self._partial = tuple(distributed.all_sum([loss_sum, correct, seen], self.device))
        self.save("last.pt")
        self._partial = (0.0, 0.0, 0.0)
        self._t0 = time.perf_counter()

    def _resume(self) -> None:
        """Load last.pt into this run, after checking it was written by a run with the same options."""
        path = self.out_dir / "last.pt" if self.out_dir else None
        if path is None or not path.exists():
            raise CheckpointError(f"--resume: no checkpoint at {path}; start without --resume "
                                  f"(or pick the run with --exp-name)")
        ck = load_checkpoint(path, map_location=self.device)
        mismatch = resume_mismatch(ck, self.config, self.recipe, self.data.info.name, self.seed)
        if mismatch:
            raise CheckpointError(
                f"{path} was written by a run with another configuration ({'; '.join(mismatch)}). "
                f"Resume with the same options, or start a new run with another --exp-name.")
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        # the step says where the run stopped (at an epoch's end, or inside one with --save-every)
        self.step, self.train_time = int(ck["step"]), float(ck["train_time"])
        self.epoch = self.step // self.steps_per_epoch
        self._partial = tuple(ck.get("partial_sums", (0.0, 0.0, 0.0)))
        self.best_acc, self.history = float(ck["best_acc"]), list(ck["metrics"])
        torch.set_rng_state(ck["rng"]["torch"].cpu())
        if "cuda" in ck["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([t.cpu() for t in ck["rng"]["cuda"]])
        if self.is_main:
            log.info(f"resumed from {path} at epoch {self.step / self.steps_per_epoch:.2f} (step {self.step}, "
                     f"{self.train_time:.0f} s of training so far)")
        if self.is_main and self.out_dir is not None:  # drop records written after the checkpoint
            write_metrics(self.out_dir, self.history)
