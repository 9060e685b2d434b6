"""``eval`` on the command line: a checkpoint's accuracy and confusion matrix on its test split, or on the
validation images its run held out. :mod:`vit_lessons.cli` puts it beside the other sub-commands.

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import sys

import torch

from .cli_train import _Checked, _positive_int
from .data import DatasetNotFoundError, load_dataset, with_validation
from .mae import MaskedAutoencoder
from .model import count_params
from .train import CheckpointError, confusion_matrix, evaluate, format_confusion, load_model
from .transfer import Resized

__all__ = ["add_eval_command"]


def _epochs_done(ck: dict) -> str:
    """'after 3 epochs' (2.5 for a checkpoint written inside an epoch), the numbering of metrics.jsonl."""
    e = ck.get("epoch")
    return "epochs unknown" if e is None else f"after {float(e):g} epoch{'' if float(e) == 1 else 's'}"


def _eval(args: argparse.Namespace) -> int:
    try:
        model, ck = load_model(args.checkpoint)
        if isinstance(model, MaskedAutoencoder):
            raise ValueError(f"{args.checkpoint} is a masked autoencoder's pretraining checkpoint: it reconstructs "
                             "patches and has no classifier to evaluate. Fine-tune it first: python -m vit_lessons "
                             f"train --init-from {args.checkpoint} (add --linear-probe to train the head only)")
        data = load_dataset(ck["dataset"], root=args.data_root)
    except (CheckpointError, DatasetNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.split == "val":
        if not ck.get("val_size"):
            print(f"error: {args.checkpoint} records no validation split (written before runs held one out, or "
                  "trained with --val-size 0): evaluate it on the test split (leave out --split val)",
                  file=sys.stderr)
            return 2
        data = with_validation(data, int(ck["val_size"]))  # the very images the run held out
        x, y = data.val_x, data.val_y
        what = f"the validation split ({len(y):,} training images the run held out and chose on)"
    else:
        x, y = data.test_x, data.test_y
        what = f"the test split ({len(y):,} images no choice was made on)"
    model.to(torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu")))
    resized = Resized(model, ck.get("recipe", {}).get("img_size", 0))  # a fine-tune may read resized images
    res = evaluate(resized, x, y, data.info.mean, data.info.std, batch_size=args.batch_size)
    cm = confusion_matrix(res["pred"], y, data.info.num_classes)
    print(f"{args.checkpoint}: {ck['model_config'].get('name', '')} on {ck['dataset']}, "
          f"{_epochs_done(ck)}, {count_params(model):,} parameters")
    print(f"on {what}:")
    print(f"{args.split} accuracy {res['acc']:.4f} ({res['correct']}/{res['n']}), {args.split} loss {res['loss']:.4f}")
    print(format_confusion(cm, data.info.classes))
    return 0


def add_eval_command(sub: argparse._SubParsersAction) -> None:
    """Add ``eval`` (a checkpoint's test accuracy and confusion matrix) to the sub-commands ``sub``.

    Built in notebooks/06_training.
    """
    e = sub.add_parser("eval", help="test accuracy and confusion matrix of a checkpoint",
                       description="Evaluate a checkpoint on its dataset's test set (or, with --split val, on the "
                                   "validation images its run held out): accuracy, loss and a confusion matrix "
                                   "(rows: true class, columns: predicted).")
    e.add_argument("checkpoint", help="a .pt written by `train` (last.pt, best.pt) or assets/checkpoints/*.pt")
    e.add_argument("--data-root", default=None, help="folder with the dataset files")
    e.add_argument("--batch-size", action=_Checked, kind="int", problem=_positive_int, default=1000,
                   help="evaluation batch size (default 1000)")
    e.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    e.add_argument("--split", choices=["test", "val"], default="test",
                   help="test (default): the images no choice was made on; val: the run's held-out validation images")
    e.set_defaults(func=_eval)
