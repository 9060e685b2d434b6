"""Prose that stays clean: codespell over what people read (README and the other Markdown pages, the lessons'
and solutions' markdown cells, the package's docstrings), and every relative link in them points at a file
that exists. A finding names the file and line to fix; a word of the field that codespell mistakes for a typo
goes into ALLOWED, with what it is.
"""

import ast
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) + sorted(
    (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.py"))
MARKDOWN = [ROOT / "README.md", ROOT / "notebooks" / "README.md", ROOT / "assets" / "README.md",
            *sorted((ROOT / "assets" / "results").rglob("README.md"))]
# Words of the field (and of our code) that codespell would "correct"; keep this list short.
ALLOWED = {
    "ba": "Jimmy Lei Ba, first author of Layer Normalization (Ba, Kiros and Hinton 2016)",
}
# codespell's dictionaries: typos, rare words, informal spellings, usage, names. Not en-GB_to_en-US: the course
# is written in British English (normalise, colour, grey).
DICTIONARIES = "clear,rare,informal,usage,names"


# ---- what people read, with the line numbers of the file they edit -----------------------------------------------
def markdown_cells(py: Path) -> list[tuple[int, int, str]]:
    """The markdown cells of a jupytext percent notebook: (cell number from 1, first line, text)."""
    cells, current, number = [], None, 0
    for i, line in enumerate(py.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("# %%"):
            number += 1
            current = [] if "[markdown]" in line else None
            if current is not None:
                cells.append((number, i + 1, current))
        elif current is not None:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return [(n, first, "\n".join(lines)) for n, first, lines in cells]


# code and formulas are not prose: fenced blocks, `code` spans, $math$ and $$display math$$
NOT_PROSE = re.compile(r"```.*?```|\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`", flags=re.S)


def _blank(text: str) -> str:
    """Code and formulas replaced by spaces, line breaks kept."""
    return NOT_PROSE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def prose_only(path: Path) -> str:
    """The file with everything but its prose blanked, line for line: markdown cells of a notebook, docstrings of a
    module, all of a Markdown file, less code and formulas. codespell's line numbers are then the file's own."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return _blank(text)
    lines = text.splitlines()
    keep = set()
    if re.search(r"^# %%", text, flags=re.M):  # a jupytext percent notebook
        for _, first, cell in markdown_cells(path):
            keep.update(range(first, first + len(cell.splitlines())))
    else:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                doc = node.body[0]
                if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value,
                                                                                                     str):
                    keep.update(range(doc.lineno, doc.end_lineno + 1))
    return _blank("\n".join(line if i in keep else "" for i, line in enumerate(lines, start=1)) + "\n")


def _prose_files() -> list[Path]:
    modules = sorted(p for p in (ROOT / "vit_lessons").rglob("*.py") if "__pycache__" not in p.parts)
    return MARKDOWN + NOTEBOOKS + modules


def typos(files: list[Path], base: Path, work: Path) -> list[str]:
    """codespell's findings in the prose of `files`, as 'path relative to base:line: word ==> fix'."""
    for path in files:
        copy = work / path.relative_to(base)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(prose_only(path), encoding="utf-8")
    allowed = ["--ignore-words-list", ",".join(sorted(ALLOWED))] if ALLOWED else []
    run = subprocess.run([sys.executable, "-m", "codespell_lib", "--builtin", DICTIONARIES, *allowed, "."],
                         cwd=work, capture_output=True, text=True)
    assert run.returncode in (0, 65) and not run.stderr.strip(), run.stderr  # 65: typos found
    return [line.removeprefix("./") for line in run.stdout.splitlines() if "==>" in line]


def test_codespell_finds_no_typos(tmp_path):
    pytest.importorskip("codespell_lib", reason="codespell is not installed: pip install -e '.[dev]'")
    found = typos(_prose_files(), ROOT, tmp_path)
    assert not found, "typos (file:line: word ==> fix; a field's word goes into ALLOWED):\n" + "\n".join(found)


def test_codespell_reads_markdown_cells_and_docstrings_only(tmp_path):
    """The check looks where it says: typos in a markdown cell and a docstring are found on their own lines, the
    same typo in code is not."""
    pytest.importorskip("codespell_lib", reason="codespell is not installed: pip install -e '.[dev]'")
    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    (src / "notebooks" / "00_x.py").write_text("# %% [markdown]\n# # Title\n#\n# The recieved image.\n\n# %%\n"
                                               "recieved = 1  # code, not prose\n")
    (src / "m.py").write_text('"""Module."""\n\nrecieved = 2\n\n\ndef f():\n    """Seperate the patches."""\n')
    found = typos([src / "notebooks" / "00_x.py", src / "m.py"], src, tmp_path / "work")
    assert sorted(f.split(" ==>")[0] for f in found) == ["m.py:7: Seperate", "notebooks/00_x.py:4: recieved"]


# ---- links ------------------------------------------------------------------------------------------------------
def relative_links(markdown: str) -> list[str]:
    """Every link and image target of a Markdown text that is a path (not a URL, not a #section of the same page)."""
    from markdown_it import MarkdownIt

    found = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        for t in [token, *(token.children or [])]:
            if t.type in ("link_open", "image"):
                found.append(t.attrGet("href") or t.attrGet("src"))
            elif t.type in ("html_inline", "html_block"):
                found += re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', t.content)
    return [u for u in found if u and not urllib.parse.urlparse(u).scheme and not u.startswith(("#", "//"))]


def _link_sources() -> list[tuple[Path, str, str]]:
    """(file, where in it, markdown text) for README and the other pages, and every notebook's markdown cells."""
    out = [(p, "", p.read_text(encoding="utf-8")) for p in MARKDOWN]
    for py in NOTEBOOKS:
        out += [(py, f", markdown cell {n} (line {first})", text) for n, first, text in markdown_cells(py)]
    return out


def test_every_relative_link_points_at_a_file():
    pytest.importorskip("markdown_it", reason="markdown-it-py comes with jupytext: pip install -e '.[dev]'")
    broken, checked = [], 0
    for path, where, text in _link_sources():
        for target in relative_links(text):
            checked += 1
            rel = urllib.parse.unquote(target.split("#")[0].split("?")[0])
            if rel and not (path.parent / rel).exists():
                broken.append(f"{path.relative_to(ROOT)}{where}: {target}")
    assert checked > 20, f"only {checked} relative links found: is the parser reading the files?"
    assert not broken, "relative links to files that do not exist:\n" + "\n".join(broken)


def test_link_check_sees_markdown_html_and_skips_urls_and_code():
    text = ("[a](notebooks/03_attention.ipynb) ![b](assets/x.png) [c](https://example.org/x.md) [d](#summary)\n"
            '<img src="assets/y.png"> `[not](a/link.md)`\n\n| t | [e](vit_lessons/) |\n|---|---|\n| 1 | 2 |\n')
    assert relative_links(text) == ["notebooks/03_attention.ipynb", "assets/x.png", "assets/y.png", "vit_lessons/"]
