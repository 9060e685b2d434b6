"""Checkpoints: plain and atomic, clear errors, resume checks, the run folder, the committed checkpoint."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import tiny_digits_setup

from vit_lessons.config import ViTConfig
from vit_lessons.metrics_jsonl import write_metrics
from vit_lessons.train import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    RunExistsError,
    Trainer,
    evaluate,
    holds_run,
    load_checkpoint,
    load_model,
    read_metrics,
    save_checkpoint,
)
from vit_lessons.train.checkpoint import export_checkpoint, open_run_folder, refuse_to_overwrite, resume_mismatch

pytestmark = pytest.mark.usefixtures("one_thread")

CKPT = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "fashion_mnist_vit.pt"
LEARNED_POS_CKPT = CKPT.with_name("fashion_mnist_vit_learned_pos.pt")  # lesson 07's second model


def test_checkpoint_round_trip_is_plain_and_atomic(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=1)
    t = Trainer(cfg, r, digits, tmp_path, progress=False)
    t.fit()
    ck = torch.load(tmp_path / "last.pt", weights_only=True)  # no pickled code needed
    assert ck["format"] == CHECKPOINT_FORMAT and ck["epoch"] == 1 and isinstance(ck["model_config"], dict)
    assert isinstance(ck["rng"]["torch"], torch.Tensor)
    assert {"model", "optimizer", "scheduler", "metrics", "recipe"} <= set(ck)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # temp files renamed away
    model, ck2 = load_model(tmp_path / "last.pt")
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, atol=0, rtol=0)
    res = evaluate(model, digits.test_x, digits.test_y, digits.info.mean, digits.info.std)
    assert res["correct"] == ck2["metrics"][-1]["test_correct"]
    save_checkpoint(tmp_path / "x.pt", {"format": CHECKPOINT_FORMAT, "model": {"w": torch.ones(2)}})
    assert load_checkpoint(tmp_path / "x.pt")["model"]["w"].sum() == 2
    small = export_checkpoint(tmp_path / "last.pt", tmp_path / "small.pt", record={"note": "shared"})
    ck3 = load_checkpoint(small)
    assert "optimizer" not in ck3 and "rng" not in ck3 and ck3["record"] == {"note": "shared"}
    assert all(isinstance(v, (str, int, float, type(None))) for v in ck3["versions"].values())


def test_bad_checkpoints_give_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"not a file torch.save writes \(it starts with b'not '") as e:
        load_checkpoint(tmp_path / "junk.pt")
    assert "Error" not in str(e.value)  # what is wrong in words, not torch's internal exception ("KeyError: 110")
    assert "train again" not in str(e.value) and "vit_lessons train" in str(e.value)  # not ours: point elsewhere
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty \(0 bytes\).*best.pt / last.pt\) may be whole; else train"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save({"w": torch.ones(100)}, tmp_path / "cut.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "cut.pt").read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"cut off or damaged .*may be whole"):
        load_checkpoint(tmp_path / "cut.pt")
    assert (tmp_path / "junk.pt").exists() and (tmp_path / "cut.pt").exists()  # nothing is deleted
    torch.save({"format": CHECKPOINT_FORMAT, "model": {}, "extra": Path("x")}, tmp_path / "object.pt")
    with pytest.raises(CheckpointError, match=r"holds a Python object \(pathlib\.\w*Path\)"):
        load_checkpoint(tmp_path / "object.pt")  # weights_only: loading it could run code, so it is refused
    torch.save({"w": torch.ones(1)}, tmp_path / "raw.pt")
    with pytest.raises(CheckpointError, match="not a vit_lessons checkpoint"):
        load_checkpoint(tmp_path / "raw.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_mismatch_names_each_difference():
    cfg, r = tiny_digits_setup()
    ck = {"model_config": cfg.to_dict(), "recipe": r.to_dict(), "dataset": "digits", "seed": 1}
    assert resume_mismatch(ck, cfg, r, "digits", 1) == []
    # more epochs, or the other attention kernel: the same run, continued
    assert resume_mismatch(ck, cfg.replace(fused_attn=not cfg.fused_attn), replace(r, epochs=9), "digits", 1) == []
    got = resume_mismatch(ck, cfg.replace(depth=3), replace(r, lr=1e-3), "digits", 2)
    assert got == ["depth: 2 in the checkpoint vs 3 now", "lr: 0.003 in the checkpoint vs 0.001 now",
                   "seed: 1 in the checkpoint vs 2 now"]


def test_the_run_folder_files(tmp_path):
    assert holds_run(tmp_path / "none") == [] and holds_run(tmp_path) == []
    open_run_folder(tmp_path / "run", {"seed": 3})
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text()) == {"seed": 3} and holds_run(run) == []  # empty metrics
    write_metrics(run, [{"test_acc": 0.5}, {"test_acc": 0.75}])
    assert read_metrics(run) == read_metrics(run / "metrics.jsonl") == [{"test_acc": 0.5}, {"test_acc": 0.75}]
    save_checkpoint(run / "last.pt", {"format": CHECKPOINT_FORMAT, "model": {}})
    assert holds_run(run) == ["last.pt", "metrics.jsonl"]
    with pytest.raises(RunExistsError, match=r"already holds a run \(last.pt, metrics.jsonl\).*--resume.*--overwrite"):
        refuse_to_overwrite(run)
    refuse_to_overwrite(tmp_path / "elsewhere")  # an empty or missing folder is free
    open_run_folder(run, {"seed": 4})  # config.json rewritten, the run kept
    assert holds_run(run) == ["last.pt", "metrics.jsonl"]
    open_run_folder(run, {"seed": 5}, fresh=True)  # --overwrite: the old run's files go
    assert holds_run(run) == [] and not (run / "last.pt").exists()
    assert json.loads((run / "config.json").read_text()) == {"seed": 5}


def test_committed_checkpoint_has_its_recorded_accuracy(fashion_mnist):
    if not CKPT.exists():
        pytest.skip("assets/checkpoints/fashion_mnist_vit.pt not written yet (bench fashion-mnist-10min)")
    data = fashion_mnist
    torch.load(CKPT, weights_only=True)  # plain containers only: loads without allow-listing anything
    model, ck = load_model(CKPT)
    rec = json.loads(CKPT.with_suffix(".json").read_text())
    assert ck["record"]["test_correct"] == rec["test_correct"]
    assert model.config == ViTConfig.preset(model.config.name) and model.config.name == "fashion_mnist_cpu"  # one name
    assert ck["val_size"] == 5000 and ck["best_on"] == "val_acc"  # chosen on the validation split
    res = evaluate(model, data.test_x, data.test_y, data.info.mean, data.info.std)
    assert res["correct"] == rec["test_correct"]
    assert res["acc"] == pytest.approx(rec["test_acc"], abs=0)
    assert CKPT.stat().st_size < 5e6  # a few MB at most


def test_committed_learned_position_checkpoint_has_its_recorded_accuracy(fashion_mnist):
    data = fashion_mnist
    torch.load(LEARNED_POS_CKPT, weights_only=True)  # plain containers only
    model, ck = load_model(LEARNED_POS_CKPT)
    assert model.config.pos_embed == "learned" and isinstance(model.pos_embed, torch.nn.Parameter)  # trained, not fixed
    rec = json.loads(LEARNED_POS_CKPT.with_suffix(".json").read_text())
    assert ck["record"] == rec and "optimizer" not in ck
    recs = read_metrics(LEARNED_POS_CKPT.with_suffix(".metrics.jsonl"))
    chosen = [r for r in recs if r["epoch"] == rec["epochs"]]
    assert chosen[0]["test_correct"] == rec["test_correct"]  # best.pt: the best validation evaluation
    assert chosen[0]["val_acc"] == max(r["val_acc"] for r in recs)
    res = evaluate(model, data.test_x, data.test_y, data.info.mean, data.info.std)
    assert res["correct"] == rec["test_correct"]
    assert res["acc"] == pytest.approx(rec["test_acc"], abs=0)
    assert LEARNED_POS_CKPT.stat().st_size < 5e6
