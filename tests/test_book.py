"""The course's website (`make book`): built from the committed notebooks with no network, then read in
headless Chromium (the system's, as in tests/test_app.py) page by page: every internal link answers, every
image loads, nothing comes from another host, no console errors, lesson 03's formulas typeset, search works.

The browser test can also save lesson 03's page as assets/book_screenshot.png (see assets/README.md):
    VIT_LESSONS_BOOK_SCREENSHOT=assets/book_screenshot.png pytest -q tests/test_book.py -k formulas
"""

import contextlib
import functools
import html.parser
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the system browser, never a download; started as tests/test_app.py starts it
CHROMIUM = Path(os.environ.get("VIT_LESSONS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000  # upper bound for one page load on a busy 2-core CI machine; normally well under a second
BUILD = ROOT / "notebooks" / "book" / "build.py"
OFFLINE = "http://127.0.0.1:9"  # the discard port: anything that tries to download fails at once
# MathJax has typeset the page (or the page has no MathJax)
TYPESET = "() => !window.MathJax || !MathJax.startup || MathJax.startup.promise.then(() => true)"
# what MathJax draws for TeX it cannot read: an error box, or an unknown macro in red
BAD_TEX = "mjx-merror, [data-mjx-error], mjx-mtext[style*='color: red']"


def _need(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[book]' (make setup does it)")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A fresh build of the whole book, offline; returns (html folder, build output, seconds)."""
    _need("sphinx", "myst_nb", "sphinx_book_theme")
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "http_proxy": OFFLINE, "https_proxy": OFFLINE, "HTTP_PROXY": OFFLINE,
           "HTTPS_PROXY": OFFLINE, "no_proxy": "", "NO_PROXY": ""}
    t = time.perf_counter()
    run = subprocess.run([sys.executable, str(BUILD), "--out", str(out)], capture_output=True, text=True, env=env,
                         timeout=600)
    seconds = time.perf_counter() - t
    assert run.returncode == 0, f"the book did not build:\n{run.stdout}\n{run.stderr[-6000:]}"
    return out / "html", run.stdout + run.stderr, seconds


def _pages(html: Path) -> list[str]:
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html") if not p.relative_to(html).parts[0]
                  .startswith("_"))


def test_book_builds_offline_without_warnings_and_has_every_lesson(book):
    html, log, seconds = book
    print(f"built in {seconds:.0f} s")
    assert "WARNING" not in log and "ERROR" not in log, log
    assert f"open {html / 'index.html'}" in log
    pages = _pages(html)
    lessons = sorted(p.with_suffix(".html").name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    solutions = sorted(p.with_suffix(".html").name for p in (ROOT / "notebooks" / "solutions").glob("[0-9]*.ipynb"))
    results = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in (ROOT / "assets" / "results").rglob(
        "README.md")]
    assert lessons and solutions and results
    want = ({"index.html", "search.html", "notebooks/README.html"} | {f"notebooks/{n}" for n in lessons}
            | {f"notebooks/solutions/{n}" for n in solutions} | set(results))
    assert want <= set(pages), f"pages missing from the book: {sorted(want - set(pages))}"
    # the sidebar lists the lessons in order, on every page
    index = (html / "index.html").read_text()
    at = [index.find(f'href="notebooks/{n}"') for n in lessons]
    assert -1 not in at and at == sorted(at), "the lessons are not all in the navigation, in order"


def test_lessons_show_their_stored_outputs_and_offer_the_notebook(book):
    import nbformat

    html = book[0]
    nb = nbformat.read(ROOT / "notebooks" / "03_attention.ipynb", as_version=4)
    page = (html / "notebooks" / "03_attention.html").read_text()
    # never executed: a stream output of the committed notebook appears as it was stored
    streams = [o["text"].strip().splitlines()[0] for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream" and o["text"].strip()]
    assert streams and all(_escape(s) in page for s in streams[:5])
    assert "https://colab.research.google.com/github/" in page and '_static/colab-badge.svg"' in page
    assert 'class="reference internal download-notebook" href="03_attention.ipynb" download' in page
    offered = html / "notebooks" / "03_attention.ipynb"
    assert offered.read_bytes() == (ROOT / "notebooks" / "03_attention.ipynb").read_bytes()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---- in a browser ------------------------------------------------------------------------------------------------
class _Ids(html.parser.HTMLParser):
    """Every id on a page: where a link's #fragment can land."""

    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k in ("id", "name") and v)


@functools.cache
def _ids(path: Path) -> frozenset:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


@pytest.fixture(scope="module")
def site(book):
    """The book served on 127.0.0.1, as a reader's browser would get it."""
    html = book[0]

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", html
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium; or set VIT_LESSONS_CHROMIUM)")
    _need("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def _page(browser, base):
    """A page that records console errors, script errors and every request for another host (which it blocks)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    seen = {"errors": [], "foreign": []}

    def route(r):
        if r.request.url.startswith((base, "data:", "blob:")):
            return r.continue_()
        seen["foreign"].append(f"{r.request.resource_type} {r.request.url}")
        return r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: seen["errors"].append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(f"script: {e}"))
    page.on("requestfailed", lambda r: seen["errors"].append(f"failed: {r.url}") if r.url.startswith(base) else None)
    try:
        yield page, seen
    finally:
        page.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as r:
            return r.status == 200
    except urllib.error.URLError:
        return False


def test_every_page_in_chromium(site, browser):
    base, html = site
    problems, links = [], {}
    with _page(browser, base) as (page, seen):
        for name in _pages(html):
            seen["errors"].clear()
            seen["foreign"].clear()
            page.goto(base + name, wait_until="load")
            page.wait_for_function(TYPESET)
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                                   ".map(i => i.src)")
            merror = page.locator(BAD_TEX).count()
            problems += [f"{name}: {e}" for e in seen["errors"] + seen["foreign"]]
            problems += [f"{name}: image does not load: {src}" for src in broken]
            problems += [f"{name}: {merror} formula(s) MathJax could not typeset"] if merror else []
            for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
                if href.startswith(base):
                    links.setdefault(href, name)
    for href, name in sorted(links.items()):
        url, _, fragment = href.partition("#")
        path = html / urllib.parse.unquote(urllib.parse.urlparse(url).path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not _answers(url):
            problems.append(f"{name}: link to {href} does not answer")
        elif fragment and path.suffix == ".html" and urllib.parse.unquote(fragment) not in _ids(path):
            problems.append(f"{name}: link to {href}: no #{fragment} on that page")
    assert len(links) > 50 and not problems, "\n".join(problems)


def test_lesson_03_formulas_are_typeset(site, browser):
    base, _ = site
    with _page(browser, base) as (page, seen):
        page.goto(base + "notebooks/03_attention.html")
        page.wait_for_function(TYPESET)
        typeset = page.locator("mjx-container").count()
        raw = page.locator(".math").count()  # every formula Sphinx marked, inline and display
        assert raw > 10 and typeset >= raw, f"{typeset} of {raw} formulas typeset"
        assert "\\mathrm" not in page.locator("article").inner_text()  # no TeX source left on the page
        assert page.locator(BAD_TEX).count() == 0 and not seen["errors"] and not seen["foreign"]
        shot = os.environ.get("VIT_LESSONS_BOOK_SCREENSHOT")
        if shot:  # a lesson as a reader sees it: navigation, badges, prose with formulas, contents
            tmp = Path(shot).with_name(f".{Path(shot).name}.tmp.png")
            page.screenshot(path=tmp)
            os.replace(tmp, shot)  # never a half-written screenshot


def test_search_finds_lesson_03(site, browser):
    base, _ = site
    with _page(browser, base) as (page, seen):
        page.goto(base + "search.html?q=softmax")
        results = page.locator("#search-results li a")
        results.first.wait_for()
        hrefs = [a.get_attribute("href") for a in results.all()]
        assert any("notebooks/03_attention.html" in (h or "") for h in hrefs), hrefs
        assert not seen["errors"] and not seen["foreign"], seen
