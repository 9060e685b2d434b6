"""Command line: ``python -m vit_lessons {data,train,eval,bench,app}`` (also the ``vit-lessons`` script)."""

from __future__ import annotations

import argparse
import sys


def _data(args) -> int:
    from .data import DatasetNotFoundError, load_dataset

    try:
        d = load_dataset(args.dataset, root=args.root, download=not args.no_download)
    except DatasetNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"    {d}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    ap = argparse.ArgumentParser(prog="python -m vit_lessons",
                                 description="ViT from scratch: the course's command line.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="{data,train,eval,bench,app}")
    d = sub.add_parser("data", help="find (or download) a dataset and print where it is")
    d.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "cifar10", "cifar100", "digits"])
    d.add_argument("--root", default=None, help="folder to look in first")
    d.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    d.set_defaults(func=_data)
    for register in _EXTRA:
        register(sub)
    return ap


_EXTRA = []  # sub-command registrars added by other modules (train, eval, bench, app)


def _load_extras() -> None:
    import importlib

    for mod in ("train", "bench", "app"):
        try:
            m = importlib.import_module(f"vit_lessons.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"vit_lessons.{mod}":
                raise
            continue
        if hasattr(m, "register_cli") and m.register_cli not in _EXTRA:  # main() may be called more than once
            _EXTRA.append(m.register_cli)


def main(argv=None) -> int:
    """Entry point."""
    _load_extras()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
