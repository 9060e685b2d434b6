"""Finding the course's assets/ files: :func:`asset_path`, the one way lessons, the app and benchmarks
locate an image, checkpoint or result, in a clone, in an installed package (as on Colab), or by one
download from the repository. Also :func:`repo_url`, the repository's address that download uses.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path, PurePosixPath

__all__ = ["ROOT", "PACKAGED_ASSETS", "asset_path", "repo_url"]

ROOT = Path(__file__).resolve().parent.parent  # the clone's top folder (site-packages when installed)
# The wheel ships the top-level assets/ folder as package data here (pyproject: vit_lessons._assets).
PACKAGED_ASSETS = Path(__file__).resolve().parent / "_assets"


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
