"""The files of a run: checkpoints (save, load, export, check before resuming) and the run folder.

A run folder ``experiments/<name>/`` holds ``config.json`` (model, recipe, versions, seed),
``metrics.jsonl`` (one line per evaluation), ``last.pt`` and ``best.pt``.

Checkpoints hold only plain containers (tensors, dicts, lists, numbers, strings), are
written atomically (a temporary file in the same folder, then ``os.replace``) and load
with ``torch.load(weights_only=True)``, so opening a downloaded checkpoint runs no code.

Built in notebooks/06_training.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import torch

from ..cnn import build_model, config_from_dict
from ..config import ViTConfig
from ..mae import MaskedAutoencoder, is_mae_state
from ..model import VisionTransformer
from .recipes import Recipe

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "save_checkpoint", "load_checkpoint", "load_model",
           "export_checkpoint", "resume_mismatch", "open_run_folder", "RUN_FILES", "RunExistsError", "holds_run",
           "refuse_to_overwrite"]

CHECKPOINT_FORMAT = "vit_lessons.checkpoint/1"
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")  # what a run writes as it trains (config.json is rewritten)


class CheckpointError(ValueError):
    """A checkpoint cannot be used: corrupt, not a course checkpoint, or from another configuration."""


class RunExistsError(FileExistsError):
    """The run folder already holds a run, and neither resuming nor overwriting was asked for."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (plain containers only) atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a course checkpoint safely (``weights_only=True``); a clear CheckpointError if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        # TorchVersion is a plain str subclass (older checkpoints recorded torch.__version__ as it is)
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt zip, truncated file, foreign pickle...
        why, damaged = _why_unreadable(path, e)
        # advice for a damaged course checkpoint only: any other file is the user's, to keep
        fix = (f"If it is a run's checkpoint, the other one in {path.parent} (best.pt / last.pt) may be whole; "
               f"else train again." if damaged else
               "Point to a checkpoint written by `python -m vit_lessons train` (experiments/<run>/best.pt) or "
               "one of assets/checkpoints/.")
        raise CheckpointError(f"{path} is not a readable checkpoint: {why}. {fix}") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "model" not in ck:
        raise CheckpointError(f"{path} loads, but is not a vit_lessons checkpoint (no '{CHECKPOINT_FORMAT}' format "
                              f"tag); for raw state dicts use VisionTransformer(cfg).load_state_dict(torch.load(...))")
    return ck


def _why_unreadable(path: Path, error: Exception) -> tuple[str, bool]:
    """What is wrong with a file torch.load refused, in words (torch's own messages are about its internals),
    and whether it looks like a damaged torch.save file (True) rather than some other kind of file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
    if size == 0:
        return "the file is empty (0 bytes), as a write that was interrupted leaves it", True
    if head == b"PK\x03\x04":  # torch.save writes a zip archive
        if not zipfile.is_zipfile(path):
            return f"it is cut off or damaged ({size:,} bytes, its zip archive has no end: an interrupted copy?)", True
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        if found:  # a whole pickled object, not tensors in plain containers: loading it could run its code
            return f"it holds a Python object ({found.group(1)}), not only tensors and plain containers", False
        return f"its contents are damaged ({size:,} bytes)", True
    if head[:1] == b"\x80":  # a bare pickle: torch.save's format before torch 1.6, or pickle.dump
        return ("it is a bare pickle (torch.save's format before torch 1.6, or pickle.dump) torch cannot read "
                "safely", False)
    return f"it is not a file torch.save writes (it starts with {head!r}, not a zip archive's b'PK\\x03\\x04')", False


def load_model(path: str | os.PathLike, map_location="cpu") -> tuple[VisionTransformer, dict]:
    """(model in eval mode, checkpoint dict) from a course checkpoint, e.g. assets/checkpoints/*.pt: a ViT, lesson
    09's CNN, or lesson 11's :class:`~vit_lessons.mae.MaskedAutoencoder` (from ``train --pretrain mae``)."""
    ck = load_checkpoint(path, map_location)
    cfg = config_from_dict(ck["model_config"])
    if is_mae_state(ck["model"]):
        r = Recipe.from_dict(ck["recipe"])
        model = MaskedAutoencoder(cfg, r.decoder_dim, r.decoder_depth, r.decoder_heads, r.mask_ratio)
    else:
        model = build_model(cfg)  # a ViT, or lesson 09's CNN
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **extra) -> Path:
    """A small copy of a checkpoint for sharing: the model and its records, without optimizer state."""
    ck = load_checkpoint(src)
    keep = {k: v for k, v in ck.items() if k not in ("optimizer", "rng")}
    keep["versions"] = {k: (v if v is None or isinstance(v, (int, float)) else str(v))
                        for k, v in ck.get("versions", {}).items()}
    keep.update(extra)
    return save_checkpoint(dst, keep)


def _diff(a: dict, b: dict, ignore: str) -> list[str]:
    return [f"{k}: {a.get(k)!r} in the checkpoint vs {b.get(k)!r} now" for k in sorted(set(a) | set(b))
            if k != ignore and a.get(k) != b.get(k)]


def resume_mismatch(ck: dict, config: ViTConfig, recipe: Recipe, dataset: str, seed: int) -> list[str]:
    """How the run that wrote checkpoint ``ck`` differs from this one ([] if it can be resumed).

    The attention kernel is not part of the model (the same weights give the same function either
    way), and the number of epochs may grow, so neither counts.
    """
    return (_diff(ck["model_config"], config.to_dict(), ignore="fused_attn")
            + _diff(Recipe.from_dict(ck["recipe"]).to_dict(), recipe.to_dict(), ignore="epochs")
            + [f"{k}: {ck.get(k)!r} in the checkpoint vs {v!r} now" for k, v in (("dataset", dataset), ("seed", seed))
               if ck.get(k) != v])


def open_run_folder(out_dir: str | os.PathLike, run_config: dict, fresh: bool = False) -> None:
    """Make the run folder, write its config.json, and start metrics.jsonl unless it exists.

    ``fresh`` (``--overwrite``) deletes an earlier run's checkpoints and metrics first, so none of
    them can be mixed with this run.
    """
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    if fresh:
        for f in RUN_FILES:
            (d / f).unlink(missing_ok=True)
    (d / "config.json").write_text(json.dumps(run_config, indent=2) + "\n")
    if not (d / "metrics.jsonl").exists():
        (d / "metrics.jsonl").write_text("")


def holds_run(out_dir: str | os.PathLike) -> list[str]:
    """The files of an earlier run in ``out_dir`` (checkpoints, a non-empty metrics.jsonl); [] if none."""
    d = Path(out_dir)
    return [f for f in RUN_FILES if (d / f).exists() and (f != "metrics.jsonl" or (d / f).stat().st_size > 0)]


def refuse_to_overwrite(out_dir: str | os.PathLike) -> None:
    """A RunExistsError if ``out_dir`` holds an earlier run: a new run started there must not lose it."""
    found = holds_run(out_dir)
    if found:
        raise RunExistsError(
            f"{out_dir} already holds a run ({', '.join(found)}). Continue it with --resume, start another with "
            f"a new --exp-name, or replace it with --overwrite (its checkpoints and metrics are then deleted).")
