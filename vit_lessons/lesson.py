"""What every lesson's setup cell needs: versions, device, seed, the CI/default/full switch.

Also what the maintenance commands behind ``make notebooks`` and ``make sync-repo`` do
(``python -m vit_lessons notebooks execute notebooks/01_patches.py`` / ``notebooks sync-repo``):
execute a lesson into its .ipynb, and copy the repository address into notebooks and README.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from .machine import versions

__all__ = ["MODES", "mode", "pick", "seed_everything", "setup", "in_colab", "repo_url", "ROOT"]

MODES = ("ci", "default", "full")
MODE_VAR = "VIT_LESSONS_MODE"
ROOT = Path(__file__).resolve().parent.parent


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


def repo_url() -> str:
    """The repository address, read from pyproject.toml's [project.urls] Repository."""
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not m:
        raise RuntimeError("pyproject.toml has no [project.urls] Repository line")
    return m.group(1).rstrip("/")


def colab_badge(nb_path: str, url: str | None = None) -> str:
    """Markdown for an "Open in Colab" badge opening ``nb_path`` (relative to the repo root) on main."""
    url = url or repo_url()
    gh = url.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{gh}/blob/main/{nb_path})")


_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+?(?=[/\"'\s)]|\.git|$)")
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/")


def sync_repo(paths=None) -> list[Path]:
    """Rewrite repository addresses in notebooks and README to pyproject's; returns the files changed."""
    url = repo_url()
    gh = url.removeprefix("https://github.com/")
    if paths is None:
        paths = [ROOT / "README.md", ROOT / "notebooks" / "README.md", *sorted((ROOT / "notebooks").glob("*.py")),
                 *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    changed = []
    for p in map(Path, paths):
        if not p.exists():
            continue
        s = p.read_text()
        t = _BADGE.sub(f"https://colab.research.google.com/github/{gh}/blob/", s)
        t = re.sub(r"git\+https://github\.com/[\w.-]+/[\w.-]+?(?=[\"'@\s]|\.git)", f"git+{url}", t)
        if t != s:
            p.write_text(t)
            changed.append(p)
    return changed


def execute(paths) -> None:
    """Write each jupytext .py to its .ipynb and execute it in place (outputs included)."""
    # jupytext and nbclient come with the dev extra only: a learner's install never needs them
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    for p in map(Path, paths):
        nb = jupytext.read(p)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        print(f"executing {p} ...", flush=True)
        client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                                resources={"metadata": {"path": str(p.parent)}})
        client.execute()
        nbformat.write(nb, p.with_suffix(".ipynb"))
