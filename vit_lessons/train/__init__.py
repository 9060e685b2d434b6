"""Training a ViT: the recipe, the Trainer, checkpoints. One job per module:

    recipes.py      Recipe (every ingredient, with its command-line help) and the table of named recipes
    schedule.py     the learning rate over training, and which parameters get weight decay
    metrics.py      evaluate, confusion matrices
    checkpoint.py   the run's files: checkpoints (save, load, export, resume checks), the run folder
    distributed.py  several processes under torchrun (DistributedDataParallel)
    trainer.py      the Trainer: the training loop
    run_parts.py    what a run is built from: its model (a masked autoencoder when pretraining), its loss
    resume.py       what the Trainer's checkpoints hold, and resuming a run from its last.pt
    distill.py      learning from a teacher's logits (lesson 09)
    log.py          timestamped log lines

A run is one command (``python -m vit_lessons train``, see vit_lessons/cli_train.py) or one call:
``Trainer(*default_setup("fashion-mnist"), load_dataset("fashion-mnist"), "experiments/fm").fit()``.

Built in notebooks/06_training.
"""

from ..metrics_jsonl import read_metrics  # metrics.jsonl lives outside train/ so plots need no trainer
from .checkpoint import (
    CHECKPOINT_FORMAT,
    RUN_FILES,
    CheckpointError,
    RunExistsError,
    export_checkpoint,
    holds_run,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from .log import log, setup_logging
from .metrics import autocast, confusion_matrix, evaluate, format_confusion
from .recipes import RECIPES, NamedRecipe, Recipe, default_setup, tintn_setup
from .schedule import lr_at, param_groups
from .trainer import Trainer

__all__ = ["Recipe", "NamedRecipe", "RECIPES", "default_setup", "tintn_setup", "lr_at", "param_groups", "Trainer",
           "setup_logging", "log", "evaluate", "autocast", "confusion_matrix", "format_confusion", "save_checkpoint",
           "load_checkpoint", "CheckpointError", "load_model", "export_checkpoint", "read_metrics", "CHECKPOINT_FORMAT",
           "RUN_FILES", "RunExistsError", "holds_run"]
