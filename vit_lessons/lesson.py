"""What every lesson's setup cell needs: versions, device, seed and the CI/default/full switch.

Finding the course's assets/ files is :mod:`vit_lessons.assets`; executing lessons and writing the Colab
install cell is :mod:`vit_lessons.notebook_tools`.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

from .machine import versions

__all__ = ["MODES", "mode", "pick", "seed_everything", "setup", "in_colab"]

MODES = ("ci", "default", "full")
MODE_VAR = "VIT_LESSONS_MODE"


def mode() -> str:
    """How much work heavy cells do: 'ci' (about a minute on 2 cores), 'default', or 'full'."""
    m = os.environ.get(MODE_VAR, "default").strip().lower()
    if m not in MODES:
        raise ValueError(f"{MODE_VAR}={m!r} is not one of {MODES}; unset it or pick one")
    return m


def pick(ci, default, full=None):
    """The value for the current mode: ``pick(ci=200, default=2000, full=60000)``."""
    return {"ci": ci, "default": default, "full": default if full is None else full}[mode()]


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a torch.Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def setup(seed: int = 0, threads: int | None = None, quiet: bool = False) -> torch.device:
    """Seed, pick the device, print versions; returns the device a lesson should use."""
    seed_everything(seed)
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not quiet:
        where = "Colab" if in_colab() else platform.system()
        gpu = f" ({torch.cuda.get_device_name(0)})" if dev.type == "cuda" else f" ({torch.get_num_threads()} threads)"
        v = versions()
        print(" | ".join(f"{k} {v[k]}" for k in ("python", "torch", "torchvision", "einops", "vit_lessons")))
        print(f"running on: {where}, device {dev.type}{gpu}, mode {mode()!r}, seed {seed}")
    return dev

