"""The command line: help, train, eval, resume after SIGKILL, and clear errors for bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import vit_lessons.cli as cli_module
from vit_lessons.bench.report import Benchmark, add_options
from vit_lessons.cli import BENCHMARKS, build_parser, main, setup_from_args

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--embed-dim", "32", "--depth", "2", "--num-heads", "2", "--no-progress"]

pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*args, timeout=120):
    """Run ``python -m vit_lessons ...`` in a fresh process; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vit_lessons", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_help_reads_like_documentation(capsys):
    for cmd, words in (("train", ["--time-budget", "--resume", "torchrun", "metrics.jsonl", "--label-smoothing",
                                  "every --save-every minutes inside an epoch", "--save-every MINUTES"]),
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
    # best.pt and last.pt count epochs as metrics.jsonl does (best.pt is written during an evaluation)
    assert "after 2 epochs" in out
    records = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["test_acc"])["epoch"]
    assert main(["eval", str(run / "best.pt")]) == 0
    assert f"after {best:g} epoch{'' if best == 1 else 's'}," in capsys.readouterr().out
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
    bad.write_text("hello world\n")
    p = cli("eval", str(bad))
    assert p.returncode != 0
    assert "not a file torch.save writes (it starts with b'hell'" in p.stderr and "Traceback" not in p.stderr
    assert "Error" not in p.stderr  # the message says what is wrong, not which exception torch raised inside
    cut = tmp_path / "cut.pt"
    cut.write_bytes((ROOT / "assets" / "checkpoints" / "fashion_mnist_vit.pt").read_bytes()[:5000])
    p = cli("eval", str(cut))
    assert p.returncode == 2 and "is cut off or damaged (5,000 bytes" in p.stderr
    assert "Error" not in p.stderr and "miniz" not in p.stderr
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
    """Killed in the middle of an epoch (last.pt written there by --save-every), resumed: bit for bit the same."""
    args = [*TINY, "--epochs", "12", "--batch-size", "32", "--seed", "5", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vit_lessons", "train", *args, "--exp-name", "killed",
                             "--save-every", "0.0001"],  # last.pt every 6 ms: after almost every step
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "last.pt"
    spe = (1438 - 120) // 32  # steps per epoch: the digits' training images less the validation split, whole batches
    deadline = time.time() + 120
    killed_at = None
    while killed_at is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        if not last.exists():
            continue
        proc.send_signal(signal.SIGSTOP)  # frozen: last.pt cannot change while we look at it
        step = torch.load(last, weights_only=True)["step"]
        if step > spe and step % spe:  # inside the second epoch or later, not at an epoch's end
            proc.send_signal(signal.SIGKILL)
            killed_at = step
        else:
            proc.send_signal(signal.SIGCONT)
    proc.wait()
    assert killed_at is not None, "the run finished (or hung) before it could be killed mid-epoch"
    done = len((tmp_path / "killed" / "metrics.jsonl").read_text().splitlines())
    assert done < 12
    p = cli("train", *args, "--exp-name", "killed", "--resume")
    assert p.returncode == 0, p.stderr
    assert f"at epoch {killed_at / spe:.2f} (step {killed_at}," in p.stdout
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


def test_training_into_a_file_or_pipe_logs_progress_inside_an_epoch(tmp_path, capsys):
    # stderr is not a terminal here (captured), as when the output goes to a file: no bar, log lines instead
    args = [*TINY[:-1], "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path)]
    assert main(["train", *args, "--exp-name", "piped"]) == 0
    lines = [s for s in capsys.readouterr().out.splitlines() if "steps) | train loss" in s]
    assert len(lines) == 19 and "epoch 1:   7% (3/41 steps) | train loss" in lines[0], lines[:2]  # every 5%
    assert "epoch 1:  95% (39/41 steps)" in lines[-1] and "s/step, about" in lines[-1]
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--exp-name", "quiet"]) == 0
    assert "steps) | train loss" not in capsys.readouterr().out  # --no-progress: neither


def test_every_recipe_switch_reaches_the_setup():
    parse = build_parser().parse_args
    cfg, r = setup_from_args(parse(["train"]))  # the defaults: the CPU recipe of lesson 06
    assert (cfg.patch_size, cfg.embed_dim, cfg.pos_embed, r.init, r.crop_pad, r.flip) == (7, 64, "sincos2d",
                                                                                         "mimetic", 0, False)
    cfg, r = setup_from_args(parse(["train", "--pos-embed", "learned", "--init", "timm", "--crop-pad", "2",
                                    "--flip", "on", "--pool", "mean", "--embed-dim", "96"]))
    assert (cfg.pos_embed, cfg.pool, cfg.embed_dim, r.init, r.crop_pad, r.flip) == ("learned", "mean", 96, "timm",
                                                                                   2, True)
    # every Recipe field has its flag; values are checked as typed
    _, r = setup_from_args(parse(["train", "--beta2", "0.95", "--amp", "off", "--time-budget", "30", "--erase", "0.5"]))
    assert (r.beta2, r.amp, r.time_budget, r.erase) == (0.95, False, 30.0, 0.5)
    _, r = setup_from_args(parse(["train", "--dataset", "cifar10", "--no-augment"]))
    assert (r.crop_pad, r.flip, r.erase) == (0, False, 0.0)


@pytest.mark.parametrize("argv, message", [
    (["train", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["train", "--lr", "-1"], "--lr must be a positive number, got -1"),
    (["train", "--lr", "fast"], "--lr must be a number, got 'fast'"),
    (["train", "--warmup", "1.5"], r"--warmup must be a number in [0, 1), got 1.5"),
    (["train", "--flip", "maybe"], "--flip must be on or off, got 'maybe'"),
    (["train", "--depth", "0"], "--depth must be a positive integer, got 0"),
    (["train", "--schedule", "step"], "argument --schedule: invalid choice: 'step'"),
    (["eval", "x.pt", "--batch-size", "-5"], "--batch-size must be a positive integer, got -5"),
    (["train", "--save-every", "-1"], "--save-every must be 0 or more minutes, got -1"),
    (["train", "--save-every", "often"], "--save-every must be a number, got 'often'"),
    (["bench", "cpu-kernels", "--seeds", "0"], "unrecognized arguments: --seeds 0"),
])
def test_bad_flags_name_the_flag_and_the_value_typed(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_data_without_download_says_what_to_do_on_the_command_line(tmp_path):
    p = cli("data", "--dataset", "cifar10", "--root", str(tmp_path), "--no-download")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "lacks" in p.stderr and "--no-download" in p.stderr and "download=True" not in p.stderr


def test_every_benchmark_is_a_command_with_its_own_flags(capsys):
    parse = build_parser().parse_args
    assert [b.name for b in BENCHMARKS] == ["fashion-mnist-10min", "ablations", "gpu-fashion-mnist",
                                            "cifar-epoch-time", "cpu-kernels", "speed", "small-data",
                                            "transfer-digits", "explain", "mae"]
    a = parse(["bench", "fashion-mnist-10min", "--seeds", "0", "1", "--threads", "2", "--evals-per-epoch", "1",
               "--checkpoint", "x.pt", "--side-by-side"])
    assert (a.benchmark.name, a.seeds, a.torch_threads, a.evals_per_epoch, a.budget) == ("fashion-mnist-10min",
                                                                                        [0, 1], 2, 1, 600.0)
    a = parse(["bench", "ablations", "--epochs", "2", "--seeds", "0", "--only", "no label smoothing"])
    assert (a.epochs, a.seeds, a.only, a.budget) == (2, [0], ["no label smoothing"], 120.0)
    a = parse(["notebooks", "execute", "notebooks/01_patches.py"])
    assert a.task == "execute" and a.paths == [Path("notebooks/01_patches.py")]
    assert parse(["notebooks", "sync-repo"]).task == "sync-repo"


def test_a_benchmark_plugs_in_with_its_commands(monkeypatch, capsys):
    """What `bench` does with a Benchmark: its own flags, --threads, its result, its errors."""
    seen = []

    def run(args):
        seen.append((args.size, torch.get_num_threads()))
        if args.size < 0:
            raise ValueError("--size must not be negative")
        return {"summary": "a benchmark may return its results"}

    fake = Benchmark("fake", "a test benchmark", lambda p: (add_options(p, None), p.add_argument("--size", type=int)),
                     run)
    monkeypatch.setattr(cli_module, "BENCHMARKS", (*BENCHMARKS, fake))
    assert main(["bench", "fake", "--size", "3", "--threads", "2"]) == 0
    assert seen == [(3, 2)]  # --threads set before the benchmark ran (one_thread had set 1)
    assert main(["bench", "fake", "--size", "-1"]) == 2
    assert "error: --size must not be negative" in capsys.readouterr().err


def test_app_command_is_wired_and_checks_its_checkpoint_before_serving(capsys):
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)
    assert main(["app", "--checkpoint", "/no/such/checkpoint.pt"]) == 2
    assert "does not exist" in capsys.readouterr().err
