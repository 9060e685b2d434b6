"""``train`` on the command line: its flags, the model and recipe they ask for, and the command
(``eval`` is in :mod:`vit_lessons.cli_eval`). Every flag of ``train``'s recipe group comes from a field of
:class:`~vit_lessons.train.Recipe`, so a new ingredient is one edit in recipes.py.
:mod:`vit_lessons.cli` puts them beside the other sub-commands.

Built in notebooks/06_training.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from .cnn import CNN_PRESETS
from .config import PRESETS, ViTConfig
from .data import DATASETS, DatasetNotFoundError, load_dataset
from .machine import command
from .train import (
    RECIPES,
    CheckpointError,
    Recipe,
    RunExistsError,
    Trainer,
    default_setup,
    distributed,
    log,
    setup_logging,
)
from .train.recipes import cnn_setup, recipe_problem
from .transfer import backbone_config, finetune_config

__all__ = ["add_train_command", "setup_from_args"]

_TRAIN_HELP = """\
Train a Vision Transformer from scratch.

With no options: Fashion-MNIST, the course's model (preset fashion_mnist_cpu: 7x7
patches, D=64, 2-D sin-cos positions; mimetic attention init) and its recipe for
10 epochs, about 8 minutes on a 2-core AMD EPYC (2 threads); add --time-budget 600
to stop, and end the schedule, at exactly 10 minutes. What that reaches is measured
in assets/results/fashion_mnist_10min/README.md. `--dataset X` alone picks a model
and recipe that fit X. Every recipe ingredient has a switch, so its worth can be
measured (lesson 06 does this). On a machine busy with other work, --threads 1 is
often faster than the default.

Every run holds out a validation split of the training images (--val-size; 5,000
of Fashion-MNIST's 60,000 by default, the same images for every seed). The run
folder experiments/<exp-name>/ gets config.json, metrics.jsonl (validation and
test accuracy at every evaluation), last.pt (at every epoch's end, and
every --save-every minutes inside an epoch) and best.pt (the best validation
accuracy; test accuracy chooses nothing). Kill a run at any moment and continue
it with the same command plus --resume: it goes on from last.pt, so at most
--save-every minutes of training are lost, and on a CPU it ends exactly where an
uninterrupted run would.

Under `torchrun --nproc_per_node N -m vit_lessons train ...` the same command trains
with DistributedDataParallel (gloo on CPU, nccl on GPU); --batch-size stays the
global batch.
"""

_TRAIN_EXAMPLES = """\
examples:
  python -m vit_lessons train                                  # Fashion-MNIST, 10 epochs
  python -m vit_lessons train --time-budget 600 --exp-name fm10 # stop (and end the schedule) at 10 min
  python -m vit_lessons train --init timm --exp-name timm-init # an ablation: without mimetic init
  python -m vit_lessons train --dataset cifar10 --device cuda   # Colab GPU
  python -m vit_lessons train --exp-name fm10 --resume          # continue a killed run
  python -m vit_lessons train --stem 16 32 --exp-name hybrid   # the paper's hybrid: a conv stem, then patches
  python -m vit_lessons eval experiments/fm10/best.pt           # test accuracy + confusion matrix
  python -m vit_lessons train --dataset digits --img-size 28 --linear-probe \\
      --init-from assets/checkpoints/fashion_mnist_vit.pt       # transfer: a new head on frozen features
  python -m vit_lessons train --recipe cifar10-finetune --device cuda  # ImageNet-21k ViT-B/16 -> CIFAR-10
"""

_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class _Checked(argparse.Action):
    """A flag whose value is converted and checked here, so a bad value is named as the user typed it."""

    def __init__(self, option_strings, dest, kind: str = "str", problem=None, **kw):
        self.kind, self.problem = kind, problem or (lambda v: None)
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, raw, option_string=None):
        words = {"int": "an integer", "float": "a number", "bool": "on or off"}
        try:
            if self.kind == "bool":
                if raw.lower() not in _ON + _OFF:
                    raise ValueError
                value = raw.lower() in _ON
            else:
                value = {"int": int, "float": float}.get(self.kind, str)(raw)
        except ValueError:
            parser.error(f"{option_string} must be {words[self.kind]}, got {raw!r}")
        problem = self.problem(value)
        if problem:
            parser.error(f"{option_string} must be {problem}, got {raw}")
        setattr(namespace, self.dest, value)


def _positive_int(v: int) -> str | None:
    return None if v > 0 else "a positive integer"


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (defaults: the dataset's model)")
    g.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="model preset from ViTConfig (default: the dataset's: fashion_mnist_cpu, cifar_gpu, ...)")
    for flag, what in (("--patch-size", "patch size"), ("--embed-dim", "width D"), ("--depth", "number of blocks"),
                       ("--num-heads", "number of heads")):
        g.add_argument(flag, action=_Checked, kind="int", problem=_positive_int, default=None,
                       help=f"override the preset's {what}")
    g.add_argument("--pool", choices=["cls", "mean"], default=None, help="class token or mean of patch tokens")
    g.add_argument("--model", choices=["vit", "cnn"], default="vit",
                   help="vit, or lesson 09's CNN (baseline and distillation teacher) with its own recipe")
    g.add_argument("--cnn-preset", choices=list(CNN_PRESETS), default="cnn_teacher", help="the CNN's design")
    g.add_argument("--spt", action="store_true", help="shifted patch tokenization (Lee et al. 2021)")
    g.add_argument("--lsa", action="store_true", help="locality self-attention (Lee et al. 2021)")
    g.add_argument("--stem", type=int, nargs="+", default=None, metavar="WIDTH",
                   help="the paper's hybrid (Sec. 3.1): a conv stem with these widths (e.g. 16 32) whose feature map "
                        "the patch embedding cuts")
    g.add_argument("--pos-embed", choices=["learned", "sincos2d"], default=None,
                   help="learned position embeddings, or fixed 2-D sin-cos ones")
    g = p.add_argument_group("recipe (defaults: the dataset's recipe)")
    for f in dataclasses.fields(Recipe):  # one flag per ingredient
        meta = f.metadata
        g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=_Checked, kind=f.type, default=None,
                       problem=lambda v, f=f: recipe_problem(f, v), choices=meta["choices"], help=meta["help"],
                       metavar="{on,off}" if f.type == "bool" else meta["metavar"])
    g.add_argument("--no-augment", action="store_true", help="no crop, flip or erasing")
    g.add_argument("--linear-probe", action="store_true", help="train only the head on the frozen --init-from "
                                                                "backbone (the same as --freeze all-but-head)")
    g = p.add_argument_group("run")
    g.add_argument("--dataset", default=None, choices=sorted(DATASETS),
                   help="dataset (default: fashion-mnist, or the --recipe's); picks the default model and recipe")
    g.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                   help="a named recipe from the table in vit_lessons/train/recipes.py (default: the dataset's)")
    g.add_argument("--data-root", default=None, help="folder with the dataset files (else found or downloaded)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    g.add_argument("--seed", type=int, default=0, help="fixes initial weights, data order and augmentation")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    g.add_argument("--resume", action="store_true", help="continue from <out>/<exp-name>/last.pt")
    g.add_argument("--save-every", action=_Checked, kind="float", default=5.0, metavar="MINUTES",
                   problem=lambda v: None if v >= 0 else "0 or more minutes",
                   help="write last.pt inside an epoch too, every MINUTES (default 5; 0: at epoch ends only)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run already in <out>/<exp-name>/ (its checkpoints and metrics are deleted); "
                        "without it, or --resume, an existing run is never touched")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="experiments", help="where run folders go (default: experiments)")
    g.add_argument("--exp-name", default=None, help="run folder name under --out (default: <dataset>-seed<seed>)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _dataset(args: argparse.Namespace) -> str:
    """The dataset a ``train`` command trains on: --dataset, else the --recipe's, else Fashion-MNIST."""
    named = RECIPES[args.recipe].dataset if args.recipe else None
    if args.dataset and named and args.dataset != named:
        raise ValueError(f"--recipe {args.recipe} trains on {named}, not {args.dataset}: leave out --dataset, "
                         f"or pick a recipe for {args.dataset}")
    return args.dataset or named or "fashion-mnist"


def setup_from_args(args: argparse.Namespace) -> tuple[ViTConfig, Recipe]:
    """The model config and recipe a parsed ``train`` command asks for."""
    dataset = _dataset(args)
    cfg, recipe = RECIPES[args.recipe].setup() if args.recipe else default_setup(dataset)
    if args.preset:
        info = DATASETS[dataset]
        cfg = ViTConfig.preset(args.preset, img_size=info.img_size, in_chans=info.in_chans,
                               num_classes=info.num_classes)
    over = {k: getattr(args, k) for k in ("patch_size", "embed_dim", "depth", "num_heads", "pool", "pos_embed")
            if getattr(args, k) is not None}
    if over:
        cfg = cfg.replace(**over)
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe) if getattr(args, f.name) is not None}
    if args.no_augment:
        changes.update(crop_pad=0, flip=False, erase=0.0)
    if args.linear_probe:
        changes["freeze"] = "all-but-head"
    recipe = dataclasses.replace(recipe, **changes)
    if recipe.freeze != "none" and not recipe.init_from:
        raise ValueError("--linear-probe / --freeze trains the head of a trained backbone: give it with --init-from")
    if recipe.init_from:  # fine-tuning: the backbone decides the architecture, the dataset the head and the input
        if args.preset or over:
            raise ValueError("--init-from: the backbone decides the model; leave out --preset and the model flags")
        info = DATASETS[dataset]
        cfg = finetune_config(backbone_config(recipe.init_from), info.num_classes, recipe.img_size or info.img_size,
                              info.in_chans)
    if recipe.pretrain != "none" and (args.model == "cnn" or args.spt or args.stem):
        raise ValueError("--pretrain mae pretrains a plain ViT: leave out --model cnn, --spt and --stem (they let a "
                         "token see the pixels of the patches it is meant to fill in)")
    if args.model == "cnn":  # lesson 09's CNN: its own recipe, with the same recipe switches applied
        cfg, recipe = cnn_setup(dataset, args.cnn_preset, **changes)
    elif args.spt or args.lsa or args.stem or recipe.distill == "token":  # lesson 09's switches (off by default)
        if args.stem and any(w <= 0 for w in args.stem):
            raise ValueError(f"--stem takes positive channel widths such as 16 32, got {' '.join(map(str, args.stem))}")
        cfg = cfg.replace(spt=cfg.spt or args.spt, lsa=cfg.lsa or args.lsa, stem=tuple(args.stem or cfg.stem),
                          distilled=cfg.distilled or recipe.distill == "token")
    return cfg, recipe


def _train(args: argparse.Namespace) -> int:
    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg, recipe = setup_from_args(args)
        dataset = _dataset(args)
        data = load_dataset(dataset, root=args.data_root)
        trainer = Trainer(cfg, recipe, data, Path(args.out) / (args.exp_name or f"{dataset}-seed{args.seed}"),
                          device=args.device, seed=args.seed, progress=not args.no_progress, resume=args.resume,
                          save_every=args.save_every,
                          extra={"command": command()}, overwrite=args.overwrite)
    except (CheckpointError, DatasetNotFoundError, ValueError, RunExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.is_main:
        log.info(f"{data}")
        shape = (f"channels {cfg.channels}" if args.model == "cnn" else f"patch {cfg.patch_size}, D {cfg.embed_dim}, "
                 f"depth {cfg.depth}, heads {cfg.num_heads}, pool {cfg.pool}")
        log.info(f"model {cfg.name}: {shape}, {trainer.model.num_params:,} parameters; "
                 f"{trainer.world_size} process(es) on {trainer.device}, {torch.get_num_threads()} threads")
        r = recipe
        log.info(f"recipe: {f'{r.time_budget:.0f} s' if r.time_budget else f'{r.epochs} epochs'}, batch "
                 f"{r.batch_size}, lr {r.lr:g} ({r.schedule}, warm-up {r.warmup:g}), wd {r.weight_decay:g}, smoothing "
                 f"{r.label_smoothing:g}, clip {r.grad_clip:g}, crop {r.crop_pad}, flip {r.flip}, erase {r.erase:g}, "
                 f"init {r.init}" + (f", from {r.init_from} (freeze {r.freeze})" if r.init_from else "")
                 + (f", images resized to {r.img_size} px" if r.img_size else ""))
        log.info(f"writing {trainer.out_dir}/")
    hist = trainer.fit()
    if trainer.is_main and hist:
        mae = recipe.pretrain != "none"  # no accuracy: a reconstruction loss, and best.pt is the lowest on val
        best = ("; no validation split, so no best.pt" if not trainer.val_size else
                f"; best.pt: the best validation epoch, val {'loss' if mae else 'acc'} "
                f"{trainer.best_loss if mae else trainer.best_acc:.4f}")
        end = f"test loss {hist[-1]['test_loss']:.4f}" if mae else f"test acc {hist[-1]['test_acc']:.4f}"
        log.info(f"done: {end} at the end after {trainer.train_time:.0f} s of training{best}; checkpoints in "
                 f"{trainer.out_dir}/" + (f" (fine-tune with --init-from {trainer.out_dir}/best.pt)" if mae else ""))
    distributed.finish()
    return 0


def add_train_command(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` (every model, recipe, run and output flag) to the sub-commands ``sub``.

    Built in notebooks/06_training.
    """
    t = sub.add_parser("train", help="train a ViT (Fashion-MNIST on a CPU by default)", description=_TRAIN_HELP,
                       epilog=_TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_arguments(t)
    t.set_defaults(func=_train)
