"""Lesson 09's race: every small-data route on Fashion-MNIST at the same wall-clock budget, seed by seed.

    python -m vit_lessons bench small-data --seeds 0 1 2        # 10 minutes per route and seed, two at a time

Routes: the CNN alone; the ViT recipe; the ViT with the locality switches of Lee et al. 2021 (shifted
patch tokenization, locality self-attention); the paper's hybrid (Sec. 3.1: the ViT's patches cut from a
small conv stem's feature map); ViT students distilled from a CNN teacher (soft, hard, DeiT's token) and
the hybrid distilled softly, where the teacher's training time is counted inside the budget (the teacher
trains ``--teacher-budget`` seconds, the student the rest).

The same conditions for every contestant: each run is a process of its own with one torch thread,
pinned to a core of its own, at most one run per core (``--workers``, two on a 2-core machine);
nothing else should run meanwhile. Every run samples the load average every 5 s and measures its
CPU share (CPU seconds per wall second, ~1.0 when it had its core to itself); a run whose mean load
exceeded the machine's cores + 0.5, or whose CPU share fell below ``--min-cpu-share``, is discarded
and run again. Every run holds out the validation split; its result is the test accuracy at its best
validation evaluation. A call that stopped part-way continues: finished fair runs with the same model
and recipe are reused, so adding seeds or routes later only trains what is missing.

What each route trains is small_data_routes.py; what the race writes, small_data_report.py (both
re-exported here: ``from vit_lessons.bench.small_data import ROUTES, route_setup, table``).

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
from pathlib import Path

from ..machine import command, loadavg
from ..train import log
from .budgeted import add_budget_options, reusable
from .report import RESULTS, Benchmark, copy_metrics, finished_runs, write_results
from .runs import _pinned_run
from .small_data_report import summary, table
from .small_data_routes import HYBRID_STEM, ROUTES, route_setup

__all__ = ["ROUTES", "HYBRID_STEM", "small_data", "route_setup", "fair", "table", "COMMANDS"]

OUT = RESULTS / "small_data_10min"
RUNS_DIR = Path("experiments/small_data")


def fair(res: dict, max_load: float, min_cpu_share: float = 0.9) -> str:
    """'' if a run had the conditions every contestant gets, else why not (too much load, too little CPU)."""
    why = []
    if res.get("load_mean") is not None and res["load_mean"] > max_load:
        why.append(f"mean load {res['load_mean']} above {max_load:g} (the cores + 0.5)")
    if res.get("cpu_share") is not None and res["cpu_share"] < min_cpu_share:
        why.append(f"CPU share {res['cpu_share']} below {min_cpu_share}")
    return "; ".join(why)


def small_data(seeds=(0, 1, 2), budget: float = 600.0, teacher_budget: float = 240.0, routes=tuple(ROUTES),
               out: Path = OUT, runs_dir: Path = RUNS_DIR, evals_per_epoch: int = 1,
               alpha: float = 0.5, tau: float = 1.0, teacher_preset: str = "cnn_small", device=None, workers: int = 2,
               min_cpu_share: float = 0.9, max_load: float | None = None, tries: int = 3, data=None) -> dict:
    """Train every route for every seed, ``workers`` runs at a time, each pinned to its own core; write and
    return the summary. Unfair runs (see :func:`fair`; ``max_load`` defaults to the cores + 0.5) are run
    again, up to ``tries`` times. ``data``: images to use instead of Fashion-MNIST (tests)."""
    unknown = [r for r in routes if r not in ROUTES]
    if unknown:
        raise ValueError(f"unknown routes {unknown}; choose from {list(ROUTES)}")
    if any(r.startswith("distill-") for r in routes) and not 0 < teacher_budget < budget:
        raise ValueError(f"--teacher-budget must be between 0 and --budget ({budget:g} s), got {teacher_budget:g}: "
                         "the teacher's training is counted inside the budget")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if not 1 <= workers <= len(cores):
        raise ValueError(f"--workers must be between 1 and the {len(cores)} cores this process may use, got {workers}")
    max_load = (os.cpu_count() or len(cores)) + 0.5 if max_load is None else max_load
    start_load, done = loadavg(), finished_runs(out)
    jobs = []  # (name, seed, the teacher's key or None), in the order they start
    for seed in seeds:
        distilled = [r for r in routes if r.startswith("distill-")]
        if distilled:
            jobs.append(("teacher", seed, None))  # one teacher per seed, shared by the students
        jobs += [(r, seed, ("teacher", seed) if r.startswith("distill-") else None) for r in routes]
    results: dict[tuple, dict] = {}
    attempts: dict[tuple, int] = {}
    discarded: list[dict] = []

    def setup(name, seed, needs):
        if name == "teacher":
            return route_setup("cnn", teacher_budget, evals_per_epoch, teacher_preset=teacher_preset), 0.0
        t_time = results[needs]["train_time"] if needs else 0.0
        if t_time >= budget:
            raise RuntimeError(f"the teacher trained {t_time:.1f} s of the {budget:g} s budget, leaving nothing "
                               "for its student: lower --teacher-budget")
        ck = str(Path(results[needs]["run_dir"]) / "last.pt") if needs else ""
        return route_setup(name, budget - t_time, evals_per_epoch, ck, alpha, tau, teacher_preset), t_time

    def finish(key, res, t_time):
        res["teacher_time"] = t_time
        res["total_time"] = round(res["train_time"] + t_time, 2)
        for k in ("time_to_85", "time_to_90", "time_to_91"):  # from the start of the teacher's training
            if res.get(k) is not None and not res.get("times_include_teacher"):
                res[k] = round(res[k] + t_time, 3)
        res["times_include_teacher"] = True
        results[key] = res
        write_results(out, {"partial": True, "command": command()}, list(results.values()),
                      "partial results; the benchmark is still going\n")

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    pending, running = list(jobs), {}  # running: core -> (key, process, teacher time)
    while pending or running:
        for core in [c for c in cores[:workers] if c not in running]:
            ready = next((j for j in pending if j[2] is None or j[2] in results), None)
            if ready is None:
                break
            pending.remove(ready)
            name, seed, needs = ready
            (cfg, recipe), t_time = setup(name, seed, needs)
            prev = done.get((name, seed))
            if reusable(prev, cfg, recipe) and "cpu_share" in prev and not fair(prev, max_load, min_cpu_share):
                finish((name, seed), prev, t_time)  # a fair run of this very job is already there
                continue
            rd = runs_dir / f"{name}-seed{seed}"
            images = data if data is not None else "fashion-mnist"  # a child loads the dataset by name
            p = ctx.Process(target=_pinned_run, args=(core, images, name, cfg, recipe, seed, rd, device, q,
                                                      (name, seed)))
            p.start()
            running[core] = ((name, seed), p, t_time)
            log.info(f"started {name} seed {seed} on core {core} ({recipe.time_budget:.0f} s of training)")
        if not running:
            continue
        try:
            key, res = q.get(timeout=5)
        except queue.Empty:  # a child killed from outside (out of memory, a signal) never reports
            dead = [(k, p.exitcode) for k, p, _ in running.values() if p.exitcode not in (None, 0)]
            if dead:
                for _, p, _ in running.values():
                    p.terminate()
                raise RuntimeError(f"runs died without a result ({dead}); finished runs are kept, run the same "
                                   "command again to continue") from None
            continue
        core = next(c for c, (k, _, _) in running.items() if k == key)
        _, proc, t_time = running.pop(core)
        proc.join()
        if isinstance(res, str):
            for _, p, _ in running.values():
                p.terminate()
            raise RuntimeError(f"run {key} failed: {res}")
        why = fair(res, max_load, min_cpu_share)
        if why:
            attempts[key] = attempts.get(key, 0) + 1
            discarded.append(res | {"discarded": why})
            log.info(f"discarded {key[0]} seed {key[1]}: {why}" +
                     ("; running it again" if attempts[key] < tries else "; kept after the last try"))
            if attempts[key] < tries:
                pending.insert(0, (key[0], key[1], ("teacher", key[1]) if key[0].startswith("distill-") else None))
                continue
            res["unfair"] = why
        copy_metrics(Path(res["run_dir"]), out / f"{key[0]}_seed{key[1]}.metrics.jsonl")
        finish(key, res, t_time)
    runs = list(results.values())
    ran = set(results)
    runs += [r for key, r in done.items() if key not in ran]  # earlier calls' other routes and seeds stay
    summ = summary(runs, seeds, budget, teacher_budget, start_load, workers, discarded)
    write_results(out, summ, runs, table(summ, runs))
    return summ


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_budget_options(p, OUT, RUNS_DIR, evals_per_epoch=1, evals="evaluations (validation and test)")
    p.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES),
                   help="routes to run (default all)")
    p.add_argument("--teacher-budget", type=float, default=240.0,
                   help="seconds of the budget the CNN teacher trains for (default 240)")
    p.add_argument("--teacher-preset", default="cnn_small", help="the CNN design of the teacher and of route cnn")
    p.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher's loss (default 0.5)")
    p.add_argument("--distill-tau", type=float, default=1.0, help="soft distillation's temperature (default 1)")
    p.add_argument("--workers", type=int, default=2,
                   help="runs at a time, each pinned to a core of its own (default 2)")
    p.add_argument("--min-cpu-share", type=float, default=0.9,
                   help="a run that got less CPU per wall second than this is run again (default 0.9)")


def _run(args: argparse.Namespace) -> None:
    s = small_data(args.seeds, args.budget, args.teacher_budget, args.routes, args.out, args.runs_dir,
                   evals_per_epoch=args.evals_per_epoch, alpha=args.distill_alpha, tau=args.distill_tau,
                   teacher_preset=args.teacher_preset, device=args.device, workers=args.workers,
                   min_cpu_share=args.min_cpu_share)
    print(table(s, []).split("Runs:")[0])


COMMANDS = (Benchmark("small-data", "lesson 09: CNN, ViT, locality, hybrid and distilled routes at --budget seconds "
                      "each, two pinned runs at a time", _add_arguments, _run),)
