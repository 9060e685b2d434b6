"""The maintenance commands behind ``make notebooks`` and ``make sync-repo``
(``python -m vit_lessons notebooks execute notebooks/01_patches.py`` / ``notebooks sync-repo``):
execute a lesson into its .ipynb, and write the Colab install cell, the Colab badge and the repository
address into notebooks and README. Learners never need this module; it imports jupytext, nbformat and
nbclient (the dev extra) only when a command runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from .assets import ROOT, repo_url

__all__ = ["colab_badge", "install_cell", "sync_install_cell", "sync_repo", "execute"]

_BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/")
_SPEC = re.compile(r'"vit-lessons(?:\[([^\]]*)\])? @ git\+')
_FIRST_CODE = re.compile(r"^# %%(?![^\n]*\[markdown\])[^\n]*\n(.*?)(?=^# %%|\Z)", flags=re.M | re.S)


def colab_badge(nb_path: str, url: str | None = None) -> str:
    """Markdown for an "Open in Colab" badge opening ``nb_path`` (relative to the repo root) on main."""
    url = url or repo_url()
    gh = url.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{gh}/blob/main/{nb_path})")


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
