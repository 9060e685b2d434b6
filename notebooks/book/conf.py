"""Sphinx configuration of the course's website (`make book`; notebooks/book/build.py stages the sources).

myst-nb renders the committed notebooks with their stored outputs (it never runs a cell),
sphinx-book-theme lays them out, sphinx-mathjax-offline serves MathJax from the site itself.
Nothing a page needs comes from another host: the tests check it in Chromium (tests/test_book.py).
"""

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_m = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), flags=re.M)
REPO = _m.group(1).rstrip("/")  # pyproject's [project.urls] Repository, the one place it is written
BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

project = "ViT from scratch"
author = "the ViT from scratch authors"
copyright = "the ViT from scratch authors, MIT licence"
root_doc = "index"
language = "en"

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["**/.ipynb_checkpoints"]

# ---- notebooks: shown as committed, never executed -------------------------------------------------
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget manager from a CDN (no lesson stores widget state)
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # README's and lessons' #section links
nb_output_stderr = "show"

# ---- the page ------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "ViT from scratch"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_favicon = "_static/favicon.svg"  # and no request for a missing /favicon.ico
html_context = {"default_mode": "light"}  # the light theme, whatever the reader's system prefers
html_last_updated_fmt = None
html_use_index = False  # no general index: the course has no API pages to index
html_domain_indices = False
html_theme_options = {
    "repository_url": REPO,
    "repository_branch": BRANCH,
    "path_to_docs": "",  # the staged sources are laid out as the repository
    "use_repository_button": True,
    "use_download_button": True,  # .ipynb and .md sources
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
}
pygments_style = "default"


# ---- links and badges --------------------------------------------------------------------------------
def _repo_path(srcdir: Path, refdoc_path: str, target: str) -> str | None:
    """The repository path a relative link of a page points at ("../vit_lessons/x.py" from a lesson), or None."""
    if "://" in target or target.startswith(("#", "mailto:")):
        return None
    parts = []
    for p in (Path(refdoc_path).parent.relative_to(srcdir) / target.split("#")[0]).parts:
        if p == "..":
            if not parts:
                return None
            parts.pop()
        elif p not in (".", ""):
            parts.append(p)
    return "/".join(parts)


def _link_targets():
    from docutils import nodes
    from sphinx import addnodes
    from sphinx.transforms.post_transforms import SphinxPostTransform
    from sphinx.util.nodes import make_refnode

    class RepositoryLinks(SphinxPostTransform):
        """A relative link to a repository file the book does not show (vit_lessons/, tests/ ...) opens its
        GitHub page; a link to a folder the book has an index page for opens that page. Runs before MyST's
        resolver, which would warn about both. A link to nothing stays a warning (tests/test_prose.py names it)."""

        default_priority = 8  # MyST's resolver is 9

        def run(self, **kwargs):
            for node in list(self.document.findall(addnodes.pending_xref)):
                if node.get("reftype") != "myst" or node.get("refdomain") == "doc":
                    continue
                rel = _repo_path(Path(self.app.srcdir), self.env.doc2path(node["refdoc"]), node["reftarget"])
                if rel is None or not (ROOT / rel).exists():
                    continue
                contnode = node[0].deepcopy()
                index = f"{rel.rstrip('/')}/index"
                if index in self.env.all_docs:
                    node.replace_self(make_refnode(self.app.builder, node["refdoc"], index, None, contnode))
                    continue
                kind = "tree" if (ROOT / rel).is_dir() else "blob"
                ref = nodes.reference("", "", internal=False, refuri=f"{REPO}/{kind}/{BRANCH}/{rel}")
                ref += contnode
                node.replace_self(ref)

    return RepositoryLinks


def _badges(app, pagename, templatename, context, doctree):
    """Colab badges drawn from the site's own copy; each notebook page gets a link to download its .ipynb."""
    body = context.get("body")
    if not body:
        return
    badge = context["pathto"]("_static/colab-badge.svg", 1)
    body = body.replace(f'src="{COLAB_BADGE}"', f'src="{badge}"')
    src = Path(app.srcdir, pagename + ".ipynb")
    if src.exists():
        link = (f' <a class="reference internal download-notebook" href="{src.name}" download>'
                f'<img alt="Download the notebook" src="{context["pathto"]("_static/download-badge.svg", 1)}"/></a>')
        at = body.find(f'<img alt="Open In Colab" src="{badge}"')
        end = body.find("</a>", at) + len("</a>") if at >= 0 else -1
        if end > 0:
            body = body[:end] + link + body[end:]
        else:  # no badge on this page: the link opens the page
            body = body.replace("</h1>", f"</h1>\n<p>{link}</p>", 1)
    context["body"] = body


def _copy_notebooks(app, exc):
    """Each .ipynb beside its page, for the download link."""
    if exc is not None or app.builder.format != "html":
        return
    for nb in Path(app.srcdir).rglob("*.ipynb"):
        dst = Path(app.outdir, nb.relative_to(app.srcdir))
        if not dst.exists() or dst.stat().st_mtime < nb.stat().st_mtime:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(nb, dst)


def setup(app):
    app.add_post_transform(_link_targets())
    app.connect("html-page-context", _badges)
    app.connect("build-finished", _copy_notebooks)
    return {"parallel_read_safe": True}
