"""How fast is our ViT? Training steps and inference against timm's and torchvision's, side by side.

    python -m vit_lessons bench speed --quick                 # seconds: a tiny model, what CI runs
    python -m vit_lessons bench speed                         # the full measurement on this machine
    python -m vit_lessons bench speed --configs vit_s_16 --modes train --rounds 15 --threads 1
    python -m vit_lessons bench speed --configs fashion_mnist --sections memory   # memory against tokens

One process builds the same config four ways (our model on its explicit and its SDPA
attention path, timm's and torchvision's ``VisionTransformer``) holding the same weights,
checks their logits agree, then times them in turns: every round runs each contestant once,
in a rotating order, so a change in machine load hits them all alike. It reports medians,
the spread over rounds, and each contestant's median per-round ratio to timm. Our attention
alone is timed the four ways lesson 03 writes it. The memory section measures (it does not time)
the peak memory of our training step, explicit and SDPA attention, on patch grids of 3x3 to 14x14
(10 to 197 tokens). Each measurement records the load average,
and results merge into ``assets/results/speed/<machine>/`` (summary.json, README.md) so a
part can be measured again without losing the rest.

Built in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import contextlib
import math
import re
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import ViTConfig
from ..machine import command, loadavg, machine, versions
from ..model import VisionTransformer
from . import contestants as parts
from .flops import mfu, step_flops
from .report import Benchmark, today
from .runs import LoadSampler
from .speed_report import KEY, format_rows, line, merge_and_write

__all__ = ["CONFIGS", "IMPLS", "WAYS", "KEY", "COMMANDS", "MEMORY_GRIDS", "run_speed", "memory_rows", "machine_name",
           "format_rows", "add_arguments", "run"]

RESULTS = Path("assets/results/speed")
IMPLS = ("ours-explicit", "ours-sdpa", "timm", "torchvision")
WAYS = parts.WAYS
SECTIONS = ("attention", "models", "memory")
MEMORY_GRIDS = (3, 4, 5, 6, 7, 9, 11, 14)  # patch grids of the memory section: 10 to 197 tokens


def _fmnist() -> ViTConfig:
    from ..train import default_setup

    return default_setup("fashion-mnist")[0]  # the recipe's model: patch 7, D 64, sin-cos positions


CONFIGS = {  # name: (config, CPU batch, GPU batch); CPU batches keep a step near a second on 2 cores
    "fashion_mnist": (_fmnist, 64, 512),
    "vit_ti_16_96": (lambda: ViTConfig.vit_ti_16(img_size=96), 32, 256),
    "vit_s_16": (ViTConfig.vit_s_16, 8, 128),
    "vit_b_16": (ViTConfig.vit_b_16, 4, 64),
    "tiny": (ViTConfig.tiny, 4, 4),
}


def machine_name(device: torch.device) -> str:
    """A folder name for this machine: the GPU's name, or the CPU's with its core count."""
    m = machine()
    name = m["gpu"] if device.type == "cuda" else f"{m['cpu']} {m['cpu_count']} cores"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def _model_step(model, opt, x, y, train: bool, bf16: bool):
    amp = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        if train:
            with amp:
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode(), amp:
                model(x)
    return step


def _time_in_turns(steps: dict, rounds: int, min_time: float, device) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds per step of each contestant, one timing per round, the order rotating every round.

    Wall-clock time is what a user waits; the CPU time this process used is what the work cost, and is far
    less disturbed when other programs share the cores (with one thread; more threads add their waiting).
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    reps = {}
    for name, step in steps.items():  # warm-up: compilation, allocator, kernel choice; then calibrate
        step()
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        reps[name] = max(1, math.ceil(min_time / max(time.perf_counter() - t0, 1e-6)))
    names, out = list(steps), {n: [] for n in steps}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps[name]):
                steps[name]()
            sync()
            out[name].append(((time.perf_counter() - t0) / reps[name], (time.process_time() - c0) / reps[name]))
    return out


def _summarise(secs: dict[str, list[tuple[float, float]]], batch: int, ref: str | None) -> dict[str, dict]:
    res = {}
    for name, s in secs.items():
        ips = [batch / w for w, _ in s]
        r = {"images_per_s": statistics.median(ips), "min_images_per_s": min(ips), "max_images_per_s": max(ips),
             "images_per_cpu_s": statistics.median(batch / max(c, 1e-9) for _, c in s), "rounds": len(s)}
        if ref in secs:  # the ratio measured within each round, then its median: load changes cancel out
            r["vs_timm"] = statistics.median(a[0] / b[0] for a, b in zip(secs[ref], s))
            r["vs_timm_cpu"] = statistics.median(a[1] / max(b[1], 1e-9) for a, b in zip(secs[ref], s))
        res[name] = r
    return res


def _cell(kind, cfg_name, cfg, batch, mode, dtype, compiled, threads, device, rounds, min_time, impls) -> list[dict]:
    """Time the contestants of one (config, mode, dtype, compile, threads) cell in turns; rows for the table."""
    train, bf16 = mode == "train", dtype == "bf16"
    x, y = parts.batch_for(cfg, batch, device)
    load_before = loadavg()
    if kind == "attention":
        mods = parts.attention_ways(cfg, device)
        xt = torch.randn(batch, cfg.num_tokens, cfg.embed_dim, device=device, requires_grad=train)
        steps = {w: parts.attention_step(f, xt, train, bf16) for w, f in mods.items()}
        ref, flops, mem = None, None, {}
    else:
        models = parts.build_models(cfg, impls, device)
        steps, mem = {}, {}
        for name, m in models.items():
            m.train(train)
            opt = torch.optim.AdamW(m.parameters(), lr=1e-4, **parts.adamw_kind(device)) if train else None
            fn = torch.compile(m) if compiled else m
            steps[name] = _model_step(fn, opt, x, y, train, bf16)
            if not compiled or device.type == "cuda":
                steps[name]()  # the optimizer state exists before memory is measured
                mem[name] = parts.peak_memory(steps[name], m, opt, (x, y), device)
        ref, flops = "timm", step_flops(cfg, 1, train)
    with LoadSampler(every=2.0) as sampler:  # the load while the line is timed, and this process's CPU share
        secs = _time_in_turns(steps, rounds, min_time, device)
    load = f"{load_before} -> {loadavg()}"
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    rows = []
    for name, r in _summarise(secs, batch, ref).items():
        row = {"section": kind, "config": cfg_name, "impl": name, "mode": mode, "dtype": dtype,
               "compile": compiled, "threads": threads, "device": device.type, "batch": batch,
               "tokens": cfg.num_tokens, **r, "peak_mem_mb": mem.get(name), "loadavg": load, **sampler.record()}
        if flops:
            row["gflop_per_image"] = flops / 1e9
            row["achieved_tflops"] = flops * r["images_per_s"] / 1e12
            row["mfu"] = mfu(flops * r["images_per_s"], gpu, dtype)
        rows.append(row)
    return rows


def memory_rows(cfg_name: str, cfg: ViTConfig, batch: int, device, grids=MEMORY_GRIDS) -> list[dict]:
    """Peak memory of one training step of our model, explicit and SDPA attention, on images of ``grid`` x ``grid``
    patches of ``cfg``'s size; with each row, the attention probabilities the explicit path keeps
    (L·B·h·n² float32 numbers, n = N + 1 tokens). Measured by following allocations: nothing is timed."""
    rows = []
    for g in grids:
        c = cfg.replace(img_size=g * cfg.patch_size)
        x, y = parts.batch_for(c, batch, device)
        for impl, fused in (("ours-explicit", False), ("ours-sdpa", True)):
            torch.manual_seed(0)
            m = VisionTransformer(c, fused_attn=fused).to(device)
            opt = torch.optim.AdamW(m.parameters(), lr=1e-4, **parts.adamw_kind(device))
            step = _model_step(m, opt, x, y, True, False)
            step()  # AdamW's state exists from here on, as in any later step
            rows.append({"section": "memory", "config": f"{cfg_name}@{c.img_size}px", "impl": impl, "mode": "train",
                         "dtype": "fp32", "compile": False, "threads": None,  # memory does not depend on threads
                         "device": torch.device(device).type, "batch": batch, "tokens": c.num_tokens,
                         "img_size": c.img_size, "peak_mem_mb": parts.peak_memory(step, m, opt, (x, y), device),
                         "attn_probs_mb": c.depth * batch * c.num_heads * c.num_tokens**2 * 4 / 2**20,
                         "loadavg": loadavg()})
    return rows


def run_speed(configs=("fashion_mnist", "vit_ti_16_96", "vit_s_16", "vit_b_16"), impls=IMPLS, modes=("train", "infer"),
              dtypes=("fp32", "bf16"), compile_modes=(False, True), threads=(1, 2), rounds: int = 7,
              min_time: float = 1.0, sections=("attention", "models"), device=None, batch: int | None = None,
              out: Path | None = None, log=print) -> dict:
    """Measure every cell asked for; merge the rows into ``out``/summary.json and README.md; return the summary.

    On a GPU the thread count does not apply (one entry, None); bf16 means ``torch.autocast``.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    bad = [c for c in configs if c not in CONFIGS] + [i for i in impls if i not in IMPLS] + [
        s for s in sections if s not in SECTIONS]
    if bad:
        raise ValueError(f"unknown config, implementation or section {bad}: configs are {sorted(CONFIGS)}, "
                         f"implementations {list(IMPLS)}, sections {list(SECTIONS)}")
    threads = threads if dev.type == "cpu" else (None,)
    cmd = command()
    before, rows = torch.get_num_threads(), []
    summary = {"benchmark": "speed", "machine": machine(), "versions": _versions(), "device": str(dev),
               "runs": [{"command": cmd, "date": today(), "rounds": rounds, "min_time_s": min_time}], "rows": []}
    if dev.type == "cpu":
        torch.set_flush_denormal(True)  # tiny AdamW moments would otherwise slow the CPU down as steps go by
    try:
        for cfg_name in configs:
            build, cpu_b, gpu_b = CONFIGS[cfg_name]
            cfg, b = build(), batch or (gpu_b if dev.type == "cuda" else cpu_b)
            for kind in sections:
                if kind == "memory":  # one sweep per config: a training step, fp32, eager
                    new = memory_rows(cfg_name, cfg, b, dev)
                    for r in new:
                        r.update(command=cmd, date=today())
                    rows += new
                    log(f"memory    {cfg_name}: " + ", ".join(
                        f"{r['tokens']} tokens {r['impl']} {r['peak_mem_mb']:.1f} MB" for r in new))
                    if out is not None:
                        summary = merge_and_write(Path(out), summary | {"rows": new}, new_run=len(rows) == len(new))
                    continue
                for mode in modes:
                    for dtype in dtypes:
                        for compiled in (compile_modes if kind == "models" else (False,)):
                            for th in (threads if kind == "models" else threads[:1]):
                                if th:
                                    torch.set_num_threads(th)
                                new = _cell(kind, cfg_name, cfg, b, mode, dtype, compiled, th, dev, rounds,
                                            min_time, impls)
                                for r in new:
                                    r.update(command=cmd, date=today())
                                rows += new
                                log(line(new))
                                if out is not None:  # after every line, so a stopped run keeps what it measured
                                    summary = merge_and_write(Path(out), summary | {"rows": new},
                                                              new_run=len(rows) == len(new))
    finally:
        torch.set_num_threads(before)
    log("\n" + format_rows(rows))
    return summary if out is not None else summary | {"rows": rows}


# ---- command line ----------------------------------------------------------------------------------
def add_arguments(p) -> None:
    """The options of ``bench speed``."""
    p.add_argument("--quick", action="store_true", help="seconds: the tiny model, 2 rounds, no compile (CI)")
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=None,
                   help="models to measure (default: fashion_mnist vit_ti_16_96 vit_s_16 vit_b_16)")
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="implementations to compare")
    p.add_argument("--modes", nargs="+", choices=("train", "infer"), default=["train", "infer"])
    p.add_argument("--dtypes", nargs="+", choices=("fp32", "bf16"), default=None, help="bf16 = autocast")
    p.add_argument("--compile", choices=("off", "on", "both"), default=None, help="torch.compile (default both)")
    p.add_argument("--threads", type=int, nargs="+", default=None, help="CPU thread counts (default 1 2)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=["attention", "models"],
                   help="attention alone, whole models (both timed), memory against tokens (not timed)")
    p.add_argument("--rounds", type=int, default=None, help="timings per contestant, taken in turns (default 7)")
    p.add_argument("--min-time", type=float, default=None, help="seconds per timing at least (default 1)")
    p.add_argument("--batch-size", type=int, default=None, help="images per step (default: per config)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--out", default=None, help="results folder (default assets/results/speed/<machine>/)")
    p.add_argument("--no-save", action="store_true", help="print only; write no files")


def run(args) -> int:
    """Run ``bench speed`` from parsed ``args``; a ValueError names what to change. Returns 0 (the exit status)."""
    q = args.quick
    for flag in ("rounds", "batch_size"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.threads and min(args.threads) < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        raise ValueError(f"--device {args.device!r}: use cpu or cuda (or cuda:N)")
    if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA GPU here: leave --device out to use the CPU")
    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    # --quick checks the code path; its numbers are not results, so by default they stay out of assets/
    out = Path(args.out) if args.out else (Path("experiments/speed-quick") if q else RESULTS) / machine_name(dev)
    compile_modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.compile or ("off" if q else "both")]
    run_speed(configs=args.configs or (("tiny",) if q else tuple(c for c in CONFIGS if c != "tiny")),
              impls=tuple(args.impls), modes=tuple(args.modes), dtypes=tuple(args.dtypes or ("fp32", "bf16")),
              compile_modes=compile_modes, threads=tuple(args.threads or ((1,) if q else (1, 2))),
              rounds=args.rounds or (2 if q else 7),
              min_time=args.min_time if args.min_time is not None else (0.02 if q else 1.0),
              sections=tuple(args.sections), device=dev, batch=args.batch_size, out=None if args.no_save else out)
    if not args.no_save:
        print(f"wrote {out / 'summary.json'} and {out / 'README.md'}")
    return 0


COMMANDS = (Benchmark("speed", "training and inference speed: ours vs timm vs torchvision, same weights "
                               "(lesson 10)", add_arguments, run),)


def _versions() -> dict:
    import timm  # optional dependency; the benchmark needs it

    return versions() | {"timm": timm.__version__}
