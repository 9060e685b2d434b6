"""The command line: help, train, eval, resume after SIGKILL, and clear errors for bad checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vit_lessons.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--embed-dim", "32", "--depth", "2", "--num-heads", "2", "--no-progress"]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def cli(*args, timeout=120):
    """Run ``python -m vit_lessons ...`` in a fresh process; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vit_lessons", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_help_reads_like_documentation(capsys):
    for cmd, words in (("train", ["--time-budget", "--resume", "torchrun", "metrics.jsonl", "--label-smoothing"]),
                       ("eval", ["confusion matrix"]), ("bench", ["fashion-mnist-10min", "ablations"])):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        for w in words:
            assert w in out, (cmd, w)


def test_train_then_eval(tmp_path, capsys):
    assert main(["train", *TINY, "--epochs", "2", "--out", str(tmp_path), "--exp-name", "d"]) == 0
    out = capsys.readouterr().out
    assert "[epoch  2.00] train loss" in out and "|INFO]" in out and "test loss" in out
    run = tmp_path / "d"
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    assert main(["eval", str(run / "last.pt")]) == 0
    out = capsys.readouterr().out
    acc = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["test_acc"]
    assert f"test accuracy {acc:.4f}" in out
    assert "true \\ predicted" in out and len(out.splitlines()) > 10
    # the same name again, without --resume: refused, and the run already there is left exactly as it was
    before = {f: (run / f).read_bytes() for f in ("last.pt", "best.pt", "metrics.jsonl", "config.json")}
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--exp-name", "d"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {f: (run / f).read_bytes() for f in before} == before
    # --overwrite starts afresh: nothing of the old run is mixed into the new one
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--exp-name", "d", "--overwrite"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((run / "config.json").read_text())["recipe"]["epochs"] == 1


def test_bad_checkpoints_are_clear_errors_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    p = cli("eval", str(bad))
    assert p.returncode != 0
    assert "corrupt or truncated" in p.stderr and "Traceback" not in p.stderr
    # a checkpoint of another configuration, resumed with different options
    run = tmp_path / "runs"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(run), "--exp-name", "x"]) == 0
    p = cli("train", *TINY[:-5], "--embed-dim", "48", "--depth", "2", "--num-heads", "2", "--no-progress",
            "--epochs", "1", "--out", str(run), "--exp-name", "x", "--resume")
    assert p.returncode != 0
    assert "another configuration" in p.stderr and "embed_dim: 32 in the checkpoint vs 48 now" in p.stderr
    assert "Traceback" not in p.stderr
    p = cli("train", *TINY, "--out", str(run), "--exp-name", "nothing-here", "--resume")
    assert p.returncode != 0 and "no checkpoint" in p.stderr and "Traceback" not in p.stderr


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    args = [*TINY, "--epochs", "12", "--batch-size", "32", "--seed", "5", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vit_lessons", "train", *args, "--exp-name", "killed"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 90
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)  # somewhere inside the next epoch
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len((tmp_path / "killed" / "metrics.jsonl").read_text().splitlines())
    assert done < 12
    p = cli("train", *args, "--exp-name", "killed", "--resume")
    assert p.returncode == 0, p.stderr
    assert "resumed from" in p.stdout
    p = cli("train", *args, "--exp-name", "straight")
    assert p.returncode == 0, p.stderr
    a = [json.loads(s) for s in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(s) for s in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert len(a) == len(b) == 12
    for k in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "step"):
        assert [r[k] for r in a] == [r[k] for r in b], k
    wa = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    for k in wb:
        torch.testing.assert_close(wa[k], wb[k], atol=0, rtol=0)


def test_bench_gpu_commands_on_a_cpu(tmp_path, capsys):
    from vit_lessons.bench import _median_time, cifar_epoch_time, time_to

    if not torch.cuda.is_available():
        assert main(["bench", "gpu-fashion-mnist"]) == 2
        assert "no CUDA GPU here" in capsys.readouterr().err
    # the CIFAR-10 epoch-time benchmark's code path, on a few synthetic images
    r = cifar_epoch_time(steps=7, device="cpu", out=tmp_path, batch_size=8, n_images=64)
    assert r["steps_per_epoch"] == 8 and r["epoch_seconds"] > 0 and (tmp_path / "cpu.json").exists()
    assert r["model"]["embed_dim"] == 384 and r["recipe"]["erase"] > 0
    hist = [{"test_acc": 0.5, "train_time": 1.0}, {"test_acc": 0.86, "train_time": 2.0}]
    assert time_to(hist, 0.85) == 2.0 and time_to(hist, 0.9) is None
    # a run that never reached the target is slower than every run that did: it is not left out of the median
    assert _median_time([None, None, 600.0]) is None and _median_time([None, 250.0, 600.0]) == 600.0
    assert _median_time([250.0, 100.0, 600.0]) == 250.0 and _median_time([100.0, 200.0]) == 150.0
    assert _median_time([100.0, None]) is None and _median_time([]) is None


def test_bench_cpu_kernels_times_every_variant_in_turn(tmp_path):
    from vit_lessons.bench import KERNEL_VARIANTS, cpu_kernels

    threads = torch.get_num_threads()
    r = cpu_kernels(threads=(1,), rounds=2, steps=2, out=tmp_path)
    assert torch.get_num_threads() == threads  # the caller's setting is given back
    assert [row["variant"] for row in r["rows"]] == list(KERNEL_VARIANTS)
    assert all(len(row["all_images_per_s"]) == 2 and row["images_per_s"] > 0 for row in r["rows"])
    assert r["rows"][0]["vs_first"] == 1.0 and r["model"]["patch_size"] == 7
    assert "| 1 | explicit attention, foreach AdamW" in (tmp_path / "README.md").read_text()


def test_bench_side_by_side_pins_each_recipe_to_its_own_core(tmp_path):
    from vit_lessons.bench import fashion_mnist_10min
    from vit_lessons.data import DatasetNotFoundError, load_dataset

    try:
        load_dataset("fashion-mnist", download=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not on this machine")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPU cores")
    s = fashion_mnist_10min(seeds=(0,), budget=1.0, out=tmp_path / "res", runs_dir=tmp_path / "runs",
                            evals_per_epoch=1, side_by_side=True)
    runs = [json.loads(x) for x in (tmp_path / "res" / "runs.jsonl").read_text().splitlines()]
    assert [r["name"] for r in runs] == ["ours", "tintn"] and all(r["side_by_side"] for r in runs)
    cores = [r["cpu_affinity"] for r in runs]
    assert all(len(c) == 1 for c in cores) and cores[0] != cores[1], cores
    assert all(1.0 <= r["train_time"] < 30 for r in runs)
    assert s["side_by_side"] and "own core" in s["how"] and s["machine"]["torch_threads"] == 1
    assert "own core" in (tmp_path / "res" / "README.md").read_text()
    assert (tmp_path / "res" / "ours_seed0.metrics.jsonl").exists()


def test_every_recipe_switch_reaches_the_setup():
    from vit_lessons.__main__ import _load_extras, build_parser
    from vit_lessons.train import setup_from_args

    _load_extras()
    parse = build_parser().parse_args
    cfg, r = setup_from_args(parse(["train"]))  # the defaults: the CPU recipe of lesson 06
    assert (cfg.patch_size, cfg.embed_dim, cfg.pos_embed, r.init, r.crop_pad, r.flip) == (7, 64, "sincos2d",
                                                                                         "mimetic", 0, False)
    cfg, r = setup_from_args(parse(["train", "--pos-embed", "learned", "--init", "timm", "--crop-pad", "2",
                                    "--flip", "on", "--pool", "mean", "--embed-dim", "96"]))
    assert (cfg.pos_embed, cfg.pool, cfg.embed_dim, r.init, r.crop_pad, r.flip) == ("learned", "mean", 96, "timm",
                                                                                   2, True)
