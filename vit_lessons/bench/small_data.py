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

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import queue
from pathlib import Path

from ..machine import command, loadavg
from ..train import RECIPES, default_setup, log
from ..train.recipes import cnn_setup
from .report import (
    RESULTS,
    Benchmark,
    add_options,
    copy_metrics,
    finished_runs,
    fmt_s,
    machine_record,
    median,
    median_time,
    today,
    write_results,
)
from .runs import _pinned_run

__all__ = ["ROUTES", "HYBRID_STEM", "small_data", "route_setup", "fair", "COMMANDS"]

OUT = RESULTS / "small_data_10min"
HYBRID_STEM = (16, 32)  # the hybrid's conv stem (preset fashion_mnist_hybrid): 3x3 conv + BN + ReLU, 1 -> 16 -> 32
# route -> what it is, for tables and the lesson
ROUTES = {
    "cnn": "the CNN alone (--teacher-preset), the whole budget",
    "vit": "the course's ViT recipe (lesson 06)",
    "vit-spt": "ViT + shifted patch tokenization (Lee et al. 2021)",
    "vit-lsa": "ViT + locality self-attention (Lee et al. 2021)",
    "hybrid": "the paper's hybrid (Sec. 3.1): the course ViT cutting its patches from a conv stem's feature map "
              "(1 -> 16 -> 32 channels)",
    "distill-soft": "ViT student, soft distillation from the CNN (teacher time counted)",
    "distill-hard": "ViT student, hard distillation from the CNN (teacher time counted)",
    "distill-token": "ViT student with DeiT's distillation token (teacher time counted)",
    "distill-hybrid": "hybrid student, soft distillation from the CNN (teacher time counted)",
}


def route_setup(route: str, budget: float, evals_per_epoch: int = 1, teacher: str = "", alpha: float = 0.5,
                tau: float = 1.0, teacher_preset: str = "cnn_teacher"):
    """(config, recipe) of one route with ``budget`` seconds of training (a distilled route: its student)."""
    common = dict(time_budget=budget, evals_per_epoch=evals_per_epoch)
    if route == "cnn":
        return cnn_setup("fashion-mnist", teacher_preset, **common)
    cfg, recipe = default_setup("fashion-mnist", **common)
    if route == "vit":
        return cfg, recipe
    if route in ("vit-spt", "vit-lsa"):
        return cfg.replace(**{route[4:]: True}), recipe
    if route in ("hybrid", "distill-hybrid"):
        cfg, recipe = RECIPES["fashion-mnist-hybrid"].setup(**common)  # preset fashion_mnist_hybrid
    if route == "hybrid":
        return cfg, recipe
    if route.startswith("distill-") and route in ROUTES:
        mode = "soft" if route == "distill-hybrid" else route[len("distill-"):]
        student = cfg if route == "distill-hybrid" else cfg.replace(distilled=mode == "token")
        return student, dataclasses.replace(recipe, distill=mode, teacher=teacher, distill_alpha=alpha,
                                            distill_tau=tau)
    raise ValueError(f"unknown route {route!r}; choose from {list(ROUTES)}")


def fair(res: dict, max_load: float, min_cpu_share: float = 0.9) -> str:
    """'' if a run had the conditions every contestant gets, else why not (too much load, too little CPU)."""
    why = []
    if res.get("load_mean") is not None and res["load_mean"] > max_load:
        why.append(f"mean load {res['load_mean']} above {max_load:g} (the cores + 0.5)")
    if res.get("cpu_share") is not None and res["cpu_share"] < min_cpu_share:
        why.append(f"CPU share {res['cpu_share']} below {min_cpu_share}")
    return "; ".join(why)


def small_data(seeds=(0, 1, 2), budget: float = 600.0, teacher_budget: float = 240.0, routes=tuple(ROUTES),
               out: Path = OUT, runs_dir: Path = Path("experiments/small_data"), evals_per_epoch: int = 1,
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
            if prev and prev["recipe"] == recipe.to_dict() and prev["model"] == cfg.to_dict() and \
                    "cpu_share" in prev and not fair(prev, max_load, min_cpu_share) and \
                    (Path(prev["run_dir"]) / "last.pt").exists():
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
    summ = _summary(runs, seeds, budget, teacher_budget, start_load, workers, discarded)
    write_results(out, summ, runs, table(summ, runs))
    return summ


def _summary(runs, seeds, budget, teacher_budget, start_load, workers=1, discarded=()) -> dict:
    summ = {"benchmark": "small-data", "command": command(), "budget_s": budget, "teacher_budget_s": teacher_budget,
            "seeds": sorted({r["seed"] for r in runs} | set(seeds)), "routes": {},
            "counted": "training wall-clock time (batching, forward, backward, optimizer steps; for distilled "
                       "routes also the teacher's training and its one pass over the training images); not "
                       "counted: loading data, building models, test evaluations (clock paused)",
            "how": f"{workers} run(s) at a time, each a process with one torch thread pinned to a core of its own; "
                   "every run's load average sampled every 5 s and its CPU share measured; a run whose mean load "
                   "exceeded the cores + 0.5 or whose CPU share fell below the floor was discarded and run again",
            "machine": machine_record(), "discarded": list(discarded),
            "loadavg_start": runs[0]["loadavg_before"] if runs else start_load,
            "loadavg_end": runs[-1]["loadavg_after"] if runs else loadavg(), "date": today()}
    for name in ("teacher", *ROUTES):
        rs = sorted((r for r in runs if r["name"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        summ["routes"][name] = {
            "about": _about(name, rs[0], teacher_budget), "seeds": [r["seed"] for r in rs],
            "median_acc": median([r["final_acc"] for r in rs]), "accs": [r["final_acc"] for r in rs],
            "median_time_to_85": median_time([r["time_to_85"] for r in rs]),
            "times_to_85": [r["time_to_85"] for r in rs],
            "median_time_to_90": median_time([r.get("time_to_90") for r in rs]),
            "times_to_90": [r.get("time_to_90") for r in rs], "median_epochs": median([r["epochs"] for r in rs]),
            "load_means": [r.get("load_mean") for r in rs], "cpu_shares": [r.get("cpu_share") for r in rs],
            "median_images_per_s": median([r["images_per_s"] for r in rs]), "num_params": rs[0]["num_params"],
            "loads": [[_one_min(r["loadavg_before"]), _one_min(r["loadavg_after"])] for r in rs],
            "model": rs[0]["model"], "recipe": rs[0]["recipe"]}
    return summ


def _about(name: str, run: dict, teacher_budget: float) -> str:
    """What a route is, naming the CNN design its runs used (the preset is a command-line choice)."""
    cnn = run["model"].get("name", "cnn")
    if name == "teacher":
        return f"the CNN teacher ({cnn}), {teacher_budget:g} s"
    return ROUTES[name].replace("--teacher-preset", cnn)


def _one_min(load: str) -> str:
    """The 1-minute figure of a '1 5 15' load-average string."""
    return (load or "?").split()[0]


def table(s: dict, runs: list[dict]) -> str:
    """The README.md of the results: one line per route (medians), then one per run."""
    m = s["machine"]
    lines = [f"# Small-data routes on Fashion-MNIST, {s['budget_s']:.0f} s of training each "
             f"(teacher included) on a {m['cpu_count']}-core CPU", "",
             f"Command: `{s['command']}`  ", f"Date: {s['date']}  ",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']}  ",
             f"Load average (1/5/15 min) at start: {s['loadavg_start']}; at end: {s['loadavg_end']}.  ",
             f"Counted time: {s['counted']}.  ", f"How: {s['how']}.  ",
             "Accuracy: test accuracy (10,000 images) of each run's best validation evaluation (5,000 training "
             "images held out); test accuracy chose nothing.", "",
             "| route | median test acc | accs (seeds) | median time to 85% | median time to 90% | median epochs | "
             "img/s | params | mean load, CPU share (per seed) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in s["routes"].items():
        cond = "; ".join(f"{a}, {b}" for a, b in zip(r.get("load_means", []), r.get("cpu_shares", [])))
        lines.append(f"| {name} | {r['median_acc']:.2%} | {', '.join(f'{a:.2%}' for a in r['accs'])} "
                     f"(seeds {', '.join(map(str, r['seeds']))}) | {fmt_s(r['median_time_to_85'])} | "
                     f"{fmt_s(r.get('median_time_to_90'))} | {r['median_epochs']:.1f} | "
                     f"{r['median_images_per_s']:.0f} | {r['num_params']:,} | {cond} |")
    lines += ["", "Routes: " + "; ".join(f"**{k}** {r['about']}" for k, r in s["routes"].items()) + ".", "",
              "Runs:", "", "| route | seed | test acc (best val epoch) | val acc | last test acc | epochs | train s | "
              "teacher s | time to 85% | time to 90% | img/s | load mean / max | CPU share | core |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        val = f"{r['val_acc']:.2%}" if r.get("val_acc") is not None else "-"
        last = r.get("last_acc", r["final_acc"])
        lines.append(f"| {r['name']} | {r['seed']} | {r['final_acc']:.2%} | {val} | {last:.2%} "
                     f"| {r['epochs']:.2f} | {r['train_time']:.0f} | {r.get('teacher_time', 0):.0f} | "
                     f"{fmt_s(r['time_to_85'])} | {fmt_s(r.get('time_to_90'))} | {r['images_per_s']:.0f} | "
                     f"{r.get('load_mean')} / {r.get('load_max')} | {r.get('cpu_share')} | {r.get('cpu_affinity')} |")
    if s.get("discarded"):
        lines += ["", "Discarded (run again): " + "; ".join(f"{d['name']} seed {d['seed']}: {d['discarded']}"
                                                            for d in s["discarded"]) + "."]
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT, budget=600.0, seeds=(0, 1, 2))
    p.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES),
                   help="routes to run (default all)")
    p.add_argument("--teacher-budget", type=float, default=240.0,
                   help="seconds of the budget the CNN teacher trains for (default 240)")
    p.add_argument("--teacher-preset", default="cnn_small", help="the CNN design of the teacher and of route cnn")
    p.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher's loss (default 0.5)")
    p.add_argument("--distill-tau", type=float, default=1.0, help="soft distillation's temperature (default 1)")
    p.add_argument("--evals-per-epoch", type=int, default=1, help="evaluations per epoch (clock paused)")
    p.add_argument("--runs-dir", type=Path, default=Path("experiments/small_data"), help="where run folders go")
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
