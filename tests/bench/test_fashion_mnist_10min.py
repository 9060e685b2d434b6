"""bench fashion-mnist-10min: both recipes side by side, each pinned to its own core."""

import json
import os

import pytest

from vit_lessons.bench.fashion_mnist_10min import fashion_mnist_10min


def test_bench_side_by_side_pins_each_recipe_to_its_own_core(tmp_path, fashion_mnist):
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
