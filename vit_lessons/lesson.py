"""What every lesson's setup cell needs: versions, device, seed, the CI/default/full switch, and
:func:`asset_path`, the one way lessons, the app and benchmarks find the course's assets/ files.

Also what the maintenance commands behind ``make notebooks`` and ``make sync-repo`` do
(``python -m vit_lessons notebooks execute notebooks/01_patches.py`` / ``notebooks sync-repo``):
execute a lesson into its .ipynb, and write the Colab install cell and the repository address
into notebooks and README.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
import tempfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from .machine import versions

__all__ = ["MODES", "mode", "pick", "seed_everything", "setup", "in_colab", "asset_path", "repo_url", "ROOT"]

MODES = ("ci", "default", "full")
MODE_VAR = "VIT_LESSONS_MODE"
ROOT = Path(__file__).resolve().parent.parent  # the clone's top folder (site-packages when installed)
# The wheel ships the top-level assets/ folder as package data here (pyproject: vit_lessons._assets).
PACKAGED_ASSETS = Path(__file__).resolve().parent / "_assets"


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


def _in_clone() -> bool:
    return (ROOT / "pyproject.toml").is_file() and (ROOT / "assets").is_dir()


def repo_url() -> str:
    """The repository address: pyproject.toml's [project.urls] Repository in a clone, else the installed metadata's."""
    if _in_clone():
        text = (ROOT / "pyproject.toml").read_text()
        m = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
        if not m:
            raise RuntimeError("pyproject.toml has no [project.urls] Repository line")
        return m.group(1).rstrip("/")
    urls = metadata.metadata("vit-lessons").get_all("Project-URL") or []
    for u in urls:
        label, _, url = u.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise RuntimeError("the installed vit-lessons names no Repository URL in its metadata")


def asset_path(name: str) -> Path:
    """Path of a file of the course's assets/ folder, e.g. ``asset_path("checkpoints/fashion_mnist_vit.pt")``.

    Looked up, in order: the clone's assets/ (a checkout, or an editable install); the copy shipped
    inside the installed package (``pip install`` from the repository or a wheel, as on Colab); files
    fetched earlier into the cache (``$XDG_CACHE_HOME/vit_lessons/assets``); last, one download from the
    repository's main branch for files the installed version does not have. The first two need no
    network. Provenance of every file: assets/README.md.

    Built in notebooks/00_setup_and_data.
    """
    rel = PurePosixPath(str(name).replace("\\", "/"))
    if not rel.parts or rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"asset name {name!r} must be a path inside assets/, like 'chelsea_224.jpg' or "
                         f"'checkpoints/fashion_mnist_vit.pt'")
    places = [ROOT / "assets"] if _in_clone() else []
    places.append(PACKAGED_ASSETS)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vit_lessons" / "assets"
    for place in (*places, cache):
        if (place / rel).exists():
            return place / rel
    try:
        url = f"{repo_url()}/raw/main/assets/{rel}"
        with urllib.request.urlopen(url, timeout=30) as r:
            data = r.read()
    except (OSError, RuntimeError, urllib.error.URLError, metadata.PackageNotFoundError) as e:
        looked = ", ".join(str(p) for p in places)
        raise FileNotFoundError(
            f"assets/{rel} is not in {looked} and could not be downloaded ({e}). Check the name against "
            f"assets/ in the repository; files added after your install come with `pip install --upgrade` "
            f"of vit-lessons, or from a clone of the repository.") from None
    target = cache / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    # write then rename, so an interrupted download never leaves a half file that looks cached
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as f:
        f.write(data)
    os.replace(f.name, target)
    return target


def colab_badge(nb_path: str, url: str | None = None) -> str:
    """Markdown for an "Open in Colab" badge opening ``nb_path`` (relative to the repo root) on main."""
    url = url or repo_url()
    gh = url.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{gh}/blob/main/{nb_path})")


_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+?(?=[/\"'\s)]|\.git|$)")
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/")


_SPEC = re.compile(r'"vit-lessons(?:\[([^\]]*)\])? @ git\+')
_FIRST_CODE = re.compile(r"^# %%(?![^\n]*\[markdown\])[^\n]*\n(.*?)(?=^# %%|\Z)", flags=re.M | re.S)


def install_cell(extras=()) -> str:
    """The first code cell of every lesson: on Colab, pip-install the course package from the repository.

    Only what lessons import (the package's dependencies, plus ``extras`` a lesson names, never ``dev``):
    Jupyter, nbval and ruff have no business in Colab's kernel.
    """
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    return ("# Colab: install the course package and what the lessons import (no Jupyter or test tools);\n"
            "# elsewhere `make lab` already did.\n"
            "import subprocess, sys\n"
            'if "google.colab" in sys.modules:\n'
            '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
            f'                    "vit-lessons{extra} @ git+{repo_url()}"], check=True)')


def _wanted_cell(current: str) -> str:
    m = _SPEC.search(current)
    extras = {e.strip() for e in (m.group(1) or "").split(",")} - {"", "dev"} if m else set()
    return install_cell(extras)


def sync_install_cell(path: Path) -> bool:
    """Make the first code cell of a lesson (.py or executed .ipynb) :func:`install_cell`; True if it changed.

    Only that cell's source is touched: outputs, execution counts and every other cell stay as they are,
    so a .py and its .ipynb twin stay in sync without re-executing.
    """
    path = Path(path)
    if path.suffix == ".py":
        s = path.read_text()
        m = _FIRST_CODE.search(s)
        if not m:
            return False
        body = m.group(1)
        old = body.rstrip("\n")
        new = _wanted_cell(old)
        if old == new:
            return False
        path.write_text(s[:m.start(1)] + new + body[len(old):] + s[m.end(1):])
        return True
    import nbformat  # the dev extra only: a learner's install never runs the maintenance commands

    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code"), None)
    if cell is None or cell.source == _wanted_cell(cell.source):
        return False
    cell.source = _wanted_cell(cell.source)
    nbformat.write(nb, path)
    return True


def sync_repo(paths=None) -> list[Path]:
    """Write the Colab install cell into every lesson (.py and .ipynb) and rewrite repository addresses in
    notebooks and README to pyproject's; returns the files changed."""
    url = repo_url()
    gh = url.removeprefix("https://github.com/")
    if paths is None:
        nbs = [d / f"{p.stem}{ext}" for d in (ROOT / "notebooks", ROOT / "notebooks" / "solutions")
               for p in sorted(d.glob("[0-9][0-9]_*.py")) for ext in (".py", ".ipynb")]
        paths = [ROOT / "README.md", ROOT / "notebooks" / "README.md", *nbs]
    changed = []
    for p in map(Path, paths):
        if not p.exists():
            continue
        s = p.read_text()
        t = _BADGE.sub(f"https://colab.research.google.com/github/{gh}/blob/", s)
        t = re.sub(r"git\+https://github\.com/[\w.-]+/[\w.-]+?(?=[\"'@\s]|\.git)", f"git+{url}", t)
        if t != s:
            p.write_text(t)
        if (p.suffix in (".py", ".ipynb") and sync_install_cell(p)) or t != s:
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
