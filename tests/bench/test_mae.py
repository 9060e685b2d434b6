"""bench mae end to end in seconds, on a small synthetic Fashion-MNIST-shaped set."""

import json

import pytest

from vit_lessons.bench.mae import VARIANTS, mae_race, pretrain_setup, route_setup
from vit_lessons.bench.mae_report import gaps, race_rows
from vit_lessons.bench.runs import synthetic
from vit_lessons.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
ANY_LOAD = {"max_load": float("inf"), "min_cpu_share": 0.0}  # the suite shares the machine


def test_race_counts_pretraining_inside_every_budget_and_pairs_seeds(tmp_path):
    data = synthetic("fashion-mnist", 300)
    out = tmp_path / "res"
    s = mae_race(seeds=[0], budget=4.0, pretrain_budget=2.0, labels=(70, 0), out=out, runs_dir=tmp_path / "runs",
                 data=data, **ANY_LOAD)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    by = {(r["route"], r["labels"]): r for r in runs}
    assert set(by) == {("pretrain", -1), ("finetune", 70), ("finetune", 0), ("scratch", 70), ("scratch", 0)}
    pre = by[("pretrain", -1)]
    for n in (70, 0):
        ft, sc = by[("finetune", n)], by[("scratch", n)]
        assert ft["recipe"]["time_budget"] == pytest.approx(4.0 - pre["train_time"])  # pretraining counted
        assert sc["recipe"]["time_budget"] == 4.0
        assert ft["recipe"]["init_from"].endswith("best.pt") and not sc["recipe"]["init_from"]
        assert ft["recipe"]["train_size"] == sc["recipe"]["train_size"] == n
    assert set(pre["probes"]) == {"70", "0"} and all(0 <= p["test_acc"] <= 1 for p in pre["probes"].values())
    rows = race_rows(runs)
    assert {(r["route"], r["labels"]) for r in rows} == {(a, n) for a in ("scratch", "finetune", "probe")
                                                         for n in (70, 0)}
    assert set(gaps(runs)) == {70, 0}
    readme = (out / "README.md").read_text()
    assert "MAE + fine-tune" in readme and "from scratch" in readme and "load" in readme and s["chose"] is False
    again = mae_race(seeds=[0], budget=4.0, pretrain_budget=2.0, labels=(70, 0), out=out, runs_dir=tmp_path / "runs",
                     data=data, **ANY_LOAD)  # every finished run is reused
    assert again["date"] != "" and (out / "runs.jsonl").read_text().count("\n") == len(runs)


def test_choose_compares_designs_on_validation_only(tmp_path):
    data = synthetic("fashion-mnist", 300)
    out = tmp_path / "choose"
    mae_race(budget=4.0, pretrain_budget=1.0, labels=(70,), choose=True, out=out, runs_dir=tmp_path / "runs",
             data=data, **ANY_LOAD)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["variant"] for r in runs) == sorted(VARIANTS) and all(r["route"] == "pretrain" for r in runs)
    readme = (out / "README.md").read_text()
    assert "validation" in readme and "test" not in readme.split("|")[-1]
    assert all(f"| {v} |" in readme for v in VARIANTS)


def test_setups_and_bad_options():
    cfg, r = pretrain_setup("p4-mask75", 60)
    assert cfg.patch_size == 4 and r.pretrain == "mae" and r.time_budget == 60 and r.mask_ratio == 0.75
    cfg, r = route_setup("p7-mask75", 600, 100)
    assert cfg.name == "fashion_mnist_cpu" and r.train_size == 600 and r.flip and r.pretrain == "none"
    assert not route_setup("p7-mask75", 0, 100)[1].flip  # all labels: the course recipe as it is
    with pytest.raises(ValueError, match="pretrain-budget"):
        mae_race(budget=10, pretrain_budget=20)
    assert main(["bench", "mae", "--budget", "10", "--pretrain-budget", "20"]) == 2
