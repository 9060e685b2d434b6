"""bench cpu-kernels: every variant timed in turn, and the caller's thread count given back."""

import pytest
import torch

from vit_lessons.bench.cpu_kernels import KERNEL_VARIANTS, cpu_kernels

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_cpu_kernels_times_every_variant_in_turn(tmp_path):
    threads = torch.get_num_threads()
    r = cpu_kernels(threads=(1,), rounds=2, steps=2, out=tmp_path)
    assert torch.get_num_threads() == threads  # the caller's setting is given back
    assert [row["variant"] for row in r["rows"]] == [v.name for v in KERNEL_VARIANTS]
    assert all(len(row["all_images_per_s"]) == 2 and row["images_per_s"] > 0 for row in r["rows"])
    assert r["rows"][0]["vs_first"] == 1.0 and r["model"]["patch_size"] == 7
    assert "| 1 | explicit attention, foreach AdamW" in (tmp_path / "README.md").read_text()
