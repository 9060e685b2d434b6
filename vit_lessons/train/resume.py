"""What a Trainer writes into its run folder and reads back to resume: config.json, last.pt and best.pt.

A checkpoint holds everything that decides what training does next (weights, optimizer moments,
the step the schedule has reached, the training clock, the random generators' states, the sums of
a half-finished evaluation interval), so a run killed at any moment and resumed from its last.pt
ends exactly where an uninterrupted run would. Two functions move that state out of a Trainer
(:func:`trainer_state`) and back into one (:func:`restore`); :mod:`vit_lessons.train.trainer` holds the loop.

Built in notebooks/06_training.
"""

from __future__ import annotations

import torch

from ..machine import environment
from ..metrics_jsonl import write_metrics
from .checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, resume_mismatch
from .clock import Clock
from .log import log

__all__ = ["run_config", "trainer_state", "restore"]


def run_config(tr) -> dict:
    """What config.json records of a Trainer's run: model, recipe, dataset, split sizes, seed, processes, versions."""
    d = tr.data
    return {"model": tr.config.to_dict(), "recipe": tr.recipe.to_dict(), "dataset": d.info.name,
            "split": {"train": len(d.train_y), "val": tr.val_size, "test": len(d.test_y)},
            "seed": tr.seed, "world_size": tr.world_size, "device": str(tr.device),
            "num_params": tr.model.num_params, "versions": environment(), **tr.extra}


def trainer_state(tr) -> dict:
    """Everything a Trainer needs to continue exactly: model, optimizer, schedule position, RNG states, records."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"format": CHECKPOINT_FORMAT, "model_config": tr.config.to_dict(), "recipe": tr.recipe.to_dict(),
            "dataset": tr.data.info.name, "classes": list(tr.data.info.classes), "seed": tr.seed,
            "val_size": tr.val_size, "world_size": tr.world_size, "model": tr.model.state_dict(),
            "optimizer": tr.optimizer.state_dict(),
            "scheduler": {"kind": tr.recipe.schedule, "step": tr.step, "total_steps": tr.total_steps,
                          "train_time": tr.train_time},
            # epochs done, counted as metrics.jsonl counts them (1.0 after the first, 2.5 halfway through
            # the third): best.pt, written during an evaluation, and last.pt agree
            "epoch": round(tr.step / tr.steps_per_epoch, 4), "partial_sums": [float(v) for v in tr.partial],
            "step": tr.step, "train_time": tr.train_time, "best_acc": tr.best_acc, "best_loss": tr.best_loss,
            "best_on": "val_loss" if tr.recipe.pretrain != "none" else "val_acc",
            "metrics": tr.history, "rng": rng, "versions": environment(), "command": tr.extra.get("command", "")}


def restore(tr) -> None:
    """Load ``tr.out_dir/last.pt`` into the Trainer ``tr``, after checking it was written with the same options."""
    path = tr.out_dir / "last.pt" if tr.out_dir else None
    if path is None or not path.exists():
        raise CheckpointError(f"--resume: no checkpoint at {path}; start without --resume "
                              f"(or pick the run with --exp-name)")
    ck = load_checkpoint(path, map_location=tr.device)
    mismatch = resume_mismatch(ck, tr.config, tr.recipe, tr.data.info.name, tr.seed)
    if mismatch:
        raise CheckpointError(
            f"{path} was written by a run with another configuration ({'; '.join(mismatch)}). "
            f"Resume with the same options, or start a new run with another --exp-name.")
    tr.model.load_state_dict(ck["model"])
    tr.optimizer.load_state_dict(ck["optimizer"])
    # the step says where the run stopped (at an epoch's end, or inside one with --save-every)
    tr.step = int(ck["step"])
    tr.clock = Clock(float(ck["train_time"]))
    tr.epoch = tr.step // tr.steps_per_epoch
    tr.partial = tuple(ck.get("partial_sums", (0.0, 0.0, 0.0)))
    tr.best_acc, tr.history = float(ck["best_acc"]), list(ck["metrics"])
    tr.best_loss = float(ck.get("best_loss", float("inf")))
    torch.set_rng_state(ck["rng"]["torch"].cpu())
    if "cuda" in ck["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in ck["rng"]["cuda"]])
    if tr.is_main:
        log.info(f"resumed from {path} at epoch {tr.step / tr.steps_per_epoch:.2f} (step {tr.step}, "
                 f"{tr.train_time:.0f} s of training so far)")
    if tr.is_main and tr.out_dir is not None:  # drop records written after the checkpoint
        write_metrics(tr.out_dir, tr.history)
