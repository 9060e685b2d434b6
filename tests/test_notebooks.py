"""Notebook hygiene: every notebooks/*.py has an executed .ipynb twin with the same code, a Colab
badge that opens itself, and a first cell that installs the package on Colab from the repository
named in pyproject.toml, without the dev tools (the cell `make sync-repo` writes). (nbval itself executes
the .ipynb files: see the Makefile's pytest target.)"""

from pathlib import Path

import jupytext
import nbformat
import pytest

from vit_lessons.assets import repo_url
from vit_lessons.notebook_tools import _wanted_cell, install_cell, sync_install_cell

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
SOURCES = sorted(NB_DIR.glob("[0-9][0-9]_*.py")) + sorted((NB_DIR / "solutions").glob("[0-9][0-9]_*.py"))
LESSONS = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))


def _code(cells):
    return [c.source.strip() for c in cells if c.cell_type == "code"]


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_py_and_ipynb_in_sync_and_executed(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make notebooks NB={py.relative_to(ROOT)}`"
    src = jupytext.read(py)
    nb = nbformat.read(ipynb, as_version=4)
    assert _code(src.cells) == _code(nb.cells), f"{py.name} and {ipynb.name} differ: re-execute the notebook"
    md = lambda cells: [c.source.strip() for c in cells if c.cell_type == "markdown"]
    assert md(src.cells) == md(nb.cells), f"markdown of {py.name} and {ipynb.name} differ"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{ipynb.name} has cells that were never executed"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{ipynb.name} was not executed top to bottom in one go"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{ipynb.name} has stored errors"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: str(p.relative_to(NB_DIR)))
def test_colab_badge_and_install_cell(py):
    nb = jupytext.read(py)
    rel = py.relative_to(ROOT).with_suffix(".ipynb").as_posix()
    gh = repo_url().removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{gh}/blob/main/{rel}"
    first_md = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert badge in first_md, f"{py.name}: first markdown cell needs the Colab badge {badge} (make sync-repo)"
    first_code = next(c.source for c in nb.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first_code
    assert f"git+{repo_url()}" in first_code, f"{py.name}: install cell must use {repo_url()} (make sync-repo)"
    # only what lessons import: Jupyter, nbval and ruff (the dev extra) have no business in Colab's kernel
    assert first_code.strip() == _wanted_cell(first_code), f"{py.name}: run `make sync-repo` for the install cell"
    assert "[dev" not in first_code and "dev]" not in first_code


def test_install_cell_installs_no_dev_tools_and_sync_edits_only_that_cell(tmp_path):
    cell = install_cell()
    assert f'"vit-lessons @ git+{repo_url()}"' in cell and "[" not in cell.split("git+")[0].split("vit-lessons")[1]
    assert f'"vit-lessons[app] @ git+{repo_url()}"' in install_cell({"app"})
    src = NB_DIR / "00_setup_and_data.py"
    py = tmp_path / src.name
    old = jupytext.read(src)
    text = src.read_text().replace(next(c.source for c in old.cells if c.cell_type == "code"),
                                   "import subprocess, sys\n# an old cell\n"
                                   '"vit-lessons[dev,app] @ git+https://github.com/someone/else"')
    py.write_text(text)
    assert sync_install_cell(py) and not sync_install_cell(py)  # the second run has nothing to do
    new = jupytext.read(py)
    code = [c for c in new.cells if c.cell_type == "code"]
    assert code[0].source == install_cell({"app"})  # the lesson's extra stays, dev goes
    assert [c.source for c in code[1:]] == [c.source for c in old.cells if c.cell_type == "code"][1:]
    assert [c.source for c in new.cells if c.cell_type == "markdown"] == \
        [c.source for c in old.cells if c.cell_type == "markdown"]
    # the executed twin: the cell's source changes, its outputs and count and every other cell stay
    ipynb = tmp_path / "00_setup_and_data.ipynb"
    nb = nbformat.read(NB_DIR / ipynb.name, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = "# an old install cell"
    nbformat.write(nb, ipynb)
    assert sync_install_cell(ipynb)
    after = nbformat.read(ipynb, as_version=4)
    assert next(c for c in after.cells if c.cell_type == "code").source == install_cell()
    first.source = install_cell()
    assert after == nb


def test_readme_lesson_table_links_every_lesson():
    readme = (ROOT / "README.md").read_text()
    gh = repo_url().removeprefix("https://github.com/")
    for py in LESSONS:
        rel = py.relative_to(ROOT).with_suffix(".ipynb").as_posix()
        assert f"https://colab.research.google.com/github/{gh}/blob/main/{rel}" in readme, f"README: no badge for {rel}"


def test_each_lesson_has_a_solution_notebook():
    for py in LESSONS:
        assert (NB_DIR / "solutions" / py.name).exists(), f"notebooks/solutions/{py.name} missing"


def test_jupyterlab_lists_each_lesson_once():
    """`make lab` hides the .py twins (one entry per lesson) and jupytext treats any .py it shows as a file."""
    import fnmatch
    import json
    import re

    line = next(m for m in re.finditer(r"hide_globs='(\[.*?\])'", (ROOT / "Makefile").read_text()))
    globs = json.loads(line.group(1))
    hidden = lambda name: any(fnmatch.fnmatch(name, g) for g in globs)  # noqa: E731 - as Jupyter matches them
    for py in SOURCES:
        assert hidden(py.name), py
        assert not hidden(py.with_suffix(".ipynb").name)
    assert not hidden("README.md") and not hidden("solutions")
    assert 'notebook_extensions = ["ipynb"]' in (NB_DIR / "jupytext.toml").read_text()
