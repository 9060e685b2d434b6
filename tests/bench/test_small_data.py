"""bench small-data end to end in seconds: every route on a small synthetic Fashion-MNIST-shaped set."""

import json

import pytest

from vit_lessons.bench.runs import synthetic
from vit_lessons.bench.small_data import ROUTES, route_setup, small_data
from vit_lessons.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
# a test suite shares the machine: the race's fairness rule is tested on its own (test_unfair_runs_...)
ANY_LOAD = {"max_load": float("inf"), "min_cpu_share": 0.0}


def test_every_route_runs_and_the_teacher_time_is_counted(tmp_path):
    data = synthetic("fashion-mnist", 256)
    out = tmp_path / "res"
    s = small_data(seeds=[0], budget=6.0, teacher_budget=1.0, out=out, runs_dir=tmp_path / "runs", data=data,
                   **ANY_LOAD)
    assert set(s["routes"]) == {"teacher", *ROUTES}
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    teacher = next(r for r in runs if r["name"] == "teacher")
    for r in runs:
        if r["name"].startswith("distill-"):
            assert r["teacher_time"] == teacher["train_time"]
            assert r["recipe"]["time_budget"] == pytest.approx(6.0 - teacher["train_time"])
            assert r["recipe"]["teacher"].endswith("teacher-seed0/last.pt")
    readme = (out / "README.md").read_text()
    assert "| distill-token |" in readme and "load" in readme
    # a second call reuses every finished run
    again = small_data(seeds=[0], budget=6.0, teacher_budget=1.0, out=out, runs_dir=tmp_path / "runs", data=data,
                   **ANY_LOAD)
    assert again["routes"]["vit"]["accs"] == s["routes"]["vit"]["accs"]
    # a call for one route keeps the other routes' results in the table
    one = small_data(seeds=[0], budget=6.0, routes=["cnn"], out=out, runs_dir=tmp_path / "runs", data=data,
                   **ANY_LOAD)
    assert set(one["routes"]) == set(s["routes"]) and "| vit-lsa |" in (out / "README.md").read_text()


def test_bad_options_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown routes"):
        small_data(routes=["resnet"], out=tmp_path)
    with pytest.raises(ValueError, match="teacher-budget"):
        small_data(budget=10, teacher_budget=20, out=tmp_path)
    with pytest.raises(ValueError, match="unknown route"):
        route_setup("resnet", 10)
    assert main(["bench", "small-data", "--budget", "10", "--teacher-budget", "20", "--out", str(tmp_path)]) == 2
    assert "teacher-budget" in capsys.readouterr().err


def test_cli_builds_the_cnn_and_the_lesson_09_switches():
    from vit_lessons.cli import build_parser, setup_from_args
    p = build_parser()
    cfg, r = setup_from_args(p.parse_args(["train", "--model", "cnn", "--epochs", "3"]))
    assert cfg.to_dict()["arch"] == "cnn" and r.epochs == 3 and r.batch_size == 128
    cfg, r = setup_from_args(p.parse_args(["train", "--spt", "--lsa", "--distill", "token", "--teacher", "t.pt"]))
    assert cfg.spt and cfg.lsa and cfg.distilled and r.distill == "token" and r.teacher == "t.pt"


def test_unfair_runs_are_named_and_fair_ones_pass():
    from vit_lessons.bench.small_data import fair
    assert fair({"load_mean": 2.1, "cpu_share": 0.99}, max_load=2.5) == ""
    assert "mean load 3.4 above 2.5" in fair({"load_mean": 3.4, "cpu_share": 0.99}, max_load=2.5)
    assert "CPU share 0.7 below 0.9" in fair({"load_mean": 2.0, "cpu_share": 0.7}, max_load=2.5)


def test_the_hybrid_routes_use_the_conv_stem_and_the_teacher():
    from vit_lessons.bench.small_data import HYBRID_STEM
    cfg, r = route_setup("hybrid", 600)
    assert cfg.stem == HYBRID_STEM and r.time_budget == 600 and r.teacher == ""
    cfg, r = route_setup("distill-hybrid", 360, teacher="t.pt")
    assert cfg.stem == HYBRID_STEM and r.distill == "soft" and r.teacher == "t.pt" and not cfg.distilled
