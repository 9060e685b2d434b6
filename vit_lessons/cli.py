"""The one command line: ``python -m vit_lessons {data,train,eval,bench,app,notebooks}`` (also the
``vit-lessons`` script). ``train`` and ``eval`` are built in :mod:`vit_lessons.cli_train`; every
``bench`` command comes from a benchmark module's ``COMMANDS``.

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import app, notebook_tools  # app imports gradio only when it serves
from .bench import ablations, cpu_kernels, fashion_mnist_10min, gpu, small_data, speed
from .bench import explain as explain_bench
from .bench import mae as mae_bench
from .bench import transfer as transfer_bench
from .cli_eval import add_eval_command
from .cli_train import add_train_command, setup_from_args
from .data import DATASETS, DatasetNotFoundError, load_dataset
from .train import setup_logging

__all__ = ["main", "build_parser", "setup_from_args", "BENCHMARKS"]

# every `bench <name>` command; a new benchmark module joins with its COMMANDS here
BENCHMARKS = (*fashion_mnist_10min.COMMANDS, *ablations.COMMANDS, *gpu.COMMANDS, *cpu_kernels.COMMANDS, *speed.COMMANDS,
              *small_data.COMMANDS, *transfer_bench.COMMANDS, *explain_bench.COMMANDS,
              *mae_bench.COMMANDS)


def _data(args: argparse.Namespace) -> int:
    try:
        d = load_dataset(args.dataset, root=args.root, download=not args.no_download)
    except DatasetNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"    {d}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    setup_logging()
    if getattr(args, "torch_threads", None):  # report.add_options' --threads (a benchmark may define its own)
        torch.set_num_threads(args.torch_threads)
    try:
        status = args.benchmark.run(args)  # a summary, None, or an exit status
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0


def _notebooks(args: argparse.Namespace) -> int:
    if args.task == "execute":
        notebook_tools.execute(args.paths)
    else:
        for p in notebook_tools.sync_repo():
            print(f"updated {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    ap = argparse.ArgumentParser(prog="python -m vit_lessons",
                                 description="ViT from scratch: the course's command line.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="{data,train,eval,bench,app,notebooks}")

    d = sub.add_parser("data", help="find (or download) a dataset and print where it is")
    d.add_argument("--dataset", default="fashion-mnist", choices=list(DATASETS))
    d.add_argument("--root", default=None, help="folder to look in first")
    d.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    d.set_defaults(func=_data)

    add_train_command(sub)
    add_eval_command(sub)

    b = sub.add_parser("bench", help="benchmarks that write assets/results/ (not tests: they take minutes)",
                       description="Run a benchmark and write its results, with the command, machine, torch version "
                                   "and load averages, under assets/results/.")
    names = b.add_subparsers(dest="name", required=True, metavar="{" + ",".join(x.name for x in BENCHMARKS) + "}")
    for bm in BENCHMARKS:
        p = names.add_parser(bm.name, help=bm.help, description=bm.help)
        bm.add_arguments(p)
        p.set_defaults(func=_bench, benchmark=bm)

    a = sub.add_parser("app", help="the attention explorer: lesson 07's maps for any image, in a web page")
    app.add_arguments(a)
    a.set_defaults(func=app.run)

    n = sub.add_parser("notebooks", help="maintenance: execute lessons, copy the repository address into them")
    tasks = n.add_subparsers(dest="task", required=True)
    x = tasks.add_parser("execute", help="pair each notebooks/*.py with its .ipynb and execute it in place")
    x.add_argument("paths", nargs="+", type=Path)
    tasks.add_parser("sync-repo", help="copy pyproject's repository address into notebooks and README")
    n.set_defaults(func=_notebooks)
    return ap


def main(argv=None) -> int:
    """Entry point: parse ``argv`` (default: the command line) and run the sub-command."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
