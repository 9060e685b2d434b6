"""When pretraining pays: the committed Fashion-MNIST model as a backbone for scikit-learn's 8x8 digits.

    python -m vit_lessons bench transfer-digits --threads 1

Three ways to get a digit classifier from the same architecture, with 10, 50 or all labelled
digits per class: a linear probe (new head on the frozen backbone), full fine-tuning (everything
trains, starting from the backbone) and the same model from scratch. The digits are upsampled to
the backbone's 28 px (4x4 patch grid) and, to show a change of grid, to 21 px (3x3 grid; the
backbone's fixed sin-cos positions are rebuilt for it). Every method gets the same optimiser
budget (steps of batch 32) in a regime; each method's learning rate is chosen per regime on a
validation split carved from the training digits (seed 0, 28 px), never on the test digits. Then
three seeds (each draws its own labelled subset), median test accuracy on the same 359 held-out
digits.

Built in notebooks/08_pretrained_weights.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing as mp
from pathlib import Path

import torch

from ..data import ImageData, load_digits
from ..machine import command, loadavg
from ..train import RECIPES, Recipe, log, setup_logging
from ..transfer import backbone_config, finetune_config
from .report import RESULTS, Benchmark, add_options, finished_runs, machine_record, median, today, write_results
from .runs import run_one

__all__ = ["METHODS", "transfer_digits", "split_digits", "labelled_subset", "COMMANDS"]

OUT = RESULTS / "transfer_digits"
QUICK_OUT = Path("experiments/transfer_digits_quick")  # --quick writes here unless --out says otherwise
BACKBONE = Path("assets/checkpoints/fashion_mnist_vit.pt")
# method -> what its recipe changes; the backbone's path is filled in for init_from
METHODS = {"linear probe": {"init_from": True, "freeze": "all-but-head"},
           "fine-tune": {"init_from": True},
           "from scratch": {}}
STEPS = {10: 150, 50: 300, 0: 500}  # optimiser steps per labels-per-class regime (0 = all); ~30-50 epochs, ~15, ~14
# the learning rates each method's is picked from: a grid that brackets its best (a head alone wants a larger
# step than a whole network; on validation digits at 10 labels per class the probe still gained at 3e-2)
LRS = {"linear probe": (1e-2, 3e-2, 1e-1, 3e-1), "fine-tune": (3e-4, 1e-3, 3e-3, 1e-2),
       "from scratch": (3e-4, 1e-3, 3e-3, 1e-2)}
VAL_PER_CLASS = 30


def split_digits(val_per_class: int = VAL_PER_CLASS) -> tuple[ImageData, ImageData]:
    """(pool, test): the digits' fixed train/test split, with ``val_per_class`` per class moved to ``pool.test``."""
    d = load_digits()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(d.train_y), generator=g)
    val = torch.cat([order[d.train_y[order] == c][:val_per_class] for c in range(10)])
    rest = order[~torch.isin(order, val)]
    pool = ImageData(d.info, d.train_x[rest], d.train_y[rest], d.train_x[val], d.train_y[val], source=d.source)
    return pool, ImageData(d.info, d.train_x[rest], d.train_y[rest], d.test_x, d.test_y, source=d.source)


def labelled_subset(data: ImageData, per_class: int, seed: int) -> ImageData:
    """``per_class`` training images of each class (0 = all), drawn with ``seed``; the test split as it is."""
    if per_class == 0:
        return data
    g = torch.Generator().manual_seed(1000 + seed)
    order = torch.randperm(len(data.train_y), generator=g)
    idx = torch.cat([order[data.train_y[order] == c][:per_class] for c in range(data.info.num_classes)])
    idx = idx[torch.randperm(len(idx), generator=g)]
    return dataclasses.replace(data, train_x=data.train_x[idx], train_y=data.train_y[idx])


def _recipe(method: str, per_class: int, n_train: int, size: int, lr: float, backbone: Path,
            steps: dict) -> Recipe:
    """The digits recipe with the regime's step budget (as whole epochs), the method's changes and ``lr``."""
    base = RECIPES["digits"].recipe
    spe = n_train // base.batch_size
    changes = {k: (str(backbone) if v is True else v) for k, v in METHODS[method].items()}
    # mimetic init as the backbone had: from scratch starts from the same kind of weights, minus the training.
    # val_size 0: this benchmark holds out its own validation digits (split_digits) and tunes on them
    return dataclasses.replace(base, epochs=max(1, round(steps[per_class] / spe)), lr=lr, img_size=size,
                               init="mimetic", val_size=0, **changes)


def _name(stage: str, method: str, per_class: int, size: int, lr: float) -> str:
    return f"{stage} | {method} | {per_class or 'all'}/class | {size} px | lr {lr:g}"


def _train(job: tuple) -> dict:
    """One run: (stage, method, labels per class, size, lr, seed, backbone, steps, device, threads)."""
    stage, method, per_class, size, lr, seed, backbone, steps, device, threads = job
    torch.set_num_threads(threads)  # a worker process starts with torch's default
    setup_logging()
    pool, test = split_digits()
    sub = labelled_subset(pool if stage == "tune" else test, per_class, seed)  # tune: scored on validation digits
    recipe = _recipe(method, per_class, len(sub.train_y), size, lr, backbone, steps)
    cfg = finetune_config(backbone_config(backbone), sub.info.num_classes, size, sub.info.in_chans)
    res = run_one(_name(stage, method, per_class, size, lr), cfg, recipe, sub, seed, None, device=device)
    res.update(stage=stage, method=method, per_class=per_class, size=size, lr=lr, n_train=len(sub.train_y),
               n_eval=len(sub.test_y))
    return res


def transfer_digits(seeds=(0, 1, 2), sizes=(28, 21), labels=(10, 50, 0), lrs=LRS, steps=None, out: Path = OUT,
                    backbone: Path = BACKBONE, device=None, jobs: int = 1) -> dict:
    """Tune each method's lr on validation digits, then train every (size, labels, method, seed); write results.

    ``jobs`` runs that many trainings at a time, each in its own process with this process's thread count.
    """
    steps = steps or STEPS
    pool, test = split_digits()
    done, runs, start = finished_runs(out), [], loadavg()

    def run_all(stage: str, todo: list[tuple]) -> None:
        fresh = []
        for method, per_class, size, lr, seed in todo:
            key = (_name(stage, method, per_class, size, lr), seed)
            if key in done:  # an earlier call finished it: runs.jsonl keeps it, the command continues
                runs.append(done[key])
            else:
                fresh.append((stage, method, per_class, size, lr, seed, backbone, steps, device,
                              torch.get_num_threads()))
        with contextlib.ExitStack() as stack:
            if jobs > 1 and len(fresh) > 1:
                results = stack.enter_context(mp.get_context("spawn").Pool(jobs)).imap_unordered(_train, fresh)
            else:
                results = map(_train, fresh)
            for res in results:
                runs.append(res)
                write_results(out, {"partial": True}, runs, "partial results; the benchmark is still running\n")

    # each method's learning rate, per regime, on validation digits; with every label the rate picked at the
    # largest tuned regime is kept (tuning there too would add a third to the benchmark's time)
    tuned = [pc for pc in labels if pc] or list(labels)
    run_all("tune", [(m, pc, sizes[0], lr, 0) for pc in tuned for m in METHODS for lr in lrs[m]])
    best_lr = {}
    for pc in tuned:
        for m in METHODS:
            accs = {r["lr"]: r["final_acc"] for r in runs
                    if (r["stage"], r["method"], r["per_class"]) == ("tune", m, pc)}
            best_lr[(m, pc)] = max(sorted(accs), key=accs.get)  # a tie goes to the smaller rate
    for m in METHODS:
        best_lr.setdefault((m, 0), best_lr[(m, max(tuned))])
    run_all("test", [(m, pc, size, best_lr[(m, pc)], seed) for size in sizes for pc in labels for m in METHODS
                     for seed in seeds])
    table = {}
    for size in sizes:
        for per_class in labels:
            for method in METHODS:
                accs = [r["final_acc"] for r in runs if r["stage"] == "test" and (r["method"], r["per_class"],
                                                                                   r["size"]) == (method, per_class,
                                                                                                  size)]
                table[f"{size}|{per_class}|{method}"] = {
                    "size": size, "per_class": per_class, "method": method, "median_acc": median(accs),
                    "accs": accs, "lr": best_lr[(method, per_class)], "steps": steps[per_class]}
    summ = {"benchmark": "transfer-digits", "command": command(), "backbone": str(backbone), "seeds": list(seeds),
            "sizes": list(sizes), "labels_per_class": list(labels), "lrs": {m: list(v) for m, v in lrs.items()},
            "steps": {str(k): v for k, v in steps.items()}, "n_test": len(test.test_y), "n_val": len(pool.test_y),
            "n_pool": len(pool.train_y), "tuned_labels_per_class": tuned, "results": list(table.values()),
            "machine": machine_record(), "jobs": jobs, "loadavg_start": start, "loadavg_end": loadavg(),
            "date": today()}
    write_results(out, summ, runs, _readme(summ))
    log.info(f"wrote {out}/")
    return summ


def _readme(s: dict) -> str:
    m = s["machine"]
    methods = list(METHODS)
    lines = ["# Transfer learning: the Fashion-MNIST ViT as a backbone for scikit-learn's digits", "",
             f"Command: `{s['command']}`  ", f"Date: {s['date']}  ",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']}; load average at start "
             f"{s['loadavg_start']}, at end {s['loadavg_end']}", "",
             f"Backbone: `{s['backbone']}` (trained 10 minutes on Fashion-MNIST). Test accuracy on the same "
             f"{s['n_test']} held-out digits, median of seeds {s['seeds']} (min-max in brackets); each seed draws "
             f"its own labelled digits from a pool of {s['n_pool']}. Learning rates picked per method and regime "
             f"on {s['n_val']} validation digits (seed 0, {s['sizes'][0]} px) from "
             f"{'; '.join(f'{m} {v}' for m, v in s['lrs'].items())}"
             + ("; with every label, the rate picked at the largest tuned regime" if 0 in s["labels_per_class"] else "")
             + ". Every method gets the same number of steps (batch 32) within a regime.", "",
             "| input | labels / class | steps | " + " | ".join(methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for size in s["sizes"]:
        grid = f"{size} px ({size // 7}x{size // 7} patches)"
        for pc in s["labels_per_class"]:
            cells = []
            for meth in methods:
                r = next(r for r in s["results"] if (r["size"], r["per_class"], r["method"]) == (size, pc, meth))
                cells.append(f"{r['median_acc']:.1%} ({min(r['accs']):.1%}-{max(r['accs']):.1%}), lr {r['lr']:g}")
            steps = s["steps"][str(pc)]
            lines.append(f"| {grid} | {pc or 'all'} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT, seeds=(0, 1, 2))
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="trainings at a time, each in its own process with --threads threads (default 1)")
    p.add_argument("--backbone", type=Path, default=BACKBONE, help=f"the pretrained checkpoint (default {BACKBONE})")
    p.add_argument("--quick", action="store_true",
                   help=f"3 steps of one regime, for checking that it runs (writes {QUICK_OUT} unless --out)")


def _run(args: argparse.Namespace) -> None:
    if not args.backbone.exists():
        raise ValueError(f"no backbone checkpoint at {args.backbone}: run from the repository root, or pass "
                         "--backbone PATH")
    if args.quick:  # never over the committed results unless asked
        out = QUICK_OUT if args.out == OUT else args.out
        transfer_digits(seeds=args.seeds[:1], sizes=(28, 21), labels=(10,), lrs={m: (1e-3,) for m in METHODS},
                        steps={10: 3}, out=out, backbone=args.backbone, device=args.device)
    else:
        transfer_digits(seeds=args.seeds, out=args.out, backbone=args.backbone, device=args.device, jobs=args.jobs)


COMMANDS = (Benchmark("transfer-digits", "Fashion-MNIST backbone -> digits: linear probe vs fine-tune vs scratch, "
                                         "10/50/all labels per class, two input sizes", _add_arguments, _run),)
