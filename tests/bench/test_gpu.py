"""The GPU benchmarks' code paths, on a CPU."""

import pytest
import torch

from vit_lessons.bench.gpu import cifar_epoch_time
from vit_lessons.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_gpu_commands_on_a_cpu(tmp_path, capsys):
    if not torch.cuda.is_available():
        assert main(["bench", "gpu-fashion-mnist"]) == 2
        assert "no CUDA GPU here" in capsys.readouterr().err
    # the CIFAR-10 epoch-time benchmark's code path, on a few synthetic images
    r = cifar_epoch_time(steps=7, device="cpu", out=tmp_path, batch_size=8, n_images=64)
    assert r["steps_per_epoch"] == 8 and r["epoch_seconds"] > 0 and (tmp_path / "cpu.json").exists()
    assert r["model"]["embed_dim"] == 384 and r["recipe"]["erase"] > 0
