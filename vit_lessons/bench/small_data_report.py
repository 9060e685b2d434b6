"""Lesson 09's race, what it writes: the summary (per route, the medians over seeds, the load and CPU
share each run had) and the README table of assets/results/small_data_10min/. The race itself is
vit_lessons/bench/small_data.py.

Built in notebooks/09_small_data.
"""

from __future__ import annotations

from .budgeted import contestant_medians, summary_header
from .report import fmt_s, median_time
from .small_data_routes import ROUTES

__all__ = ["summary", "table"]


def summary(runs, seeds, budget, teacher_budget, start_load, workers=1, discarded=()) -> dict:
    """The race's summary.json: how it was run, then per route (the teacher first) its runs' medians."""
    summ = summary_header(
        "small-data", budget, sorted({r["seed"] for r in runs} | set(seeds)), runs, start_load,
        teacher_budget_s=teacher_budget, routes={},
        counted="training wall-clock time (batching, forward, backward, optimizer steps; for distilled "
                "routes also the teacher's training and its one pass over the training images); not "
                "counted: loading data, building models, test evaluations (clock paused)",
        how=f"{workers} run(s) at a time, each a process with one torch thread pinned to a core of its own; "
            "every run's load average sampled every 5 s and its CPU share measured; a run whose mean load "
            "exceeded the cores + 0.5 or whose CPU share fell below the floor was discarded and run again",
        discarded=list(discarded))
    for name in ("teacher", *ROUTES):
        rs = sorted((r for r in runs if r["name"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        summ["routes"][name] = {
            "about": _about(name, rs[0], teacher_budget), "seeds": [r["seed"] for r in rs], **contestant_medians(rs),
            "median_time_to_90": median_time([r.get("time_to_90") for r in rs]),
            "times_to_90": [r.get("time_to_90") for r in rs],
            "load_means": [r.get("load_mean") for r in rs], "cpu_shares": [r.get("cpu_share") for r in rs],
            "loads": [[_one_min(r["loadavg_before"]), _one_min(r["loadavg_after"])] for r in rs]}
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
