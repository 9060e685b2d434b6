"""The Trainer: lesson 06's training loop, with a validation split, checkpoints, resuming, a time budget and DDP.

Read :meth:`Trainer.fit` top to bottom: it is the loop the lesson writes out, plus a clock that
pauses for evaluation and a checkpoint at the end of every epoch. One optimisation step is
:meth:`Trainer.train_step`; what it minimises comes in as a function (:func:`make_loss`). What a
checkpoint holds, and how a run resumes from one, is in :mod:`vit_lessons.train.resume`.

Every run holds out a validation split of its training images (``Recipe.val_size``); ``best.pt`` is
the best *validation* evaluation. Test accuracy is logged beside it and chooses nothing. With
``Recipe.pretrain == 'mae'`` the same loop pretrains a masked autoencoder (lesson 11): no labels, the
reconstruction loss as the metric, best.pt the lowest validation loss.

Built in notebooks/06_training.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from .. import transfer
from ..config import ViTConfig
from ..data import ImageData, TensorBatches, with_validation
from ..data.split import balanced_subset
from ..machine import flush_denormal
from ..mae import evaluate_mae
from ..metrics_jsonl import append_metrics
from . import distributed
from .checkpoint import open_run_folder, refuse_to_overwrite, save_checkpoint
from .clock import Clock
from .distill import Distiller
from .log import EpochProgress, log
from .metrics import autocast, evaluate
from .recipes import Recipe
from .resume import restore, run_config, trainer_state
from .run_parts import build_run_model, make_loss, resolve_val_size
from .schedule import lr_at, param_groups

__all__ = ["Trainer", "build_run_model", "make_loss", "resolve_val_size"]  # the last three: from .run_parts


class Trainer:
    """Trains a VisionTransformer on an in-memory dataset with a :class:`Recipe`.

    Args:
        config: the model's ViTConfig.
        recipe: how to train it.
        data: an ImageData (vit_lessons.data.load_dataset); the run holds out ``recipe.val_size`` of its
            training images for validation.
        out_dir: the run folder (config.json, metrics.jsonl, last.pt, best.pt); None writes nothing.
        device: 'cpu', 'cuda', 'cuda:1'…; None picks CUDA when available.
        seed: fixes the initial weights, data order and augmentation (not the validation images).
        progress: show progress (a bar on a terminal, log lines into a file).
        resume: continue from ``out_dir/last.pt``.
        extra: recorded in config.json (the command line, for example).
        overwrite: start afresh in an ``out_dir`` that already holds a run, deleting its checkpoints
            and metrics; without it (or ``resume``) such a folder is refused, so no run is lost by accident.
        save_every: minutes between writes of last.pt in the middle of an epoch as well (0: at epoch ends
            only), so a killed run loses at most that much; ``resume`` continues exactly from there.

    ``trainer.fit()`` trains and returns the list of metric records. Under ``torchrun`` it uses
    DistributedDataParallel: each process takes an equal share of every global batch, so the
    result matches one process with the same global batch.

    Built in notebooks/06_training.
    """

    def __init__(self, config: ViTConfig, recipe: Recipe, data: ImageData, out_dir: str | os.PathLike | None = None,
                 device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
                 resume: bool = False, extra: dict | None = None, overwrite: bool = False, save_every: float = 0.0):
        if save_every < 0:
            raise ValueError(f"save_every must be >= 0 minutes (0: checkpoints at epoch ends only), got {save_every}")
        self.config, self.recipe, self.seed, self.progress = config, recipe, seed, progress
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.extra, self.save_every = extra or {}, save_every
        self._fresh = self.out_dir is not None and not resume and overwrite
        if self.out_dir is not None and not resume and not overwrite:
            refuse_to_overwrite(self.out_dir)
        self.val_size = resolve_val_size(recipe, len(data.train_y))
        self.data = with_validation(data, self.val_size)  # the same held-out images for every seed
        if recipe.train_size:  # a labelled subset (1% of the labels: 600 images), drawn with the run's seed
            self.data = balanced_subset(self.data, recipe.train_size, seed)
        self._check_data()
        self.rank, self.world_size, self.device = distributed.setup_device(device)
        torch.manual_seed(seed)  # initial weights depend on the seed only
        self.model = build_run_model(config, recipe, resume).to(self.device)
        self.net = distributed.wrap(self.model, self.device) if self.world_size > 1 else self.model
        # one fused kernel per step on a GPU; on a CPU the multi-tensor ("foreach") update, which torch only
        # picks by itself for GPU tensors: 5-12% more images/s for the CPU recipe model (bench cpu-kernels)
        kind = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        self.optimizer = torch.optim.AdamW(param_groups(self.model, recipe.weight_decay), lr=recipe.lr,
                                           betas=(0.9, recipe.beta2), **kind)
        store = self.device if recipe.data_on_device and self.device.type == "cuda" else torch.device("cpu")
        d = self.data
        self.train_x, self.train_y = d.train_x.to(store), d.train_y.to(store)
        self.splits = {"val": (d.val_x.to(store), d.val_y.to(store)), "test": (d.test_x.to(store), d.test_y.to(store))}
        # distillation (lesson 09): the teacher is checked here, before any training; batches then carry indices
        self.distiller = Distiller(recipe, d, self.model, self.train_x, self.device) if recipe.teacher else None
        self.loss_fn = make_loss(recipe, self.distiller)
        labels = self.train_y if self.distiller is None else self.distiller.batch_labels(self.train_y)
        self.batches = TensorBatches(self.train_x, labels, recipe.batch_size, seed, recipe.crop_pad,
                                     recipe.flip, recipe.erase, d.info.mean, d.info.std, self.rank, self.world_size)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = recipe.epochs * self.steps_per_epoch
        self.epoch, self.step, self.clock = 0, 0, Clock()
        self.best_acc, self.history = -1.0, []  # best validation accuracy so far
        self.best_loss = math.inf  # lowest validation loss so far: what chooses best.pt when pretraining
        # (summed loss, correct, seen) of the training batches since the last evaluation, as a checkpoint
        # written mid-epoch holds them: the next record then sums exactly what an unbroken run would
        self.partial = (0.0, 0.0, 0.0)
        self._last_save = time.perf_counter()
        if resume:
            restore(self)

    def _check_data(self) -> None:
        cfg, info = self.config, self.data.info
        x = self.data.train_x
        size = self.recipe.img_size or x.shape[-1]  # batches are resized to recipe.img_size when it is set
        if (x.shape[1], size, size) != (cfg.in_chans, cfg.img_size, cfg.img_size):
            raise ValueError(f"the model expects ({cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) images but "
                             f"{info.name} has {tuple(x.shape[1:])}: build the config with img_size={size}, "
                             f"in_chans={info.in_chans} (or resize the images: recipe img_size, --img-size)")
        if cfg.num_classes != info.num_classes:
            raise ValueError(f"the model has {cfg.num_classes} outputs but {info.name} has {info.num_classes} classes")

    @property
    def is_main(self) -> bool:
        """True in the process that writes files and logs (rank 0)."""
        return self.rank == 0

    @property
    def train_time(self) -> float:
        """Seconds of training banked by the clock (evaluations and checkpoint writes not counted)."""
        return self.clock.spent

    # -- the loop ---------------------------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        """Train until the epochs (or the time budget) are used up; returns the metric records."""
        if self.is_main and self.out_dir is not None:
            open_run_folder(self.out_dir, run_config(self), fresh=self._fresh)
            self._fresh = False  # a second fit() continues this run
            if self.val_size == 0 and not self.history:
                log.info("no validation split (val_size 0): best.pt is not written; last.pt is the run's result")
        r, spe = self.recipe, self.steps_per_epoch
        eval_at = {round(spe * (k + 1) / r.evals_per_epoch) for k in range(r.evals_per_epoch)}  # steps in an epoch
        if r.eval_every:  # every eval_every steps instead; the sums then run on across epoch ends
            eval_at = set()
        self.net.train()
        with flush_denormal(self.device.type == "cpu"):  # for this loop only, restored after
            while not self.done():
                start = self.step - self.epoch * spe  # 0, or the step a resumed epoch stopped at
                shown = EpochProgress(self.epoch, spe, start, self.progress and self.is_main)
                sums = torch.tensor(self.partial, dtype=torch.float64, device=self.device)  # loss, correct, seen
                self.partial = (0.0, 0.0, 0.0)
                self.clock.start()
                for i, (x, y) in enumerate(self.batches.epoch(self.epoch, start), start=start):
                    sums += self.train_step(x, y)  # on the device: no sync per step
                    shown.update(i + 1, lambda s=sums: float(s[0] / s[2]), self.optimizer.param_groups[0]["lr"])
                    over = r.time_budget > 0 and self._budget_spent()
                    due = (self.step % r.eval_every == 0) if r.eval_every else ((i + 1) in eval_at or i + 1 == spe)
                    if due or over:
                        with self.clock.paused(self._sync):  # evaluation is not counted
                            self._record(sums.tolist(), i + 1)
                        sums.zero_()
                        if over:
                            break
                    elif self.save_every and self._save_due():
                        with self.clock.paused():  # writing the checkpoint is not counted
                            self.partial = tuple(distributed.all_sum(sums.tolist(), self.device))
                            self.save("last.pt")
                            self.partial = (0.0, 0.0, 0.0)
                self.clock.stop()
                shown.close()
                self.partial = tuple(sums.tolist())  # what the next evaluation still has to count (eval_every)
                if self.step - self.epoch * spe >= spe:  # a full epoch done
                    self.epoch += 1
                    self.save("last.pt")
                elif r.time_budget > 0 and self.done():
                    self.save("last.pt")
        return self.history

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimisation step: forward, loss, backward, clip, step. Returns (summed loss, correct, seen)."""
        r = self.recipe
        lr = lr_at(self.progress_fraction(), r)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        x = transfer.resize_batch(x, r.img_size)  # (b, C, img_size, img_size) when the recipe resizes
        with autocast(self.device, r.amp):
            out = self.net(x)  # (b, classes); a pair for --distill token; (loss, pred, mask) for --pretrain mae
        loss, correct = self.loss_fn(out, x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if r.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), r.grad_clip)
        self.optimizer.step()
        self.step += 1
        return torch.stack([loss.detach().double() * len(x), correct.double(),
                            torch.tensor(float(len(x)), dtype=torch.float64, device=loss.device)])

    def evaluate(self, split: str = "test") -> dict:
        """Loss and accuracy on the 'val' or 'test' split (shared out over processes under DDP)."""
        x, y = self.splits[split]
        n = len(y)
        if n == 0:
            return {"loss": float("nan"), "acc": float("nan"), "correct": 0}
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        info = self.data.info
        if self.recipe.pretrain == "mae":  # the reconstruction loss, with the same masks at every evaluation
            res = evaluate_mae(self.model, x[lo:hi], info.mean, info.std)
        else:
            res = evaluate(transfer.Resized(self.model, self.recipe.img_size), x[lo:hi], y[lo:hi], info.mean,
                           info.std, amp=self.recipe.amp)
        loss_sum, correct = distributed.all_sum([res["loss"] * res["n"], float(res["correct"])], self.device)
        acc = correct / n if self.recipe.pretrain == "none" else math.nan  # a reconstruction has no accuracy
        return {"loss": loss_sum / n, "acc": acc, "correct": int(round(correct))}

    def _record(self, sums: list[float], step_in_epoch: int) -> None:
        """Evaluate on validation and test, append a metrics record (to metrics.jsonl too), keep best.pt."""
        loss_sum, correct, seen = distributed.all_sum(sums, self.device)
        val, test = self.evaluate("val"), self.evaluate("test")
        rec = {"epoch": round(self.epoch + step_in_epoch / self.steps_per_epoch, 4), "step": self.step,
               "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
               "val_loss": val["loss"], "val_acc": val["acc"], "val_correct": val["correct"],
               "test_loss": test["loss"], "test_acc": test["acc"], "test_correct": test["correct"],
               "lr": self.optimizer.param_groups[0]["lr"], "train_time": round(self.train_time, 3),
               "wall_time": time.time()}
        self.history.append(rec)
        if not self.is_main:
            return
        acc = (lambda k: "") if self.recipe.pretrain != "none" else (lambda k: f" acc {rec[k + '_acc']:.4f}")
        log.info(f"[epoch {rec['epoch']:5.2f}] train loss {rec['train_loss']:.4f}{acc('train')} | "
                 f"val loss {rec['val_loss']:.4f}{acc('val')} | test loss {rec['test_loss']:.4f}{acc('test')} | "
                 f"lr {rec['lr']:.2e} | {self.train_time:.0f} s")
        if self.out_dir is not None:
            append_metrics(self.out_dir, rec)
            if self.val_size and self._better(val):  # chosen on validation, never on test
                self.save("best.pt")

    def _better(self, val: dict) -> bool:
        """Whether this validation result beats the best so far (accuracy; the loss when pretraining); remembers it."""
        if self.recipe.pretrain != "none":
            better, self.best_loss = val["loss"] < self.best_loss, min(self.best_loss, val["loss"])
        else:
            better, self.best_acc = val["acc"] > self.best_acc, max(self.best_acc, val["acc"])
        return better

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    # -- checkpoints --------------------------------------------------------------------------------------------
    def save(self, name: str = "last.pt") -> Path | None:
        """Write a checkpoint (:func:`vit_lessons.train.resume.trainer_state`) into the run folder (rank 0 only)."""
        if name == "last.pt":
            self._last_save = time.perf_counter()  # --save-every counts from here, on every process
        if self.out_dir is None or not self.is_main:
            return None
        return save_checkpoint(self.out_dir / name, trainer_state(self))

    def state(self) -> dict:
        """Everything needed to continue exactly (see :func:`vit_lessons.train.resume.trainer_state`)."""
        return trainer_state(self)

    def run_config(self) -> dict:
        """What config.json records (see :func:`vit_lessons.train.resume.run_config`)."""
        return run_config(self)

    def _save_due(self) -> bool:
        """--save-every: True when last.pt is older than ``save_every`` minutes (rank 0's clock decides)."""
        return distributed.rank0_decides(time.perf_counter() - self._last_save >= 60 * self.save_every, self.device)

    # -- the schedule's position ---------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training so far, including the running stretch since the last evaluation."""
        return self.clock.elapsed()

    def progress_fraction(self) -> float:
        """How far through training we are: by the clock under a time budget, else by steps."""
        if self.recipe.time_budget > 0:
            return self.elapsed() / self.recipe.time_budget
        return self.step / max(self.total_steps, 1)

    def _budget_spent(self) -> bool:
        """Under a time budget, True once it is used up; all processes agree (rank 0's clock decides)."""
        return distributed.rank0_decides(self.elapsed() >= self.recipe.time_budget, self.device)

    def done(self) -> bool:
        """True when the epochs or the time budget are used up."""
        if self.recipe.time_budget > 0:
            return self.train_time >= self.recipe.time_budget
        return self.epoch >= self.recipe.epochs
