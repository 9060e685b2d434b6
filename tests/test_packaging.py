"""Set-up files agree with each other: pyproject, environment.yml, README, Makefile, .ci/run."""

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import vit_lessons

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    proj = _pyproject()["project"]
    wanted = set(map(_norm, proj["dependencies"]))
    for extra in proj["optional-dependencies"].values():
        wanted |= set(map(_norm, extra))
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    listed = {_norm(m) for m in re.findall(r"^\s+-\s+(\S.*)$", pip_section, flags=re.M)} - {"-e."}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    py = re.search(r"python>=([\d.]+)", text).group(1)
    assert _pyproject()["project"]["requires-python"] == f">={py}"


def test_torch_ranges_accept_this_machine_and_colab():
    deps = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0]: d for d in _pyproject()["project"]["dependencies"]}
    # no upper pins and no floor above what Colab images have carried since 2024 (torch 2.1+)
    assert deps["torch"] == "torch>=2.1" and deps["torchvision"] == "torchvision>=0.16"


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", readme, flags=re.S)
    setup = [b for b in blocks if "make lab" in b or "make test" in b]
    assert setup, "README must show the set-up commands in a bash block"
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run must run the README's test command"
    assert "dataset-fashion-mnist" in ci


def test_makefile_targets_exist():
    mk = (ROOT / "Makefile").read_text()
    for target in ("lab:", "test:", "setup:", "data:", "lint:", "pytest:"):
        assert re.search(rf"^{target}", mk, flags=re.M), target
    assert "--nbval notebooks" in mk  # every notebook, no list to keep up to date


def test_package_imports_and_version():
    assert vit_lessons.__version__ == _pyproject()["project"]["version"]
    assert {"ViTConfig", "VisionTransformer", "count_params"} <= set(vit_lessons.__all__)
    assert all(hasattr(vit_lessons, name) for name in vit_lessons.__all__)


def test_cli_data_command():
    out = subprocess.run([sys.executable, "-m", "vit_lessons", "data", "--dataset", "digits"],
                         capture_output=True, text=True, check=True).stdout
    assert "digits: train (1438, 1, 8, 8)" in out
    bad = subprocess.run([sys.executable, "-m", "vit_lessons", "data", "--dataset", "mnist"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'mnist'" in bad.stderr
