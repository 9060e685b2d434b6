"""The course as Colab meets it: the package built into a wheel, installed into a fresh virtual
environment outside the repository, and lessons executed from a folder with no repository around,
offline, in CI mode. Runs in `make test` (it is a plain test of tests/).

The wheel (conftest's `wheel`) and the fresh environment (tests/wheel_env.py) are shared with
tests/test_space.py: the environment reuses this one's torch, Jupyter and friends, so the test costs
seconds of installing, not gigabytes. vit_lessons itself comes only from the wheel.
"""

import shutil
import subprocess
import zipfile
from pathlib import Path

from wheel_env import fresh_venv, offline_env

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ["00_setup_and_data", "05_vision_transformer", "06_training"]

# Executed inside the fresh environment: each lesson with nbclient, the kernel being that environment's
# python (nbclient's python3 kernel runs sys.executable).
_RUNNER = """
import sys, time
import nbformat
from nbclient import NotebookClient
probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import sys, vit_lessons; print('kernel:', sys.executable, vit_lessons.__file__)")])
NotebookClient(probe, timeout=120, kernel_name="python3").execute()
print(probe.cells[0].outputs[0]["text"].strip(), flush=True)
for name in sys.argv[1:]:
    t = time.perf_counter()
    nb = nbformat.read(name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
    nbformat.write(nb, name)
    print(f"{name}: executed in {time.perf_counter() - t:.0f} s", flush=True)
"""

# What the fresh environment reports about where vit_lessons and its assets come from.
_WHERE = """
import vit_lessons, vit_lessons.assets as A
from importlib import metadata
print(vit_lessons.__file__)
print(A.asset_path("checkpoints/fashion_mnist_vit.pt"))
print(A.asset_path("results/fashion_mnist_10min/summary.json"))
print(A.repo_url())
print(metadata.distribution("vit-lessons").locate_file("vit_lessons/__init__.py"))
"""


def test_wheel_ships_the_package_and_every_asset(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "assets"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert tracked, "git ls-files found no assets/"
    missing = [a for a in tracked if "vit_lessons/_" + a not in names]
    assert not missing, f"assets missing from the wheel: {missing} (pyproject [tool.setuptools.package-data])"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vit_lessons").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert not modules - names, f"modules missing from the wheel: {sorted(modules - names)}"
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "assets/"))]
    size = wheel.stat().st_size
    assert size < 20e6, f"the wheel is {size / 1e6:.1f} MB: keep large files out of assets/"


def test_lessons_run_from_the_wheel_outside_the_repository(wheel, tmp_path):
    py = fresh_venv(tmp_path, wheel)
    work = tmp_path / "content"  # Colab's working folder: the notebook and nothing else
    work.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = offline_env(home)

    where = subprocess.run([py, "-c", _WHERE], cwd=work, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    pkg, ckpt, summary, repo, dist_file = where.stdout.splitlines()
    venv = str(tmp_path / "venv")
    assert pkg.startswith(venv), f"vit_lessons was imported from {pkg}, not from the wheel in {venv}"
    assert str(ROOT) not in pkg + ckpt + summary + dist_file
    assert ckpt.startswith(venv) and summary.startswith(venv), "assets must come from the package data"
    assert repo.startswith("https://github.com/"), repo  # from the installed metadata: no pyproject here

    for name in LESSONS:
        shutil.copy2(ROOT / "notebooks" / f"{name}.ipynb", work / f"{name}.ipynb")
    run = subprocess.run([py, "-c", _RUNNER, *(f"{n}.ipynb" for n in LESSONS)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=900)
    print(run.stdout)
    assert run.returncode == 0, f"a lesson failed outside the repository:\n{run.stdout}\n{run.stderr[-6000:]}"
    kernel = next(line for line in run.stdout.splitlines() if line.startswith("kernel:")).split()
    assert kernel[1].startswith(venv) and kernel[2].startswith(venv), f"the lessons ran in another kernel: {kernel}"
    assert not list((home / ".cache").glob("vit_lessons/assets/**/*.*")), "a lesson downloaded an asset"
