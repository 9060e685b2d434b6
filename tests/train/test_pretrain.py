"""Masked-autoencoder pretraining through the Trainer (lesson 11), labelled subsets and evaluation by steps."""

import math

import pytest
import torch
from conftest import tiny_digits_setup

from vit_lessons.data.split import balanced_subset, with_validation
from vit_lessons.mae import MaskedAutoencoder, encoder_state_dict
from vit_lessons.train import Recipe, Trainer, load_checkpoint, load_model

pytestmark = pytest.mark.usefixtures("one_thread")


def mae_setup(**recipe):
    return tiny_digits_setup(pretrain="mae", mask_ratio=0.75, decoder_dim=16, decoder_depth=1, decoder_heads=2,
                             label_smoothing=0.0, **recipe)


def test_pretraining_learns_without_labels_and_keeps_the_lowest_validation_loss(tmp_path, digits):
    cfg, r = mae_setup(epochs=5, lr=1e-2, crop_pad=0, flip=False, erase=0.0)
    t = Trainer(cfg, r, digits, tmp_path / "mae", seed=0, progress=False)
    hist = t.fit()
    assert isinstance(t.model, MaskedAutoencoder)
    assert hist[-1]["val_loss"] < hist[0]["val_loss"] and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert all(math.isnan(h["train_acc"]) and math.isnan(h["val_acc"]) for h in hist)  # no labels, no accuracy
    best = load_checkpoint(tmp_path / "mae" / "best.pt")
    assert best["best_on"] == "val_loss"
    assert best["best_loss"] == min(h["val_loss"] for h in hist)
    assert best["epoch"] == min(hist, key=lambda h: h["val_loss"])["epoch"]
    model, _ = load_model(tmp_path / "mae" / "best.pt")
    assert isinstance(model, MaskedAutoencoder)


def test_pretraining_resumes_exactly(tmp_path, digits):
    cfg, r = mae_setup(epochs=3)
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=1, progress=False).fit()
    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False)
    cut.done = lambda: cut.epoch >= 1
    cut.fit()
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).fit()
    assert [h["val_loss"] for h in rest] == [h["val_loss"] for h in full]
    assert [h["train_loss"] for h in rest] == [h["train_loss"] for h in full]


def test_fine_tuning_starts_from_the_pretrained_encoder_on_a_labelled_subset(tmp_path, digits):
    cfg, r = mae_setup(epochs=1)
    Trainer(cfg, r, digits, tmp_path / "mae", seed=0, progress=False).fit()
    enc = encoder_state_dict(load_checkpoint(tmp_path / "mae" / "best.pt")["model"])
    _, ft = tiny_digits_setup(epochs=1, init_from=str(tmp_path / "mae" / "best.pt"), train_size=100)
    t = Trainer(cfg, ft, digits, None, seed=0, progress=False)
    own = t.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in enc.items())  # every encoder weight, before any step
    assert len(t.train_y) == 100 and torch.bincount(t.train_y, minlength=10).tolist() == [10] * 10
    assert t.fit()[-1]["test_acc"] > 0.1


def test_balanced_subset_is_balanced_seeded_and_checked(digits):
    data = with_validation(digits, 120)
    a, b, c = (balanced_subset(data, 53, s) for s in (0, 0, 1))
    assert torch.bincount(a.train_y, minlength=10).tolist() == [6, 6, 6] + [5] * 7
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert torch.equal(a.val_x, data.val_x) and torch.equal(a.test_x, data.test_x)  # only training shrinks
    assert balanced_subset(data, 0, 0) is data
    with pytest.raises(ValueError, match="train-size between 10 and"):
        balanced_subset(data, 5000, 0)


def test_eval_every_counts_steps_across_epoch_ends(digits):
    cfg, r = tiny_digits_setup(epochs=3, eval_every=7)
    t = Trainer(cfg, r, digits, None, seed=0, progress=False)
    hist = t.fit()
    spe = t.steps_per_epoch
    assert spe % 7  # so evaluations fall inside epochs, not on their ends
    assert [h["step"] for h in hist] == list(range(7, 3 * spe + 1, 7))
    assert all(math.isfinite(h["train_loss"]) and 0 <= h["train_acc"] <= 1 for h in hist)


def test_pretraining_refuses_labels_tricks():
    with pytest.raises(ValueError, match="without labels"):
        Recipe(pretrain="mae", init_from="x.pt")
    with pytest.raises(ValueError, match="pretrain"):
        Recipe(pretrain="byol")


def test_eval_refuses_a_pretraining_checkpoint(tmp_path, digits, capsys):
    from vit_lessons.cli import main

    cfg, r = mae_setup(epochs=1)
    Trainer(cfg, r, digits, tmp_path / "mae", seed=0, progress=False).fit()
    assert main(["eval", str(tmp_path / "mae" / "best.pt")]) == 2
    assert "--init-from" in capsys.readouterr().err
