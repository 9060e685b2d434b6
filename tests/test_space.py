"""The attention explorer as a Hugging Face Space (`python -m vit_lessons app --export-space DIR`): the folder's
front matter, app.py, pinned requirements and checkpoint; then the folder run as Spaces would run it, from a fresh
virtual environment where the requirements' own package is the wheel built from this tree, offline, answering
/predict through gradio_client.
"""

import contextlib
import re
import socket
import subprocess
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
from wheel_env import fresh_venv, offline_env, pip_install

from vit_lessons.assets import repo_url
from vit_lessons.cli import main

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "assets" / "checkpoints" / "fashion_mnist_vit.pt"
PHOTO = ROOT / "assets" / "chelsea_224.jpg"  # a colour photo: the app converts it, as it would a visitor's upload
START_S = 300  # importing torch and gradio on a busy 2-core machine, in a cold environment

gradio = pytest.importorskip("gradio", reason="the Space needs the app extra: pip install -e '.[app]'")


def front_matter(readme: str) -> dict[str, str]:
    """The YAML front matter of a Space's README.md as flat key: value strings."""
    m = re.match(r"---\n(.*?)\n---\n", readme, flags=re.S)
    assert m, "README.md must start with front matter between --- lines"
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in m.group(1).splitlines())}


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "space"
    assert main(["app", "--export-space", str(out)]) == 0
    return out


def test_export_writes_a_space_to_push_as_it_is(space):
    assert sorted(p.name for p in space.iterdir()) == ["README.md", "app.py", CKPT.name, "requirements.txt"]
    meta = front_matter((space / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__  # the version the tests ran
    assert meta["app_file"] == "app.py" and meta["license"] == "mit" and meta["title"]
    assert len(meta["short_description"]) <= 60  # Spaces' limit
    assert (space / CKPT.name).read_bytes() == CKPT.read_bytes()
    compile((space / "app.py").read_text(encoding="utf-8"), "app.py", "exec")

    lines = [ln for ln in (space / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert re.fullmatch(rf"vit-lessons @ git\+{re.escape(repo_url())}@([0-9a-f]{{40}}|main)", lines[0]), lines[0]
    pins = dict(ln.split("==") for ln in lines[1:])
    assert {"torch", "gradio", "timm", "grad-cam"} <= set(pins)
    for name, version in pins.items():  # each one the version installed here, where the tests run
        assert metadata.version(name).split("+")[0] == version, name


def test_export_refuses_a_folder_with_files_and_a_bad_checkpoint(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["app", "--export-space", str(tmp_path / "taken")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["app", "--export-space", str(tmp_path / "new"), "--checkpoint", str(tmp_path / "no.pt")]) == 2
    assert "no.pt does not exist" in capsys.readouterr().err and not (tmp_path / "new").exists()


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited with status {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"app.py did not answer on {url} within {seconds:.0f} s")


def test_exported_space_answers_predict_from_a_fresh_venv(space, wheel, tmp_path):
    gradio_client = pytest.importorskip("gradio_client")
    from vit_lessons.app_input import read_upload
    from vit_lessons.app_logic import load_explorer, predict

    # the requirements as written, the course package taken from the wheel instead of the repository
    reqs = (space / "requirements.txt").read_text().splitlines()
    local = tmp_path / "requirements-local.txt"
    local.write_text("\n".join(f"vit-lessons @ {wheel.as_uri()}" if r.startswith("vit-lessons @") else r
                               for r in reqs) + "\n")
    py = fresh_venv(tmp_path)
    pip_install(py, "-r", str(local))  # no index: every pinned version must be the one installed here
    home = tmp_path / "home"
    home.mkdir()
    env = offline_env(home)
    where = subprocess.run([py, "-c", "import vit_lessons; print(vit_lessons.__file__)"], cwd=space, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), f"vit_lessons came from {where}, not the wheel"

    port = _free_port()
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")  # the server checks itself locally
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([py, "app.py"], cwd=space, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_for(url, proc, START_S)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{log.read_text()[-4000:]}") from None
        got = gradio_client.Client(url, verbose=False).predict(gradio_client.handle_file(PHOTO), api_name="/predict")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    ex = load_explorer(CKPT)
    cfg = ex.model.config
    want = predict(ex, read_upload(PHOTO, img_size=cfg.img_size, in_chans=cfg.in_chans, dataset=ex.dataset)[0])
    assert got["label"] == next(iter(want))
    assert [c["label"] for c in got["confidences"]] == list(want)
    assert [round(c["confidence"], 5) for c in got["confidences"]] == [round(v, 5) for v in want.values()]
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]
