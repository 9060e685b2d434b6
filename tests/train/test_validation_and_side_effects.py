"""What the Trainer chooses on (validation, never test), and what it leaves behind (nothing process-wide)."""

import json

import torch
from conftest import tiny_digits_setup

from vit_lessons.machine import flushes_denormals
from vit_lessons.model import VisionTransformer
from vit_lessons.train import Trainer, load_checkpoint
from vit_lessons.train.trainer import build_run_model


def test_best_pt_is_the_best_validation_epoch_and_test_chooses_nothing(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=4, crop_pad=0, flip=False, erase=0.0)
    t = Trainer(cfg, r, digits, tmp_path / "run", seed=0, progress=False)
    hist = t.fit()
    assert t.val_size == 120 and len(t.data.train_y) == len(digits.train_y) - 120
    recs = [json.loads(s) for s in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all({"val_acc", "val_loss", "test_acc"} <= set(rec) for rec in recs)
    chosen = max(range(len(hist)), key=lambda i: (hist[i]["val_acc"], -i))  # the first best validation epoch
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == hist[chosen]["epoch"] and best["best_on"] == "val_acc" and best["val_size"] == 120
    assert best["best_acc"] == hist[chosen]["val_acc"]
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["split"] == {"train": len(digits.train_y) - 120, "val": 120, "test": len(digits.test_y)}


def test_test_accuracy_never_picks_best_pt(tmp_path, digits, monkeypatch):
    """Validation accuracy falls while test accuracy rises: best.pt must stay at the first epoch."""
    cfg, r = tiny_digits_setup(epochs=3, crop_pad=0, flip=False, erase=0.0)
    t = Trainer(cfg, r, digits, tmp_path / "run", seed=0, progress=False)
    calls = iter([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])  # val, test, val, test, ...
    monkeypatch.setattr(t, "evaluate", lambda split="test": {"loss": 1.0, "acc": next(calls), "correct": 0})
    t.fit()
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == 1.0


def test_no_validation_split_writes_no_best_pt(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=1, val_size=0)
    Trainer(cfg, r, digits, tmp_path / "run", seed=0, progress=False).fit()
    assert not (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "last.pt").exists()


def test_training_leaves_the_process_flush_denormal_setting_as_it_was(digits):
    before = flushes_denormals()  # other code in this process may have set it: put it back after
    try:
        for setting in (False, True):
            torch.set_flush_denormal(setting)
            cfg, r = tiny_digits_setup(epochs=1)
            Trainer(cfg, r, digits, None, seed=0, progress=False).fit()
            assert flushes_denormals() == setting  # a notebook kernel behaves the same after a training cell
    finally:
        torch.set_flush_denormal(before)


def test_the_distiller_does_not_change_the_student(tmp_path, digits):
    """Token distillation's two-head training forward is set where the model is built, not by the Distiller."""
    cfg, r = tiny_digits_setup(epochs=1, crop_pad=0, flip=False, erase=0.0)
    teacher_run = Trainer(cfg, r, digits, tmp_path / "teacher", seed=0, progress=False)
    teacher_run.fit()
    import dataclasses

    from vit_lessons.train.distill import Distiller
    rt = dataclasses.replace(r, distill="token", teacher=str(tmp_path / "teacher" / "last.pt"))
    student = build_run_model(cfg.replace(distilled=True), rt)
    assert student.distilled_training
    plain = VisionTransformer(cfg.replace(distilled=True))
    import pytest
    with pytest.raises(ValueError, match="distilled_training = True"):
        Distiller(rt, digits, plain, digits.train_x, torch.device("cpu"))
    assert not plain.distilled_training
