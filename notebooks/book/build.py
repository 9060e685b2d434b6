"""`make book`: the course as a static website, built from the committed, executed notebooks.

    python notebooks/book/build.py [--out build/book]

The pages are laid out as the repository is (README.md becomes index.html, notebooks/03_attention.ipynb
becomes notebooks/03_attention.html), so every relative link the README and the lessons already have works
in the book too. Sources are staged under OUT/src (only what changed is copied, so a second build only
re-renders what changed), Sphinx with myst-nb renders them into OUT/html without executing any cell, and
MathJax, fonts and scripts are all served from the site itself: it works with no network.
Lessons, solutions and results are found by name, so a new lesson joins the book without editing a list.
"""

import argparse
import filecmp
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = Path(__file__).resolve().parent
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg")


def lessons() -> list[str]:
    """The lessons in order: notebooks/NN_topic.ipynb."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def solutions() -> list[str]:
    """Each lesson's worked solutions: notebooks/solutions/NN_topic.ipynb."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))


def results() -> list[str]:
    """Every measured result's README under assets/results/."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "assets" / "results").rglob("README.md"))


def _doc(path: str) -> str:
    return path.rsplit(".", 1)[0]


def _toctree(caption: str, docs: list[str], hidden: bool = True) -> str:
    opts = (":hidden:\n" if hidden else "") + (f":caption: {caption}\n" if caption else "") + ":maxdepth: 1\n"
    return "\n```{toctree}\n" + opts + "\n" + "\n".join(docs) + "\n```\n"


def generated_pages() -> dict[str, str]:
    """Pages the repository does not have as files: the landing page's table of contents and two index pages."""
    with open(ROOT / "README.md", encoding="utf-8") as f:
        readme = f.read()
    index = (readme.rstrip() + "\n"
             + _toctree("Lessons", [_doc(p) for p in lessons()])
             + _toctree("Reference", ["notebooks/solutions/index", "Glossary and shape legend <notebooks/README>",
                                      "assets/results/index", "Where the figures and results come from <assets/README>"]))
    sol = ("# Worked solutions\n\nEach lesson ends with exercises that check themselves; these notebooks work them "
           "out, executed like the lessons.\n" + _toctree("", [_doc(p).split("/")[-1] for p in solutions()], False))
    res = ("# Measured results\n\nWhat the benchmarks measured, with the command, the machine and its load for every "
           "run: each page below is written by `python -m vit_lessons bench ...`.\n"
           + _toctree("", [_doc(p).removeprefix("assets/results/") for p in results()], False))
    return {"index.md": index, "notebooks/solutions/index.md": sol, "assets/results/index.md": res}


def wanted_files() -> list[str]:
    """Repository files the book shows: notebooks, glossary, READMEs of results, and every image in assets/."""
    images = [p.relative_to(ROOT).as_posix() for p in (ROOT / "assets").rglob("*")
              if p.suffix.lower() in IMAGES and p.is_file()]
    return lessons() + solutions() + results() + ["notebooks/README.md", "assets/README.md"] + sorted(images)


def stage(src: Path) -> int:
    """Make `src` hold exactly the book's sources; copy only what changed (Sphinx rebuilds by modification time)."""
    keep = set()
    changed = 0
    for rel in wanted_files():
        dst = src / rel
        keep.add(dst)
        if not (dst.exists() and filecmp.cmp(ROOT / rel, dst, shallow=False)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst)
            changed += 1
    for rel, text in generated_pages().items():
        dst = src / rel
        keep.add(dst)
        if not (dst.exists() and dst.read_text(encoding="utf-8") == text):
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
            changed += 1
    for p in sorted(src.rglob("*"), reverse=True):  # files no longer in the course, then empty folders
        if p.is_file() and p not in keep:
            p.unlink()
            changed += 1
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    return changed


def build(out: Path, quiet: bool = False) -> Path:
    """Stage the sources under out/src and render them into out/html; returns the path of index.html."""
    from sphinx.cmd.build import build_main

    start = time.perf_counter()
    src, html = out / "src", out / "html"
    src.mkdir(parents=True, exist_ok=True)
    changed = stage(src)
    print(f"==> book: {changed} source file(s) staged in {src}", flush=True)
    args = ["-b", "html", "-c", str(CONF), "-d", str(out / "doctrees"), "-q", str(src), str(html)]
    status = build_main(args)
    if status:
        raise SystemExit(f"error: sphinx-build failed with status {status}: see the messages above")
    pages = sum(1 for p in html.rglob("*.html") if not p.relative_to(html).parts[0].startswith("_"))
    if not quiet:
        print(f"==> book: {pages} pages in {time.perf_counter() - start:.0f} s; open {html / 'index.html'}")
    return html / "index.html"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "book",
                    help="folder for the staged sources and the website (default: build/book)")
    build(ap.parse_args(argv).out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
