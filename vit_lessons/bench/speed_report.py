"""The tables and files of ``bench speed``: one Markdown line per measured cell, and summary.json and
README.md under assets/results/speed/<machine>/, merged so a part can be measured again on its own.

Built in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["KEY", "format_rows", "line", "merge_and_write", "best_ours"]

# what identifies a measured row: measuring it again replaces it
KEY = ("section", "config", "impl", "mode", "dtype", "compile", "threads", "device")


def line(rows: list[dict]) -> str:
    """One printed line for the rows of one cell, while the benchmark runs."""
    r0 = rows[0]
    what = (f"{r0['section']:<9} {r0['config']} {r0['mode']} {r0['dtype']} {'compiled' if r0['compile'] else 'eager'}"
            f" {r0['threads'] or '-'} thread(s):")
    ips = " | ".join(f"{r['impl']} {r['images_per_s']:.1f}" for r in rows)
    vs = [f"{r['impl']} {r['vs_timm']:.2f}x ({r['vs_timm_cpu']:.2f}x CPU time)" for r in rows
          if "vs_timm" in r and r["impl"] != "timm"]
    return f"{what} {ips} img/s" + (f"; vs timm: {', '.join(vs)}" if vs else "") + f" (load {r0['loadavg']})"


def best_ours(rows: list[dict]) -> dict | None:
    """Our faster path of a cell: by CPU-time ratio on a CPU (the steadier measure), by wall clock on a GPU."""
    key = "vs_timm_cpu" if rows and rows[0]["device"] == "cpu" else "vs_timm"
    return max(rows, key=lambda r: r.get(key, 0), default=None)


def _ips(r) -> str:
    return f"{r['images_per_s']:.1f} [{r['min_images_per_s']:.1f}–{r['max_images_per_s']:.1f}]"


def _cells(rows):
    cells = {}
    for r in rows:
        cells.setdefault(tuple(r[k] for k in KEY if k != "impl"), {})[r["impl"]] = r
    return cells


def format_rows(rows: list[dict]) -> str:
    """A Markdown table of ``rows``: one line per cell, the contestants side by side (images/s, median
    [min–max] over rounds) and, for whole models, our faster path and torchvision as multiples of timm."""
    out = []
    for section in ("models", "attention"):
        rs = [r for r in rows if r["section"] == section]
        if not rs:
            continue
        names = list(dict.fromkeys(r["impl"] for r in rs))
        head = ["config", "tokens", "batch", "mode", "dtype", "compile", "threads"] + names
        if section == "models":
            head += ["best ours / timm", "torchvision / timm", "same, CPU time", "peak MB ours / timm", "GFLOP/img",
                     "MFU"]
        out += [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
        for c in _cells(rs).values():
            r0 = next(iter(c.values()))
            line = [r0["config"], r0["tokens"], r0["batch"], r0["mode"], r0["dtype"],
                    "yes" if r0["compile"] else "no", r0["threads"] or "-"]
            line += [_ips(c[n]) if n in c else "" for n in names]
            if section == "models":
                ours = [c[n] for n in ("ours-explicit", "ours-sdpa") if n in c]
                best = best_ours(ours)
                mem = [f"{r['peak_mem_mb']:.3g}" if r and r.get("peak_mem_mb") else "-" for r in (best, c.get("timm"))]
                line += [f"{best['vs_timm']:.2f}x ({best['impl'][5:]})" if best and "vs_timm" in best else "",
                         f"{c['torchvision']['vs_timm']:.2f}x" if "vs_timm" in c.get("torchvision", {}) else "",
                         " / ".join(f"{c[n]['vs_timm_cpu']:.2f}x" if "vs_timm_cpu" in c.get(n, {}) else "-"
                                    for n in (best["impl"] if best else "", "torchvision")),
                         " / ".join(mem), f"{r0['gflop_per_image']:.3g}",
                         f"{max(r.get('mfu') or 0 for r in c.values()):.0%}" if any(r.get("mfu") for r in c.values())
                         else "-"]
            out.append(f"| {' | '.join(str(v) for v in line)} |")
        out.append("")
    mem = _cells([r for r in rows if r["section"] == "memory"])
    if mem:
        out += ["| config | tokens | batch | peak MB explicit | peak MB SDPA | difference MB | attention probabilities "
                "MB (L·B·h·n²·4 bytes) |", "|---|---|---|---|---|---|---|"]
        for c in mem.values():
            e, f = c["ours-explicit"], c["ours-sdpa"]
            gap = e["peak_mem_mb"] - f["peak_mem_mb"]
            out.append(f"| {e['config']} | {e['tokens']} | {e['batch']} | {e['peak_mem_mb']:.1f} | "
                       f"{f['peak_mem_mb']:.1f} | {gap:.1f} | {e['attn_probs_mb']:.1f} |")
        out.append("")
    return "\n".join(out)


def _readme(s: dict) -> str:
    m, v = s["machine"], s["versions"]
    loads = [float(x.split()[0]) for r in s["rows"] for x in r["loadavg"].split("->") if x.strip()]
    lines = [f"# Speed on {m['gpu'] or m['cpu']} ({m['cpu_count']} CPU cores)", "",
             "Images per second, median over rounds [slowest–fastest round]. The contestants of a line take turns "
             "within each round, so a change in machine load hits them all; \"x timm\" is the median over rounds "
             "of the ratio measured within the round; \"same, CPU time\" is that ratio for the CPU time the "
             "process used (best ours / torchvision), steadier than wall-clock time when other work shares the "
             "cores. Same config, same weights (logits checked equal). A training "
             "step is forward, cross-entropy, backward and an AdamW step; bf16 is autocast; MFU only on a GPU.", "",
             f"Versions: {', '.join(f'{k} {x}' for k, x in v.items())}; {m['platform']}  ",
             "Commands (each row in summary.json names its own command, date and load average):  "]
    lines += [f"- `{r['command']}` ({r['date']})  " for r in s["runs"]]
    lines += ["", f"The 1-minute load average, before and after each line, ranged from {min(loads):.2f} to "
              f"{max(loads):.2f} (summary.json has each line's); above {m['cpu_count']} means other work shared the "
              "cores.", "", format_rows([r for r in s["rows"] if (r["threads"] or 1) == 1])]
    more = [r for r in s["rows"] if (r["threads"] or 1) > 1]
    if more:  # a second thread measures the machine's other work as much as the code: kept apart, with its load
        lines += ["## Appendix: more than one thread", "",
                  "Lines timed with more than one thread. A step split over threads waits for the slowest, so when "
                  f"other programs hold cores (a load average above {m['cpu_count']}) these lines measure that "
                  "sharing as much as the code; read each with its load average, before -> after the line:", ""]
        lines += [f"- {r['config']} {r['mode']} {r['dtype']}, {r['threads']} threads: {r['loadavg']}  "
                  for r in (next(iter(c.values())) for c in _cells(more).values())]
        lines += ["", format_rows(more)]
    return "\n".join(lines) + "\n"


def merge_and_write(out: Path, summary: dict, new_run: bool = True) -> dict:
    """Merge ``summary`` into ``out``/summary.json (a row measured again replaces the old one) and rewrite
    README.md; written to temporary files, then renamed, so a stopped run leaves the old files whole.
    ``new_run=False``: more lines of a run already recorded there, so its ``runs`` entry is not added again."""
    f = out / "summary.json"
    if f.exists():
        old = json.loads(f.read_text())
        new_keys = {tuple(r[k] for k in KEY) for r in summary["rows"]}
        kept = [r for r in old.get("rows", []) if tuple(r[k] for k in KEY) not in new_keys]
        runs = old.get("runs", []) + (summary["runs"] if new_run else [])
        summary = summary | {"rows": kept + summary["rows"], "runs": runs}
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("summary.json", json.dumps(summary, indent=1) + "\n"), ("README.md", _readme(summary))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
    return summary
