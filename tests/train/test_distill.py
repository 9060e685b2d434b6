"""Distillation (lesson 09): the losses, the distillation token, the Trainer with a teacher, teacher errors."""

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from vit_lessons.cnn import CNNConfig
from vit_lessons.config import ViTConfig
from vit_lessons.model import VisionTransformer
from vit_lessons.train import CheckpointError, Recipe, Trainer
from vit_lessons.train.distill import Distiller, distillation_loss, soft_target_loss

from ..conftest import tiny_digits_setup

pytestmark = pytest.mark.usefixtures("one_thread")


def test_soft_target_loss_is_cross_entropy_for_a_one_hot_teacher_at_tau_1():
    s = torch.randn(6, 5)
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    got = soft_target_loss(s, F.one_hot(y, 5).float(), tau=1.0)
    torch.testing.assert_close(got, F.cross_entropy(s, y), rtol=1e-6, atol=1e-6)


def test_soft_target_loss_is_zero_when_student_equals_teacher_and_scales_with_tau():
    t = torch.randn(4, 3)
    for tau in (1.0, 3.0):
        zero = soft_target_loss(t, F.softmax(t / tau, -1), tau)
        torch.testing.assert_close(zero, torch.tensor(0.0), rtol=0, atol=1e-6)
    s = torch.randn(4, 3)
    p = F.softmax(t / 2.0, -1)
    kl = F.kl_div(F.log_softmax(s / 2.0, -1), p, reduction="batchmean") * 4.0
    torch.testing.assert_close(soft_target_loss(s, p, 2.0), kl, rtol=1e-5, atol=1e-6)


def test_hard_and_token_losses():
    s, s_dist, t = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 3, 0])
    want = 0.7 * F.cross_entropy(s, y) + 0.3 * F.cross_entropy(s, t.argmax(-1))
    torch.testing.assert_close(distillation_loss("hard", s, y, t, alpha=0.3), want, rtol=1e-6, atol=1e-6)
    want = 0.5 * F.cross_entropy(s, y, label_smoothing=0.1) + 0.5 * F.cross_entropy(s_dist, t.argmax(-1),
                                                                                      label_smoothing=0.1)
    got = distillation_loss("token", (s, s_dist), y, t, alpha=0.5, label_smoothing=0.1)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="pair"):
        distillation_loss("token", s, y, t)
    with pytest.raises(ValueError, match="soft"):
        distillation_loss("ghost", s, y, t)


def test_distillation_token_shapes_names_and_averaged_prediction():
    cfg = ViTConfig.tiny(distilled=True)
    assert cfg.num_tokens == cfg.num_patches + 2
    m = VisionTransformer(cfg)
    sd = m.state_dict()
    assert sd["dist_token"].shape == (1, 1, cfg.embed_dim) and sd["head_dist.weight"].shape == (10, cfg.embed_dim)
    assert sd["pos_embed"].shape == (1, cfg.num_patches + 2, cfg.embed_dim)
    x = torch.randn(3, 3, 32, 32)
    tokens = m.forward_features(x)  # (B, N + 2, D)
    assert tokens.shape == (3, cfg.num_patches + 2, cfg.embed_dim)
    cls, dist = m.head(tokens[:, 0]), m.head_dist(tokens[:, 1])
    m.eval()
    torch.testing.assert_close(m(x), (cls + dist) / 2, rtol=1e-5, atol=1e-6)
    m.train()
    m.distilled_training = True
    pair = m(x)
    assert isinstance(pair, tuple) and [p.shape for p in pair] == [(3, 10), (3, 10)]
    assert set(VisionTransformer(ViTConfig.tiny()).state_dict()) == set(sd) - {"dist_token", "head_dist.weight",
                                                                           "head_dist.bias"}
    with pytest.raises(ValueError, match="class_token"):
        ViTConfig.tiny(distilled=True, class_token=False, pool="mean")


def test_distilled_model_loads_timm_deit_distilled_weights():
    timm = pytest.importorskip("timm")
    ref = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=32, patch_size=8,
                            embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0, num_classes=10).eval()
    ours = VisionTransformer(ViTConfig.tiny(distilled=True, fused_attn=False)).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory, digits):
    """A small CNN trained for one epoch on the digits: a teacher checkpoint for the tests."""
    torch.set_num_threads(1)
    cfg = CNNConfig(img_size=8, in_chans=1, num_classes=10, channels=(8, 16), hidden=0, pool="avg")
    tr = Trainer(cfg, Recipe(epochs=1, batch_size=32, crop_pad=0, flip=False), digits,
                 tmp_path_factory.mktemp("teacher"), progress=False)
    tr.fit()
    return tr.out_dir / "last.pt"


@pytest.mark.parametrize("mode", ["soft", "hard", "token"])
def test_resume_with_a_teacher_matches_uninterrupted(tmp_path, digits, digits_teacher, mode):
    cfg, r = tiny_digits_setup(epochs=2, crop_pad=0, flip=False, erase=0.0, distill=mode, teacher=str(digits_teacher),
                               distill_tau=2.0)
    cfg = cfg.replace(distilled=mode == "token")
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=1, progress=False)
    assert full.distiller.fixed  # no augmentation: the teacher's logits are computed once
    hist = full.fit()
    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False)
    cut.done = lambda: cut.epoch >= 1
    cut.fit()
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).fit()
    assert [h["train_loss"] for h in rest] == [h["train_loss"] for h in hist]
    assert [h["test_acc"] for h in rest] == [h["test_acc"] for h in hist]
    other = dataclasses.replace(r, distill_alpha=0.9)
    with pytest.raises(CheckpointError, match="distill_alpha"):
        Trainer(cfg, other, digits, tmp_path / "cut", seed=1, progress=False, resume=True)


def test_teacher_on_augmented_batches_runs_every_step_and_matches_its_table(digits, digits_teacher):
    cfg, r = tiny_digits_setup(epochs=1, crop_pad=0, flip=False, erase=0.0, distill="soft", teacher=str(digits_teacher))
    tr = Trainer(cfg, r, digits, None, progress=False)
    idx = torch.arange(7)
    x, _ = next(iter(tr.batches.epoch(0)))
    fixed = tr.distiller.teacher_logits(None, idx)  # (7, K) from the one-time pass
    tr.distiller.fixed = False
    info = digits.info
    from vit_lessons.data import normalize_batch
    live = tr.distiller.teacher_logits(normalize_batch(digits.train_x[:7], info.mean, info.std))
    torch.testing.assert_close(live, fixed, rtol=1e-5, atol=1e-5)
    aug = Trainer(cfg, dataclasses.replace(r, flip=True), digits, None, progress=False)
    assert not aug.distiller.fixed  # augmented inputs: the teacher must see each batch


def test_teacher_checkpoint_errors_come_before_training(tmp_path, digits, digits_teacher, fashion_mnist):
    cfg, r = tiny_digits_setup(epochs=1, crop_pad=0, flip=False, erase=0.0)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        Trainer(cfg, dataclasses.replace(r, distill="soft", teacher=str(tmp_path / "none.pt")), digits, None)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Trainer(cfg, dataclasses.replace(r, distill="hard", teacher=str(bad)), digits, None)
    fm_cfg = ViTConfig.preset("fashion_mnist_cpu", patch_size=7, embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(CheckpointError, match="trained on 'digits'.*fashion-mnist"):
        Trainer(fm_cfg, dataclasses.replace(r, distill="soft", teacher=str(digits_teacher)), fashion_mnist, None)
    ck = torch.load(digits_teacher, weights_only=True)
    ck["model_config"]["num_classes"] = 7
    seven = tmp_path / "seven.pt"
    torch.save(ck, seven)
    with pytest.raises(CheckpointError, match="predicts 7 classes"):
        Trainer(cfg, dataclasses.replace(r, distill="soft", teacher=str(seven)), digits, None)
    with pytest.raises(ValueError, match="distillation token"):
        Trainer(cfg, dataclasses.replace(r, distill="token", teacher=str(digits_teacher)), digits, None)
    with pytest.raises(ValueError, match="both --distill"):
        Recipe(distill="soft")
    with pytest.raises(ValueError, match="both --distill"):
        Recipe(teacher="x.pt")
    assert Distiller  # the class the Trainer builds
