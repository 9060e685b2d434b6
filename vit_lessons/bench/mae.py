"""Lesson 11's race: does masked-autoencoder pretraining pay for itself when labels are few?

    python -m vit_lessons bench mae --seeds 0 1 2     # 5 minutes per route, seed and label count, two at a time

At one total budget of training seconds per result, with 1%, 10% and 100% of Fashion-MNIST's labels
(600 / 6,000 / all 55,000 training images after the validation split, class-balanced, drawn by the seed):

- **from scratch**: the course's model and recipe trained on the labelled images for the whole budget;
- **MAE + fine-tune**: the same model pretrained as a masked autoencoder on all 55,000 training images
  *without* their labels for ``--pretrain-budget`` seconds, then fine-tuned on the labelled images for
  the rest of the budget (one pretraining per seed serves the three label counts: its seconds are
  counted in each);
- **MAE + linear probe**: a logistic regression on the frozen pretrained encoder's features (chosen on
  validation), for reference: what pretraining alone learned.

Same conditions as lesson 09's race (:mod:`vit_lessons.bench.pinned_jobs`): one process per run, one torch
thread, its own core, two at a time, load and CPU share recorded, an unfair run run again. Every run holds
out the validation split; a result is the test accuracy at the best validation evaluation.
``--choose`` instead compares pretraining designs (patch size, mask ratio, decoder) by their linear probes'
*validation* accuracy, seed 0, so the race's design is chosen without the test set.

Built in notebooks/11_self_supervised.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from ..config import ViTConfig
from ..data import ImageData, load_dataset, with_validation
from ..data.split import balanced_subset
from ..machine import command, loadavg
from ..metrics_jsonl import read_metrics
from ..probe import encoder_features, linear_probe
from ..train import RECIPES, Recipe, load_model, setup_logging
from ..transfer import backbone_config, finetune_config
from .budgeted import summary_header
from .mae_report import table
from .pinned_jobs import Job, pin, run_pinned_jobs
from .report import RESULTS, Benchmark, add_options, finished_runs, write_results
from .runs import LoadSampler, run_one

__all__ = ["VARIANTS", "LABELS", "pretrain_setup", "route_setup", "mae_race", "COMMANDS"]

OUT = RESULTS / "mae"
RUNS_DIR = Path("experiments/mae")
LABELS = (600, 6000, 0)  # training images with labels: 1%, 10%, all (0)
EVAL_EVERY = 400  # steps between evaluations (about 18 s of training for the course model on one core)
# pretraining designs --choose compares: (model preset, mask ratio, decoder width, decoder depth)
VARIANTS = {"p7-mask75": ("fashion_mnist_cpu", 0.75, 64, 1), "p7-mask50": ("fashion_mnist_cpu", 0.5, 64, 1),
            "p7-mask75-dec128x2": ("fashion_mnist_cpu", 0.75, 128, 2), "p4-mask75": ("fashion_mnist_p4", 0.75, 64, 1)}


def pretrain_setup(variant: str, budget: float) -> tuple[ViTConfig, Recipe]:
    """The encoder's config and the masked-autoencoder recipe (``RECIPES['fashion-mnist-mae']``) for ``variant``."""
    preset, ratio, dim, depth = VARIANTS[variant]
    cfg, recipe = RECIPES["fashion-mnist-mae"].setup()
    cfg = ViTConfig.preset(preset, **{k: getattr(cfg, k) for k in ("img_size", "in_chans", "num_classes")})
    return cfg, dataclasses.replace(recipe, time_budget=budget, mask_ratio=ratio, decoder_dim=dim,
                                    decoder_depth=depth, eval_every=EVAL_EVERY)


def route_setup(variant: str, labels: int, budget: float, backbone: str = "") -> tuple[ViTConfig, Recipe]:
    """From scratch (no ``backbone``) or fine-tuned from it: the course recipe on ``labels`` labelled images, with
    shifts and flips when labels are few (at all labels the course recipe goes without, lesson 06)."""
    preset = VARIANTS[variant][0]
    cfg, recipe = RECIPES["fashion-mnist"].setup()
    cfg = ViTConfig.preset(preset, **{k: getattr(cfg, k) for k in ("img_size", "in_chans", "num_classes")})
    aug = {"crop_pad": 2, "flip": True} if labels else {}
    recipe = dataclasses.replace(recipe, time_budget=budget, train_size=labels, eval_every=EVAL_EVERY, **aug)
    if backbone:
        recipe = dataclasses.replace(recipe, init_from=backbone)
        cfg = finetune_config(backbone_config(backbone), cfg.num_classes, cfg.img_size, cfg.in_chans)
    return cfg, recipe


def _images(dataset: str | ImageData) -> ImageData:
    return dataset if isinstance(dataset, ImageData) else load_dataset(dataset)


def _pretrain_and_probe(core: int, dataset, variant: str, budget: float, seed: int, out_dir: Path, labels, results,
                        key):
    """Child process: pretrain a masked autoencoder for ``budget`` s, then linear probes at each label count."""
    pin(core)
    setup_logging()
    try:
        cfg, recipe = pretrain_setup(variant, budget)
        data = _images(dataset)
        res = run_one(f"mae-{variant}", cfg, recipe, data, seed, out_dir)
        res["best_val_loss"] = min(m["val_loss"] for m in read_metrics(out_dir))
        t0 = time.perf_counter()
        with LoadSampler() as load:
            res["probes"] = probes(out_dir / "best.pt", labels, seed, data)
        res["probe_time"] = round(time.perf_counter() - t0, 2)
        res["probe_load"] = load.record()
        results.put((key, res))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        results.put((key, f"{type(e).__name__}: {e}"))


def probes(checkpoint: Path, labels, seed: int, data: ImageData) -> dict:
    """Linear probes of a pretraining checkpoint's encoder at each label count: {str(labels): probe result}."""
    mae, ck = load_model(checkpoint)
    data = with_validation(data, int(ck["val_size"]))
    info = data.info
    out = {}
    feats = {s: encoder_features(mae.encoder, x, info.mean, info.std)
             for s, x in (("val", data.val_x), ("test", data.test_x))}
    for n in labels:
        sub = balanced_subset(data, n, seed)  # the same labelled images the fine-tuned route gets
        train = encoder_features(mae.encoder, sub.train_x, info.mean, info.std)
        out[str(n)] = linear_probe(train, sub.train_y, feats["val"], data.val_y, feats["test"], data.test_y,
                                   info.num_classes)
    return out


def _routed(core: int, dataset, name: str, cfg, recipe, seed: int, out_dir: Path, results, key):
    pin(core)
    setup_logging()
    try:
        results.put((key, run_one(name, cfg, recipe, _images(dataset), seed, out_dir)))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        results.put((key, f"{type(e).__name__}: {e}"))


def mae_race(seeds=(0, 1, 2), budget: float = 300.0, pretrain_budget: float = 200.0, labels=LABELS,
             variant: str = "p7-mask75", choose: bool = False, out: Path = OUT, runs_dir: Path = RUNS_DIR,
             workers: int = 2, min_cpu_share: float = 0.9, max_load: float | None = None,
             data: ImageData | None = None) -> dict:
    """Run the race (or, with ``choose``, the pretraining designs' probes on seed 0); write and return the summary.
    ``data``: images to use instead of Fashion-MNIST (tests); a child loads Fashion-MNIST itself otherwise."""
    dataset = data if data is not None else "fashion-mnist"
    if not 0 < pretrain_budget < budget:
        raise ValueError(f"--pretrain-budget must be between 0 and --budget ({budget:g} s), got {pretrain_budget:g}: "
                         "pretraining is counted inside the budget")
    variants = list(VARIANTS) if choose else [variant]
    seeds = seeds[:1] if choose else seeds
    if choose and out == OUT:
        out = RESULTS / "mae_choose"
    budgets = {"race_budget": budget, "race_pretrain_budget": pretrain_budget}
    done = {} if choose else {(r["route"], r["variant"], r["seed"], r["labels"]): r for r in finished_runs(out).values()
                              if all(r.get(k) == v for k, v in budgets.items()) and not r.get("unfair")}
    jobs = []
    for seed in seeds:
        for v in variants:
            key = ("pretrain", v, seed, -1)
            jobs.append(Job(key, lambda res, v=v, s=seed: (_pretrain_and_probe, (
                dataset, v, pretrain_budget, s, runs_dir / f"pretrain-{v}-seed{s}", labels))))
            if choose:
                continue
            for n in labels:
                def finetune(res, v=v, s=seed, n=n, k=key):
                    ck = str(Path(res[k]["run_dir"]) / "best.pt")
                    cfg, rec = route_setup(v, n, budget - res[k]["train_time"], ck)
                    return _routed, (dataset, f"finetune-{n}", cfg, rec, s, runs_dir / f"finetune-{v}-{n}-seed{s}")
                jobs.append(Job(("finetune", v, seed, n), finetune, needs=key))
                cfg, rec = route_setup(v, n, budget)
                rd = runs_dir / f"scratch-{v}-{n}-seed{seed}"
                jobs.append(Job(("scratch", v, seed, n), lambda res, c=cfg, r=rec, s=seed, n=n, d=rd: (
                    _routed, (dataset, f"scratch-{n}", c, r, s, d))))
    start_load, so_far = loadavg(), dict(done)

    def keep(key, res):
        res.update(route=key[0], variant=key[1], seed=key[2], labels=key[3], name="-".join(map(str, key)), **budgets)
        so_far[key] = res
        write_results(out, {"partial": True, "command": command()}, list(so_far.values()),
                      "partial results; the benchmark is still going\n")

    results, discarded = run_pinned_jobs(jobs, workers, max_load, min_cpu_share, on_result=keep, done=done)
    runs = list(results.values())
    summ = summary_header("mae", budget, seeds, runs, start_load, pretrain_budget_s=pretrain_budget,
                          labels=list(labels), variants=variants, chose=choose, workers=workers,
                          discarded=discarded, results_dir=str(out))
    write_results(out, summ, runs, table(summ, runs))
    return summ


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT, budget=300.0, seeds=(0, 1, 2), device=False)
    p.add_argument("--pretrain-budget", type=float, default=200.0,
                   help="seconds of the budget spent pretraining (default 200); the rest fine-tunes")
    p.add_argument("--labels", type=int, nargs="+", default=list(LABELS),
                   help="labelled training images per result, 0 = all (default 600 6000 0)")
    p.add_argument("--variant", choices=list(VARIANTS), default="p7-mask75", help="the pretraining design raced")
    p.add_argument("--choose", action="store_true",
                   help="compare every pretraining design's linear probes on validation (seed 0) instead")
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help=f"where run folders go (default {RUNS_DIR})")
    p.add_argument("--workers", type=int, default=2, help="runs at a time, each on a core of its own (default 2)")
    p.add_argument("--min-cpu-share", type=float, default=0.9, help="a run with less is run again (default 0.9)")


def _run(args: argparse.Namespace) -> None:
    s = mae_race(args.seeds, args.budget, args.pretrain_budget, tuple(args.labels), args.variant, args.choose,
                 args.out, args.runs_dir, args.workers, args.min_cpu_share)
    print((Path(s["results_dir"]) / "README.md").read_text())


COMMANDS = (Benchmark("mae", "lesson 11: masked-autoencoder pretraining + fine-tuning vs from scratch with 1, 10 "
                      "and 100 percent of the labels, one total budget", _add_arguments, _run),)
