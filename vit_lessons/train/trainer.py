"""The Trainer: lesson 06's training loop, with checkpoints, resuming, a time budget and DDP.

Read :meth:`Trainer.fit` top to bottom: it is the loop the lesson writes out, plus a clock
that pauses for evaluation and a checkpoint at the end of every epoch. One optimisation step
is :meth:`Trainer.train_step`. What a checkpoint holds, and how a run resumes from one, is in
:mod:`vit_lessons.train.resume`.

Built in notebooks/06_training.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# the terminal bar (drawn only on a tty): tqdm.auto's notebook widget, and its warning without ipywidgets, never
from tqdm import tqdm

from .. import transfer
from ..attention import mimetic_init_
from ..cnn import build_model
from ..config import ViTConfig
from ..data import ImageData, TensorBatches
from ..metrics_jsonl import append_metrics
from . import distributed
from .checkpoint import open_run_folder, refuse_to_overwrite
from .distill import Distiller
from .log import log, progress_line
from .metrics import autocast, evaluate
from .recipes import Recipe
from .resume import Resumable
from .schedule import lr_at, param_groups

__all__ = ["Trainer"]


class Trainer(Resumable):
    """Trains a VisionTransformer on an in-memory dataset with a :class:`Recipe`.

    Args:
        config: the model's ViTConfig.
        recipe: how to train it.
        data: an ImageData (vit_lessons.data.load_dataset).
        out_dir: the run folder (config.json, metrics.jsonl, last.pt, best.pt); None writes nothing.
        device: 'cpu', 'cuda', 'cuda:1'…; None picks CUDA when available.
        seed: fixes the initial weights, data order and augmentation.
        progress: show tqdm bars (only when stderr is a terminal).
        resume: continue from ``out_dir/last.pt``.
        extra: recorded in config.json (the command line, for example).
        overwrite: start afresh in an ``out_dir`` that already holds a run, deleting its checkpoints
            and metrics; without it (or ``resume``) such a folder is refused, so no run is lost by accident.
        save_every: minutes between writes of last.pt in the middle of an epoch as well (0: at epoch ends
            only), so a killed run loses at most that much; ``resume`` continues exactly from there.

    ``trainer.fit()`` trains and returns the list of metric records. Under ``torchrun`` it uses
    DistributedDataParallel: each process takes an equal share of every global batch, so the
    result matches one process with the same global batch. Checkpoints (``save``, ``state``, resuming)
    come from :class:`~vit_lessons.train.resume.Resumable`.

    Built in notebooks/06_training.
    """

    def __init__(self, config: ViTConfig, recipe: Recipe, data: ImageData, out_dir: str | os.PathLike | None = None,
                 device: str | torch.device | None = None, seed: int = 0, progress: bool = True,
                 resume: bool = False, extra: dict | None = None, overwrite: bool = False, save_every: float = 0.0):
        self.config, self.recipe, self.data, self.seed = config, recipe, data, seed
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._fresh = self.out_dir is not None and not resume and overwrite
        if self.out_dir is not None and not resume and not overwrite:
            refuse_to_overwrite(self.out_dir)
        self.rank, self.world_size, local_rank = distributed.dist_env()
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None and self.world_size > 1:
            self.device = torch.device("cuda", local_rank)
        self.progress = progress
        if save_every < 0:
            raise ValueError(f"save_every must be >= 0 minutes (0: checkpoints at epoch ends only), got {save_every}")
        self.save_every = save_every
        self._last_save = time.perf_counter()
        # (summed loss, correct, seen) of the training batches since the last evaluation, as a checkpoint
        # written mid-epoch holds them: the next record then sums exactly what an unbroken run would
        self._partial = (0.0, 0.0, 0.0)
        self.extra = extra or {}
        self._check_data()
        if self.device.type == "cpu":
            # Tiny values (denormals) in AdamW's moment estimates make CPU arithmetic many times slower as
            # training goes on; flushing them to zero costs nothing in accuracy.
            torch.set_flush_denormal(True)
        if self.world_size > 1:
            distributed.init_distributed(self.device)
        torch.manual_seed(seed)  # initial weights depend on the seed only
        self.model = build_model(config)  # a VisionTransformer, or lesson 09's CNN for a CNNConfig
        if recipe.init == "mimetic":
            mimetic_init_(self.model)  # draws from the generator just seeded: the same weights on every process
        if recipe.init_from and not resume:  # fine-tuning: the backbone's weights, all but the fresh head
            transfer.start_from(self.model, recipe.init_from)
        transfer.freeze(self.model, recipe.freeze)  # before the optimizer is built, so it holds what trains
        self.model.to(self.device)
        self.net = distributed.wrap(self.model, self.device) if self.world_size > 1 else self.model
        # one fused kernel per step on a GPU; on a CPU the multi-tensor ("foreach") update, which torch only
        # picks by itself for GPU tensors: 5-12% more images/s for the CPU recipe model (bench cpu-kernels)
        kind = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        self.optimizer = torch.optim.AdamW(param_groups(self.model, recipe.weight_decay), lr=recipe.lr,
                                           betas=(0.9, recipe.beta2), **kind)
        on_dev = recipe.data_on_device and self.device.type == "cuda"
        store = self.device if on_dev else torch.device("cpu")
        self.train_x, self.train_y = data.train_x.to(store), data.train_y.to(store)
        self.test_x, self.test_y = data.test_x.to(store), data.test_y.to(store)
        info = data.info
        # distillation (lesson 09): the teacher is checked here, before any training; batches then carry indices
        self.distiller = Distiller(recipe, data, self.model, self.train_x, self.device) if recipe.teacher else None
        labels = self.train_y if self.distiller is None else self.distiller.batch_labels(self.train_y)
        self.batches = TensorBatches(self.train_x, labels, recipe.batch_size, seed, recipe.crop_pad,
                                     recipe.flip, recipe.erase, info.mean, info.std, self.rank, self.world_size)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = recipe.epochs * self.steps_per_epoch
        self.epoch, self.step, self.train_time = 0, 0, 0.0
        self._t0 = None  # start of the running stretch of training (None while not training)
        self.best_acc, self.history = -1.0, []
        if resume:
            self._resume()

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

    # -- the loop ---------------------------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        """Train until the epochs (or the time budget) are used up; returns the metric records."""
        if self.is_main and self.out_dir is not None:
            open_run_folder(self.out_dir, self.run_config(), fresh=self._fresh)
            self._fresh = False  # a second fit() continues this run
        r, spe = self.recipe, self.steps_per_epoch
        eval_at = {round(spe * (k + 1) / r.evals_per_epoch) for k in range(r.evals_per_epoch)}  # steps in an epoch
        show = self.progress and self.is_main and sys.stderr.isatty()
        # into a file or a pipe the bar draws nothing: a log line at every 5% of an epoch instead
        log_at = {-(-spe * k // 20) for k in range(1, 20)} if self.progress and self.is_main and not show else set()
        self.net.train()
        while not self.done():
            start = self.step - self.epoch * spe  # 0, or the step a resumed epoch stopped at
            bar = tqdm(total=spe, initial=start, desc=f"epoch {self.epoch + 1}", leave=False, disable=not show,
                       dynamic_ncols=True)
            loss_sum, correct, seen = self._partial  # over the training batches since the last evaluation
            self._partial = (0.0, 0.0, 0.0)
            self._t0 = began = time.perf_counter()  # the clock runs
            for i, (x, y) in enumerate(self.batches.epoch(self.epoch, start), start=start):
                ls, c = self.train_step(x, y)
                loss_sum, correct, seen = loss_sum + ls, correct + c, seen + len(y)
                bar.update(1)
                if (i + 1) % 10 == 0 and show:
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
                if (i + 1) in log_at:
                    log.info(progress_line(self.epoch, i + 1, spe, (time.perf_counter() - began) / (i + 1 - start),
                                           loss_sum / seen))
                over = r.time_budget > 0 and self._budget_spent()
                if (i + 1) in eval_at or over or i + 1 == spe:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    self.train_time = self.elapsed()  # the clock stops: evaluation is not counted
                    self._t0 = None
                    self._record(loss_sum, correct, seen, i + 1)
                    loss_sum = correct = seen = 0.0
                    self._t0 = time.perf_counter()
                    if over:
                        break
                elif self.save_every and self._save_due():
                    self._save_mid_epoch(loss_sum, correct, seen)
            self._t0 = None
            bar.close()
            if self.step - self.epoch * spe >= spe:  # a full epoch done
                self.epoch += 1
                self.save("last.pt")
            elif r.time_budget > 0 and self.done():
                self.save("last.pt")
        return self.history

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """One optimisation step: forward, loss, backward, clip, step. Returns (summed loss, correct)."""
        r = self.recipe
        lr = lr_at(self.progress_fraction(), r)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        x = transfer.resize_batch(x, r.img_size)  # (b, C, img_size, img_size) when the recipe resizes
        with autocast(self.device, r.amp):
            logits = self.net(x)  # (b, classes); a (class-token, distillation-token) pair for --distill token
        if self.distiller is not None:  # y holds image indices: the distiller finds labels and teacher logits
            loss, logits, y = self.distiller.loss(logits, x, y)
        else:
            loss = F.cross_entropy(logits.float(), y, label_smoothing=r.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if r.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), r.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss.item() * len(y), int((logits.argmax(1) == y).sum())

    def evaluate(self) -> dict:
        """Test loss and accuracy (shared out over processes under DDP)."""
        info = self.data.info
        n = len(self.test_y)
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        res = evaluate(transfer.Resized(self.model, self.recipe.img_size), self.test_x[lo:hi], self.test_y[lo:hi],
                       info.mean, info.std, amp=self.recipe.amp)
        loss_sum, correct = distributed.all_sum([res["loss"] * res["n"], float(res["correct"])], self.device)
        return {"loss": loss_sum / n, "acc": correct / n, "correct": int(round(correct))}

    def _record(self, loss_sum: float, correct: float, seen: float, step_in_epoch: int) -> None:
        """Evaluate, append a metrics record (to metrics.jsonl too), keep best.pt."""
        loss_sum, correct, seen = distributed.all_sum([loss_sum, correct, seen], self.device)
        test = self.evaluate()
        rec = {"epoch": round(self.epoch + step_in_epoch / self.steps_per_epoch, 4), "step": self.step,
               "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
               "test_loss": test["loss"], "test_acc": test["acc"], "test_correct": test["correct"],
               "lr": self.optimizer.param_groups[0]["lr"], "train_time": round(self.train_time, 3),
               "wall_time": time.time()}
        self.history.append(rec)
        if not self.is_main:
            return
        log.info(f"[epoch {rec['epoch']:5.2f}] train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.4f} | "
                 f"test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.4f} | lr {rec['lr']:.2e} | "
                 f"{self.train_time:.0f} s")
        if self.out_dir is not None:
            append_metrics(self.out_dir, rec)
            if test["acc"] > self.best_acc:
                self.best_acc = test["acc"]
                self.save("best.pt")

    # -- the clock --------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training so far, including the running stretch since the last evaluation."""
        return self.train_time + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

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
