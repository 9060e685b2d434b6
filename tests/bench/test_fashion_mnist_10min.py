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


def test_a_finished_run_is_reused_only_for_the_same_model_recipe_and_weights(tmp_path):
    from vit_lessons.bench.budgeted import contestant_medians, reusable
    from vit_lessons.train import default_setup

    cfg, recipe = default_setup("fashion-mnist", time_budget=60.0)
    prev = {"recipe": recipe.to_dict(), "model": cfg.to_dict(), "run_dir": str(tmp_path)}
    assert not reusable(prev, cfg, recipe)  # no last.pt: the weights are gone, train again
    (tmp_path / "last.pt").write_bytes(b"weights")
    assert reusable(prev, cfg, recipe) and not reusable(None, cfg, recipe)
    longer = default_setup("fashion-mnist", time_budget=120.0)[1]
    assert not reusable(prev, cfg, longer) and not reusable(prev, cfg.replace(depth=cfg.depth + 1), recipe)
    with pytest.raises(ValueError, match="no finished run"):
        contestant_medians([])


def test_both_budgeted_benchmarks_take_the_same_flags():
    from vit_lessons.cli import build_parser

    p = build_parser()
    for name, runs_dir, evals in (("fashion-mnist-10min", "experiments/bench", 2),
                                  ("small-data", "experiments/small_data", 1)):
        a = p.parse_args(["bench", name])
        assert (a.budget, a.seeds, str(a.runs_dir), a.evals_per_epoch) == (600.0, [0, 1, 2], runs_dir, evals)
        a = p.parse_args(["bench", name, "--runs-dir", "elsewhere", "--evals-per-epoch", "3"])
        assert (str(a.runs_dir), a.evals_per_epoch) == ("elsewhere", 3)
