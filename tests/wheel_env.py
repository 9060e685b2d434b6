"""The package as a user installs it: the vit-lessons wheel built from this tree, installed into a fresh virtual
environment, run offline. Shared by tests/test_colab.py (lessons outside the repository) and tests/test_space.py
(the exported Hugging Face Space); conftest's session fixture `wheel` builds the wheel once for both.

The fresh environment reuses this environment's torch, Jupyter, gradio and friends through a .pth line (a path
line, so this environment's own .pth files, among them the editable install, are not run): seconds of
installing, not gigabytes. vit_lessons itself comes only from the wheel.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: any download fails at once, as offline


def _setuptools_new_enough() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def build_wheel(out: Path) -> Path:
    """Build the vit-lessons wheel from a copy of the repository's package files (the tree stays untouched)."""
    src = out / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in ("vit_lessons", "assets"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    # offline when this environment has the build backend pyproject asks for; else pip fetches it
    isolation = [] if _setuptools_new_enough() else ["--use-pep517"]
    no_isolation = ["--no-build-isolation"] if not isolation else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *no_isolation, *isolation,
                    "-w", str(out / "dist"), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = (out / "dist").glob("vit_lessons-*.whl")
    return wheel


def fresh_venv(where: Path, wheel: Path | None = None) -> Path:
    """A venv with this environment's site-packages on its path (and the wheel installed, if given); its python."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # a path line after the venv's own site-packages: torch, jupyter ... from here, vit_lessons from the wheel
    Path(site, "zz_reuse_installed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if wheel is not None:
        pip_install(py, "--no-deps", str(wheel))
    return py


def pip_install(py: Path, *args: str) -> subprocess.CompletedProcess:
    """pip install into the venv of `py`, from no index: only wheels given and what is already installed."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-index", *args],
                          check=True, capture_output=True, text=True)


def offline_env(home: Path) -> dict:
    """This process's environment with its own venv, caches and network taken away."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(VIT_LESSONS_MODE="ci", HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               MPLCONFIGDIR=str(home / "mpl"), http_proxy=UNREACHABLE, https_proxy=UNREACHABLE,
               HTTP_PROXY=UNREACHABLE, HTTPS_PROXY=UNREACHABLE, no_proxy="", NO_PROXY="",
               HF_HUB_OFFLINE="1", PIP_NO_INDEX="1")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env
