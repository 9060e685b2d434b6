"""The attention explorer as a Hugging Face Space: a folder that can be pushed to Spaces as it is.

    python -m vit_lessons app --export-space DIR [--checkpoint PATH]

DIR gets README.md (the Space's front matter: `sdk: gradio` at the version installed here, `app_file: app.py`,
the licence), app.py (builds the explorer and serves it), requirements.txt (this course at the commit it was
exported from, and every dependency at the version installed here, the ones the tests ran with) and the
checkpoint. tests/test_space.py exports one, installs it into a fresh virtual environment and calls its
``/predict``.

Serves the maps built in notebooks/07_looking_inside.
"""

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .assets import repo_url

__all__ = ["export_space", "requirements", "package_requirement"]

DIST = "vit-lessons"

APP = '''"""The ViT attention explorer: the top-5 classes of any image, where the class token looks, attention
rollout and Grad-CAM. A Hugging Face Space exported by `python -m vit_lessons app --export-space` from
{repo}; notebooks/07_looking_inside there explains each map."""

import os
from pathlib import Path

from vit_lessons.app import build_app, serve
from vit_lessons.data import load_dataset

CHECKPOINT = Path(__file__).resolve().parent / "{checkpoint}"
DATASET = "{dataset}"

try:  # the gallery's test images: found on this machine, else downloaded once; without them, uploads still work
    load_dataset(DATASET, download=True)
except Exception as e:  # noqa: BLE001 - no network, no disk space: the page offers uploads only
    print(f"no {{DATASET}} test images for the gallery ({{type(e).__name__}}: {{e}}); uploads still work")

demo = build_app(CHECKPOINT)

if __name__ == "__main__":
    # Spaces sets GRADIO_SERVER_NAME (0.0.0.0) and GRADIO_SERVER_PORT; elsewhere, this machine only, as gradio does
    serve(demo, os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
'''

README = """---
title: ViT attention explorer
emoji: 🔍
colorFrom: blue
colorTo: indigo
sdk: gradio
sdk_version: {gradio}
python_version: "{python}"
app_file: app.py
pinned: false
license: mit
short_description: What a small Vision Transformer looks at, for any image
---

# ViT attention explorer

Pick a {dataset} test image or upload your own: the page shows the top-5 classes, the class token's attention
for any block and head, and attention rollout beside Grad-CAM. {model}

`/predict` is a named API endpoint:

```python
from gradio_client import Client, handle_file
Client("<user>/<space>").predict(handle_file("shoe.png"), api_name="/predict")
```

From the course *ViT from scratch* ({repo}), where lesson 07
(notebooks/07_looking_inside) builds every map and says where they mislead. Exported with
`python -m vit_lessons app --export-space` at {commit}; the versions in requirements.txt (and gradio
{gradio}, Python {python}) are the ones its tests ran with.
"""


def _git_commit() -> str | None:
    """The commit of the clone this package runs from, if it is one (and git is there)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def package_requirement(commit: str | None = None) -> str:
    """The course package as a requirement line: the repository at the commit exported from (else main)."""
    return f"{DIST} @ git+{repo_url()}@{commit or _git_commit() or 'main'}"


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0]


def requirements() -> list[str]:
    """The package's dependencies and its `app` extra, each pinned to the version installed here."""
    lines = []
    for req in metadata.requires(DIST) or []:
        spec, _, marker = req.partition(";")
        if marker.strip() and marker.replace(" ", "").replace("'", '"') != 'extra=="app"':
            continue  # another extra (dev, book) or a platform marker
        name = _name(spec.strip())
        try:
            version = metadata.version(name).split("+")[0]  # 2.5.1+cpu: the local build label is not on PyPI
            lines.append(f"{name}=={version}")
        except metadata.PackageNotFoundError:
            lines.append(f"{spec.strip()}  # not installed where exported: untested")
    return sorted(lines, key=str.lower)


def export_space(out, checkpoint) -> Path:
    """Write the Space folder ``out`` (created; a ValueError if it holds files) for a course checkpoint.

    Args:
        out: the folder to write, empty or new.
        checkpoint: a .pt file written by the course's trainer; copied into the folder.

    Serves the maps built in notebooks/07_looking_inside.
    """
    import gradio

    from .app_logic import load_explorer

    out, checkpoint = Path(out), Path(checkpoint)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not an empty folder: choose a new folder for the Space")
    ex = load_explorer(checkpoint)  # the checks the page would make, before anything is written
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(checkpoint, out / checkpoint.name)
    commit = _git_commit()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    model = (f"The model: `{checkpoint.name}`, {ex.model.config.depth} blocks of {ex.model.config.num_heads} heads "
             f"on {ex.model.config.patch_size}x{ex.model.config.patch_size}-pixel patches")
    acc = ex.record.get("test_acc")
    model += f", {acc:.2%} on the {ex.dataset} test set." if isinstance(acc, float) else "."
    (out / "README.md").write_text(README.format(gradio=gradio.__version__, python=python, dataset=ex.dataset,
                                                 model=model, repo=repo_url(), commit=commit or "main"),
                                   encoding="utf-8")
    (out / "app.py").write_text(APP.format(repo=repo_url(), checkpoint=checkpoint.name, dataset=ex.dataset),
                                encoding="utf-8")
    reqs = [package_requirement(commit), *requirements()]
    (out / "requirements.txt").write_text(
        "# the course package at the commit this Space was exported from, and the versions its tests ran with\n"
        + "\n".join(reqs) + "\n", encoding="utf-8")
    return out
