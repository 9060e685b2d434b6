"""What ``bench mae`` writes: the race's table (median test accuracy over seeds, with each seed's, per route
and label count), or ``--choose``'s table of pretraining designs (validation accuracy of their probes).

Built in notebooks/11_self_supervised.
"""

from __future__ import annotations

from .report import median

__all__ = ["table", "race_rows", "ROUTE_NAMES"]

ROUTE_NAMES = {"scratch": "from scratch", "finetune": "MAE + fine-tune", "probe": "MAE + linear probe"}


def _label(n: int) -> str:
    return "all (55,000)" if n == 0 else f"{n:,}"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def race_rows(runs: list[dict]) -> list[dict]:
    """One row per (route, labels): the median test accuracy over seeds and every seed's, the probes included
    (from each pretraining run's 'probes')."""
    acc: dict[tuple, dict[int, float]] = {}
    for r in runs:
        if r["route"] == "pretrain":
            for n, p in r.get("probes", {}).items():
                acc.setdefault(("probe", int(n)), {})[r["seed"]] = p["test_acc"]
        else:
            acc.setdefault((r["route"], r["labels"]), {})[r["seed"]] = r["final_acc"]
    rows = []
    for (route, n), by_seed in acc.items():
        seeds = sorted(by_seed)
        rows.append({"route": route, "labels": n, "seeds": seeds, "accs": [by_seed[s] for s in seeds],
                     "median_acc": median([by_seed[s] for s in seeds])})
    order = {"scratch": 0, "finetune": 1, "probe": 2}
    return sorted(rows, key=lambda r: (r["labels"] == 0, r["labels"], order[r["route"]]))


def _conditions(runs: list[dict]) -> str:
    loads = [r["load_mean"] for r in runs if r.get("load_mean") is not None]
    shares = [r["cpu_share"] for r in runs if r.get("cpu_share") is not None]
    if not loads:
        return ""
    return (f"Conditions: mean 1-minute load of every run {min(loads):.2f}–{max(loads):.2f}, CPU share "
            f"{min(shares):.3f}–{max(shares):.3f} (one torch thread, a core of its own).\n")


def table(s: dict, runs: list[dict]) -> str:
    """README.md of the results folder."""
    head = [f"# bench mae{' --choose' if s.get('chose') else ''}", "", f"Command: `{s['command']}`", ""]
    if s.get("chose"):
        head += [f"Date: {s['date']}. Each design pretrained for {s['pretrain_budget_s']:g} s on one core (seed 0), "
                 "then a linear probe (a logistic regression on the frozen encoder's features, its pooling and L2 "
                 "penalty chosen on validation) fitted on the labelled images; the validation accuracy of the chosen "
                 "probe is shown; the runs record test figures too (runs.jsonl), but they chose nothing.", ""]
    else:
        head += [f"Date: {s['date']}. Budget per result: {s['budget_s']:g} s of training, of which pretraining "
                 f"{s['pretrain_budget_s']:g} s (counted in every label count's result). Seeds: "
                 f"{', '.join(map(str, s['seeds']))}. Test accuracy at each run's best validation evaluation; "
                 "chance is 10%.", ""]
    if s.get("chose"):
        lines = head + ["Pretraining designs (seed 0), compared on the **validation** split only:", "",
                        "| design | probe val acc, " + " | ".join(_label(n) for n in s["labels"]) +
                        " labels | val reconstruction loss | images/s | parameters (encoder + decoder) |",
                        "|---|" + "---|" * (len(s["labels"]) + 3)]
        for r in runs:
            probes = " | ".join(_pct(r["probes"][str(n)]["val_acc"]) for n in s["labels"])
            lines.append(f"| {r['variant']} | {probes} | {r['best_val_loss']:.4f} | {r['images_per_s']:,.0f} | "
                         f"{r['num_params']:,} |")
        return "\n".join(lines + ["", _conditions(runs)])
    lines = head + ["| labels | route | median test acc | per seed |", "|---|---|---|---|"]
    for row in race_rows(runs):
        lines.append(f"| {_label(row['labels'])} | {ROUTE_NAMES[row['route']]} | {_pct(row['median_acc'])} | "
                     f"{' / '.join(_pct(a) for a in row['accs'])} |")
    lines += ["", "| labels | MAE + fine-tune minus from scratch (median of per-seed differences) |", "|---|---|"]
    for n, gap in gaps(runs).items():
        per = ", ".join(f"{g * 100:+.2f}" for g in gap["per_seed"])
        lines.append(f"| {_label(n)} | {gap['median'] * 100:+.2f} points ({per}) |")
    return "\n".join(lines + ["", _conditions(runs)])


def gaps(runs: list[dict]) -> dict[int, dict]:
    """Per label count: fine-tuned minus from-scratch test accuracy, seed by seed (paired), and their median."""
    by = {(r["route"], r["labels"], r["seed"]): r["final_acc"] for r in runs if r["route"] != "pretrain"}
    out = {}
    for n in sorted({k[1] for k in by}, key=lambda n: (n == 0, n)):
        per = [by[("finetune", n, s)] - by[("scratch", n, s)] for s in sorted({k[2] for k in by})
               if ("finetune", n, s) in by and ("scratch", n, s) in by]
        if per:
            out[n] = {"per_seed": per, "median": median(per)}
    return out

