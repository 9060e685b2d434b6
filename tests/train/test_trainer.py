"""The Trainer: it learns, writes its run folder, resumes exactly, keeps to a time budget."""

import json
import math

import pytest
import torch
from conftest import tiny_digits_setup

from vit_lessons.attention import mimetic_init_
from vit_lessons.model import VisionTransformer
from vit_lessons.train import CheckpointError, Recipe, RunExistsError, Trainer, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def test_gpu_path_options_run_on_cpu(digits):
    """data_on_device and amp are GPU options; on a CPU they fall back and training still runs."""
    cfg, r = tiny_digits_setup(epochs=1, amp=True, data_on_device=True)
    t = Trainer(cfg, r, digits, None, device="cpu", progress=False)
    assert t.train_x.device.type == "cpu"
    h = t.fit()
    assert len(h) == 1 and math.isfinite(h[0]["train_loss"])


def test_trainer_learns_and_writes_the_run_folder(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=3, crop_pad=0, flip=False, erase=0.0, label_smoothing=0.0)
    t = Trainer(cfg, r, digits, tmp_path / "run", seed=0, progress=False, extra={"command": "test"})
    hist = t.fit()
    assert [h["epoch"] for h in hist] == [1.0, 2.0, 3.0]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["test_acc"] > 0.3  # chance is 0.1
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["best.pt", "config.json", "last.pt", "metrics.jsonl"]
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["model"]["embed_dim"] == 32 and conf["recipe"]["epochs"] == 3 and conf["seed"] == 0
    assert "torch" in conf["versions"] and conf["command"] == "test"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["test_acc"] for s in lines] == [h["test_acc"] for h in hist]
    assert set(json.loads(lines[0])) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                                         "train_time", "wall_time"}
    with pytest.raises(RunExistsError, match="already holds a run"):  # never written over by accident
        Trainer(cfg, r, digits, tmp_path / "run", progress=False)


def test_resume_in_process_matches_uninterrupted(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=3)
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=1, progress=False).fit()
    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False)
    cut.done = lambda: cut.epoch >= 1  # stop after one epoch, as a crash would
    cut.fit()
    assert len(cut.history) == 1
    torch.manual_seed(1234)  # the global RNG is restored from the checkpoint, whatever it is now
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).fit()
    assert [h["test_acc"] for h in rest] == [h["test_acc"] for h in full]
    assert [h["train_loss"] for h in rest] == [h["train_loss"] for h in full]
    other = cfg.replace(depth=3)
    with pytest.raises(CheckpointError, match="another configuration.*depth"):
        Trainer(other, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True)
    # the attention kernel is not part of the model: a run may resume with the other one
    kernel = cfg.replace(fused_attn=not cfg.fused_attn)
    assert Trainer(kernel, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).epoch == 3


def test_save_every_checkpoints_inside_an_epoch_and_resume_continues_exactly(tmp_path, digits):
    # dropout and stochastic depth draw from the global RNG, so its saved state matters too
    cfg, r = tiny_digits_setup(epochs=2, evals_per_epoch=2)
    cfg = cfg.replace(drop_rate=0.1, drop_path_rate=0.1)
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=2, progress=False)
    full.fit()
    spe = full.steps_per_epoch
    kill_at = spe + spe // 2 + 3  # inside the second epoch, after its first evaluation

    class Killed(Exception):
        pass

    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=2, progress=False, save_every=1e-9)  # after every step
    step = cut.train_step

    def dies_at_kill_at(x, y):
        if cut.step == kill_at:
            raise Killed
        return step(x, y)

    cut.train_step = dies_at_kill_at
    with pytest.raises(Killed):
        cut.fit()
    ck = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert ck["step"] == kill_at and ck["epoch"] == round(kill_at / spe, 4)  # mid-epoch, numbered like metrics
    assert ck["partial_sums"][2] == 3 * r.batch_size  # the three steps since the evaluation, not yet recorded
    torch.manual_seed(1234)  # the global RNG is restored from the checkpoint, whatever it is now
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=2, progress=False, resume=True)
    assert (rest.epoch, rest.step) == (1, kill_at)
    rest.fit()
    keys = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "lr")
    assert [[h[k] for k in keys] for h in rest.history] == [[h[k] for k in keys] for h in full.history]
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(rest.model.state_dict()[k], v, atol=0, rtol=0, msg=k)
    with pytest.raises(ValueError, match="save_every must be >= 0 minutes"):
        Trainer(cfg, r, digits, None, progress=False, save_every=-1)


def test_best_and_last_checkpoints_count_epochs_alike(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=1)
    Trainer(cfg, r, digits, tmp_path, progress=False).fit()
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert best["epoch"] == last["epoch"] == 1.0  # best.pt is written during the evaluation that ends epoch 1


def test_time_budget_stops_training(digits):
    cfg, r = tiny_digits_setup(time_budget=0.5, evals_per_epoch=2)
    t = Trainer(cfg, r, digits, None, progress=False)
    hist = t.fit()
    assert t.train_time >= 0.5 and hist[-1]["lr"] < r.lr  # the schedule ran down with the clock
    assert len({h["epoch"] for h in hist}) == len(hist)


def test_mimetic_init_in_the_trainer_is_seeded_resumable_and_checked(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=2, init="mimetic")
    t = Trainer(cfg, r, digits, tmp_path / "m", seed=4, progress=False)
    torch.manual_seed(4)  # what the trainer does: seed, build the model, then re-initialise attention
    ref = mimetic_init_(VisionTransformer(cfg))
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(t.model.state_dict()[k], v, atol=0, rtol=0, msg=k)
    t.done = lambda: t.epoch >= 1
    t.fit()
    # a checkpoint written before `init` existed resumes as the timm-initialised run it was
    ck = torch.load(tmp_path / "m" / "last.pt", weights_only=True)
    old = {**ck, "recipe": {k: v for k, v in ck["recipe"].items() if k != "init"}}
    save_checkpoint(tmp_path / "old" / "last.pt", old)
    _, r_timm = tiny_digits_setup(epochs=2)
    Trainer(cfg, r_timm, digits, tmp_path / "old", seed=4, progress=False, resume=True)
    with pytest.raises(CheckpointError, match="init: 'timm' in the checkpoint vs 'mimetic' now"):
        Trainer(cfg, r, digits, tmp_path / "old", seed=4, progress=False, resume=True)
    with pytest.raises(ValueError, match="init must be 'timm' or 'mimetic'"):
        Recipe(init="xavier")


def test_data_that_does_not_fit_the_model_is_a_clear_error(digits):
    cfg, r = tiny_digits_setup()
    with pytest.raises(ValueError, match=r"expects \(3, 8, 8\) images but digits has \(1, 8, 8\).*in_chans=1"):
        Trainer(cfg.replace(in_chans=3), r, digits, None, progress=False)
    with pytest.raises(ValueError, match="the model has 5 outputs but digits has 10 classes"):
        Trainer(cfg.replace(num_classes=5), r, digits, None, progress=False)
