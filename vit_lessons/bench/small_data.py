"""Lesson 09's race: every small-data route on Fashion-MNIST at the same wall-clock budget, seed by seed.

    python -m vit_lessons bench small-data --seeds 0 1 2 --threads 2      # 10 minutes per route and seed

Routes: the CNN alone; the ViT recipe; the ViT distilled from a CNN teacher (soft, hard, token), where
the teacher's training time is counted inside the budget (the teacher trains ``--teacher-budget``
seconds, the student the rest); and the ViT with the locality switches of Lee et al. 2021 (shifted
patch tokenization, locality self-attention). One run after the other; each run records the load
average around it. A call that stopped part-way continues: finished runs with the same model and
recipe are reused, so adding seeds or routes later only trains what is missing.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ..data import ImageData, load_dataset
from ..machine import command, loadavg
from ..train import default_setup
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
from .runs import run_one

__all__ = ["ROUTES", "small_data", "route_setup", "COMMANDS"]

OUT = RESULTS / "small_data_10min"
# route -> what it is, for tables and the lesson
ROUTES = {
    "cnn": "the CNN alone (--teacher-preset), the whole budget",
    "vit": "the course's ViT recipe (lesson 06)",
    "vit-spt": "ViT + shifted patch tokenization (Lee et al. 2021)",
    "vit-lsa": "ViT + locality self-attention (Lee et al. 2021)",
    "distill-soft": "ViT student, soft distillation from the CNN (teacher time counted)",
    "distill-hard": "ViT student, hard distillation from the CNN (teacher time counted)",
    "distill-token": "ViT student with DeiT's distillation token (teacher time counted)",
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
    if route.startswith("distill-"):
        mode = route[len("distill-"):]
        return (cfg.replace(distilled=mode == "token"),
                dataclasses.replace(recipe, distill=mode, teacher=teacher, distill_alpha=alpha, distill_tau=tau))
    raise ValueError(f"unknown route {route!r}; choose from {list(ROUTES)}")


def small_data(seeds=(0, 1, 2), budget: float = 600.0, teacher_budget: float = 150.0, routes=tuple(ROUTES),
               out: Path = OUT, runs_dir: Path = Path("experiments/small_data"), data: ImageData | None = None,
               evals_per_epoch: int = 1, alpha: float = 0.5, tau: float = 1.0, teacher_preset: str = "cnn_teacher",
               device=None) -> dict:
    """Train every route for every seed, one run after the other; write and return the summary."""
    unknown = [r for r in routes if r not in ROUTES]
    if unknown:
        raise ValueError(f"unknown routes {unknown}; choose from {list(ROUTES)}")
    if any(r.startswith("distill-") for r in routes) and not 0 < teacher_budget < budget:
        raise ValueError(f"--teacher-budget must be between 0 and --budget ({budget:g} s), got {teacher_budget:g}: "
                         "the teacher's training is counted inside the budget")
    data = data or load_dataset("fashion-mnist")
    runs, start_load, done = [], loadavg(), finished_runs(out)

    def run(name, cfg, recipe, seed, extra=None):
        rd = runs_dir / f"{name}-seed{seed}"
        prev = done.get((name, seed))
        if prev and prev["recipe"] == recipe.to_dict() and prev["model"] == cfg.to_dict() and \
                (Path(prev["run_dir"]) / "last.pt").exists():
            res = prev
        else:
            res = run_one(name, cfg, recipe, data, seed, rd, device=device) | (extra or {})
            copy_metrics(rd, out / f"{name}_seed{seed}.metrics.jsonl")
        runs.append(res)
        write_results(out, {"partial": True, "command": command()}, runs, "partial results; the benchmark is still "
                      "going\n")
        return res

    for seed in seeds:
        teacher = None
        for route in routes:
            if route.startswith("distill-") and teacher is None:  # one teacher per seed, shared by the students
                teacher = run("teacher", *route_setup("cnn", teacher_budget, evals_per_epoch,
                                                      teacher_preset=teacher_preset), seed)
            t_time = teacher["train_time"] if route.startswith("distill-") else 0.0
            if t_time >= budget:
                raise RuntimeError(f"the teacher trained {t_time:.1f} s of the {budget:g} s budget, leaving nothing "
                                   "for its student: lower --teacher-budget")
            ck = str(Path(teacher["run_dir"]) / "last.pt") if t_time else ""
            cfg, recipe = route_setup(route, budget - t_time, evals_per_epoch, ck, alpha, tau, teacher_preset)
            res = run(route, cfg, recipe, seed, {"teacher_time": t_time})
            res.setdefault("teacher_time", t_time)
            res["total_time"] = round(res["train_time"] + t_time, 2)
            for k in ("time_to_85", "time_to_90", "time_to_91"):  # from the start of the teacher's training
                if res.get(k) is not None and not res.get("times_include_teacher"):
                    res[k] = round(res[k] + t_time, 3)
            res["times_include_teacher"] = True
    ran = {(r["name"], r["seed"]) for r in runs}
    runs += [r for key, r in done.items() if key not in ran]  # earlier calls' other routes and seeds stay
    summ = _summary(runs, seeds, budget, teacher_budget, start_load)
    write_results(out, summ, runs, table(summ, runs))
    return summ


def _summary(runs, seeds, budget, teacher_budget, start_load) -> dict:
    summ = {"benchmark": "small-data", "command": command(), "budget_s": budget, "teacher_budget_s": teacher_budget,
            "seeds": sorted({r["seed"] for r in runs} | set(seeds)), "routes": {},
            "counted": "training wall-clock time (batching, forward, backward, optimizer steps; for distilled "
                       "routes also the teacher's training and its one pass over the training images); not "
                       "counted: loading data, building models, test evaluations (clock paused)",
            "how": f"one run after the other in one process, {torch.get_num_threads()} torch thread(s) each (other "
                   "work may have shared the machine: see the load averages)", "machine": machine_record(),
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
            "times_to_85": [r["time_to_85"] for r in rs], "median_epochs": median([r["epochs"] for r in rs]),
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
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']} ({m['torch_threads']} threads)  ",
             f"Load average (1/5/15 min) at start: {s['loadavg_start']}; at end: {s['loadavg_end']}. A load above "
             f"the {m['torch_threads']} threads means other work shared the machine: such runs got fewer steps, so "
             "their accuracies are conservative.  ", f"Counted time: {s['counted']}.  ", f"How: {s['how']}.", "",
             "| route | median test acc | accs (seeds) | median time to 85% | median epochs | img/s | params | "
             "load (1 min, before/after) |", "|---|---|---|---|---|---|---|---|"]
    for name, r in s["routes"].items():
        loads = "; ".join(f"{a}/{b}" for a, b in r["loads"])
        lines.append(f"| {name} | {r['median_acc']:.2%} | {', '.join(f'{a:.2%}' for a in r['accs'])} "
                     f"(seeds {', '.join(map(str, r['seeds']))}) | {fmt_s(r['median_time_to_85'])} | "
                     f"{r['median_epochs']:.1f} | {r['median_images_per_s']:.0f} | {r['num_params']:,} | {loads} |")
    lines += ["", "Routes: " + "; ".join(f"**{k}** {r['about']}" for k, r in s["routes"].items()) + ".", "",
              "Runs:", "", "| route | seed | test acc | epochs | train s | teacher s | time to 85% | img/s | load "
              "before | load after |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['name']} | {r['seed']} | {r['final_acc']:.2%} | {r['epochs']:.2f} | {r['train_time']:.0f} "
                     f"| {r.get('teacher_time', 0):.0f} | {fmt_s(r['time_to_85'])} | {r['images_per_s']:.0f} | "
                     f"{r['loadavg_before']} | {r['loadavg_after']} |")
    return "\n".join(lines) + "\n"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, OUT, budget=600.0, seeds=(0, 1, 2))
    p.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES),
                   help="routes to run (default all)")
    p.add_argument("--teacher-budget", type=float, default=150.0,
                   help="seconds of the budget the CNN teacher trains for (default 150)")
    p.add_argument("--teacher-preset", default="cnn_teacher", help="the CNN design of the teacher and of route cnn")
    p.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher's loss (default 0.5)")
    p.add_argument("--distill-tau", type=float, default=1.0, help="soft distillation's temperature (default 1)")
    p.add_argument("--evals-per-epoch", type=int, default=1, help="test evaluations per epoch (clock paused)")
    p.add_argument("--runs-dir", type=Path, default=Path("experiments/small_data"), help="where run folders go")


def _run(args: argparse.Namespace) -> None:
    s = small_data(args.seeds, args.budget, args.teacher_budget, args.routes, args.out, args.runs_dir,
                   evals_per_epoch=args.evals_per_epoch, alpha=args.distill_alpha, tau=args.distill_tau,
                   teacher_preset=args.teacher_preset, device=args.device)
    print(table(s, []).split("Runs:")[0])


COMMANDS = (Benchmark("small-data", "lesson 09: CNN, ViT, distilled ViT and locality routes at --budget seconds each",
                      _add_arguments, _run),)
