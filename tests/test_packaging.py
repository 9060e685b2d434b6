"""Set-up files agree with each other: pyproject, environment.yml, README, Makefile, .ci/run; the package lists
all its parts and finds its assets in a clone, installed, cached or (once) downloaded. The wheel itself is
built and tried outside the repository in tests/test_colab.py."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject lists the packages (so assets/ can ride along as vit_lessons._assets): none may be missed."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vit_lessons").rglob("__init__.py")}
    assert found - listed == set(), f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == {"vit_lessons._assets": "assets"}


def test_asset_path_finds_assets_in_a_clone_and_in_the_package(tmp_path, monkeypatch):
    from vit_lessons import assets, lesson, viz

    assert not hasattr(viz, "asset_path") and not hasattr(lesson, "asset_path")  # one home: vit_lessons.assets
    assert assets.asset_path("chelsea_224.jpg") == ROOT / "assets" / "chelsea_224.jpg"
    assert assets.asset_path("results/fashion_mnist_10min").is_dir()  # folders too, to list or glob
    # installed from a wheel: no clone around, the files shipped in vit_lessons/_assets
    monkeypatch.setattr(assets, "ROOT", tmp_path / "site-packages")
    shipped = tmp_path / "site-packages" / "vit_lessons" / "_assets"
    (shipped / "checkpoints").mkdir(parents=True)
    (shipped / "checkpoints" / "m.pt").write_bytes(b"weights")
    monkeypatch.setattr(assets, "PACKAGED_ASSETS", shipped)
    assert assets.asset_path("checkpoints/m.pt") == shipped / "checkpoints" / "m.pt"


def test_asset_path_offline_says_what_is_missing_and_keeps_no_half_file(tmp_path, monkeypatch):
    from vit_lessons import assets

    monkeypatch.setattr(assets, "ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(assets, "PACKAGED_ASSETS", tmp_path / "site-packages" / "vit_lessons" / "_assets")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(url, timeout):
        assert url == f"{assets.repo_url()}/raw/main/assets/results/new/summary.json" and timeout > 0
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(assets.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match=r"assets/results/new/summary.json is not in .*could not be "
                                                r"downloaded \(Temporary failure in name resolution\)"):
        assets.asset_path("results/new/summary.json")
    assert not list((tmp_path / "cache").rglob("*.*"))
    # a file fetched once is kept in the cache and found there next time, without the network
    cached = tmp_path / "cache" / "vit_lessons" / "assets" / "results" / "new" / "summary.json"
    cached.parent.mkdir(parents=True)
    cached.write_text("{}")
    assert assets.asset_path("results/new/summary.json") == cached
    for bad in ("../pyproject.toml", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="must be a path inside assets/"):
            assets.asset_path(bad)


def test_asset_path_download_is_written_whole(tmp_path, monkeypatch):
    from vit_lessons import assets

    monkeypatch.setattr(assets, "ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(assets, "PACKAGED_ASSETS", tmp_path / "nowhere")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(assets.urllib.request, "urlopen", lambda url, timeout: Response(b"jpeg bytes"))
    got = assets.asset_path("new_photo.jpg")
    assert got.read_bytes() == b"jpeg bytes" and got.parent == tmp_path / "cache" / "vit_lessons" / "assets"
    assert [p.name for p in got.parent.iterdir()] == ["new_photo.jpg"]  # no .part file left behind
