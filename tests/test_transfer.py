"""Transfer learning: a new head, frozen backbones, other input sizes and channel counts, and the trainer
and command line starting from a checkpoint (resumable exactly), with clear errors for what cannot work."""

import dataclasses

import pytest
import torch
from conftest import randomize_, tiny_digits_setup

from vit_lessons.cli import main
from vit_lessons.config import ViTConfig
from vit_lessons.data import DATASETS
from vit_lessons.embeddings import resize_pos_embed, sincos_2d
from vit_lessons.model import VisionTransformer
from vit_lessons.train import CheckpointError, Trainer, load_checkpoint, save_checkpoint
from vit_lessons.train.schedule import param_groups
from vit_lessons.transfer import (
    Resized,
    adapt_in_chans,
    backbone_config,
    finetune_config,
    freeze,
    load_backbone,
    replace_head,
    resize_batch,
    start_from,
    transfer_state,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _backbone(pos_embed="learned", **changes) -> VisionTransformer:
    """A tiny 'pretrained' model: random weights everywhere, so nothing can match by zeros."""
    cfg = ViTConfig.tiny(pos_embed=pos_embed, **changes)  # 32 px, patch 8: a 4x4 grid
    return randomize_(VisionTransformer(cfg).eval(), seed=3)


def _save(model: VisionTransformer, path, dataset="digits"):
    """The model as a course checkpoint, as the trainer writes it."""
    return save_checkpoint(path, {"format": "vit_lessons.checkpoint/1", "model_config": model.config.to_dict(),
                                  "model": model.state_dict(), "dataset": dataset})


def test_new_head_keeps_the_backbone_and_gives_k_logits():
    bb = _backbone()
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    model = replace_head(bb, 7)
    assert model.head.weight.shape == (7, 32) and model.config.num_classes == 7
    x = torch.randn(2, 3, 32, 32)  # (B, C, H, W)
    assert model(x).shape == (2, 7)
    for k, v in model.state_dict().items():
        if not k.startswith("head."):
            torch.testing.assert_close(v, before[k], atol=0, rtol=0, msg=k)
    assert model.head.weight.std() < 0.05 and model.head.bias.abs().max() == 0  # timm's init, not the old head
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        replace_head(model, 0)


def test_start_from_loads_every_weight_but_the_head():
    bb = _backbone()
    torch.manual_seed(5)
    fresh = VisionTransformer(finetune_config(bb.config, 5))
    head = {k: v.clone() for k, v in fresh.state_dict().items() if k.startswith("head.")}
    model = start_from(fresh, bb)
    for k, v in model.state_dict().items():
        want = head[k] if k.startswith("head.") else bb.state_dict()[k]
        torch.testing.assert_close(v, want, atol=0, rtol=0, msg=k)
    # the pooled features are the backbone's: a linear probe reads exactly them
    x = torch.randn(3, 3, 32, 32)  # (B, C, H, W)
    torch.testing.assert_close(model.forward_head(model.forward_features(x), pre_logits=True),
                               bb.forward_head(bb.forward_features(x), pre_logits=True), atol=1e-6, rtol=1e-6)


def test_linear_probe_changes_only_the_head():
    model = start_from(VisionTransformer(finetune_config(_backbone().config, 4)), _backbone())
    assert freeze(model, "all-but-head") == ["head.weight", "head.bias"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(param_groups(model, 0.05), lr=1e-2)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"head.weight", "head.bias"}
    assert len(freeze(model, "none")) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="freeze must be one of"):
        freeze(model, "all")


def test_another_input_size_interpolates_learned_positions_like_resize_pos_embed():
    bb = _backbone()  # 4x4 grid at 32 px
    cfg = finetune_config(bb.config, 10, img_size=48)  # 6x6 grid
    model = start_from(VisionTransformer(cfg), bb)
    torch.testing.assert_close(model.pos_embed.data, resize_pos_embed(bb.pos_embed.data, 6, 1), atol=0, rtol=0)
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 10)
    # the same as moving the backbone itself with set_img_size
    moved = _backbone().set_img_size(48)
    torch.testing.assert_close(transfer_state(bb, cfg)["pos_embed"], moved.pos_embed.data, atol=0, rtol=0)
    # fixed sin-cos positions are not weights: the new grid gets its own table
    sc = start_from(VisionTransformer(finetune_config(_backbone("sincos2d").config, 3, img_size=24)),
                    _backbone("sincos2d"))
    torch.testing.assert_close(sc.pos_embed[0, 1:], sincos_2d(3, 32), atol=0, rtol=0)
    assert sc(torch.randn(1, 3, 24, 24)).shape == (1, 3)
    with pytest.raises(ValueError, match="images of 30 px do not fit: resize them to 24 or 32 px"):
        finetune_config(bb.config, 10, img_size=30)


def test_channel_conversion_keeps_what_grey_images_give():
    grey = _backbone(in_chans=1)
    x = torch.rand(2, 1, 32, 32)  # (B, 1, H, W)
    rgb = adapt_in_chans(_backbone(in_chans=1), 3)
    assert rgb.patch_embed.proj.weight.shape[1] == 3 and rgb.config.in_chans == 3
    torch.testing.assert_close(rgb(x.expand(-1, 3, -1, -1)), grey(x), atol=1e-5, rtol=1e-5)
    colour = _backbone()
    back = adapt_in_chans(_backbone(), 1)
    torch.testing.assert_close(back(x), colour(x.expand(-1, 3, -1, -1)), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no sensible conversion from 3 to 2 channels"):
        adapt_in_chans(_backbone(), 2)


def test_what_cannot_transfer_is_named_before_training(tmp_path, digits):
    bb = _backbone(in_chans=1)
    with pytest.raises(CheckpointError, match="reads 1-channel images but this model 3-channel.*adapt_in_chans"):
        transfer_state(bb, finetune_config(bb.config, 10, in_chans=3))
    with pytest.raises(CheckpointError, match="architecture differs.*depth: 2 in the backbone vs 3 here"):
        transfer_state(bb, bb.config.replace(depth=3))
    cfg, r = tiny_digits_setup(epochs=1)
    with pytest.raises(CheckpointError, match="no checkpoint at .*missing.pt"):
        Trainer(cfg, dataclasses.replace(r, init_from=str(tmp_path / "missing.pt")), digits, None, progress=False)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt is not a readable checkpoint"):
        Trainer(cfg, dataclasses.replace(r, init_from=str(bad)), digits, None, progress=False)
    with pytest.raises(CheckpointError, match="could not get timm model 'no_such_vit'"):
        load_backbone("timm:no_such_vit")


def test_resize_batch_and_resized_model():
    x = torch.rand(2, 1, 8, 8)  # (B, C, H, W)
    assert resize_batch(x, 0) is x and resize_batch(x, 8) is x
    assert resize_batch(x, 28).shape == (2, 1, 28, 28)
    model = VisionTransformer(ViTConfig.tiny(in_chans=1, img_size=32))
    torch.testing.assert_close(Resized(model, 32)(x), model(resize_batch(x, 32)), atol=0, rtol=0)


def _digits_backbone(tmp_path, digits):
    """A tiny digits model trained for one epoch, saved as the trainer saves it."""
    cfg, r = tiny_digits_setup(epochs=1)
    Trainer(cfg, r, digits, tmp_path / "bb", seed=0, progress=False).fit()
    return tmp_path / "bb" / "last.pt"


def test_trainer_fine_tunes_from_a_checkpoint_and_resumes_exactly(tmp_path, digits):
    path = _digits_backbone(tmp_path, digits)
    bb = load_checkpoint(path)["model"]
    cfg = finetune_config(backbone_config(path), 10, img_size=12)  # upsampled 8 -> 12 px: a 6x6 grid, not 4x4
    _, r = tiny_digits_setup(epochs=3, init_from=str(path), img_size=12, freeze="all-but-head")
    probe = Trainer(cfg, r, digits, None, seed=2, progress=False)
    probe.fit()
    for k, v in probe.model.state_dict().items():  # a linear probe: the backbone is untouched after training
        if not k.startswith("head.") and k != "pos_embed":
            torch.testing.assert_close(v, bb[k], atol=0, rtol=0, msg=k)
    torch.testing.assert_close(probe.model.pos_embed, resize_pos_embed(bb["pos_embed"], 6, 1), atol=0, rtol=0)
    assert probe.history[-1]["train_loss"] < probe.history[0]["train_loss"]  # the head learns

    r = dataclasses.replace(r, freeze="none")
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=2, progress=False).fit()
    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=2, progress=False)
    cut.done = lambda: cut.epoch >= 1
    cut.fit()
    path.unlink()  # the backbone is not needed to resume: last.pt holds the fine-tuned weights
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=2, progress=False, resume=True).fit()
    assert [h["train_loss"] for h in rest] == [h["train_loss"] for h in full]
    assert [h["test_acc"] for h in rest] == [h["test_acc"] for h in full]
    with pytest.raises(CheckpointError, match="freeze: 'none' in the checkpoint vs 'all-but-head' now"):
        Trainer(cfg, dataclasses.replace(r, freeze="all-but-head"), digits, tmp_path / "cut", seed=2,
                progress=False, resume=True)


def test_command_line_fine_tune_linear_probe_and_eval(tmp_path, digits, capsys):
    path = _digits_backbone(tmp_path, digits)
    base = ["train", "--dataset", "digits", "--epochs", "1", "--no-progress", "--out", str(tmp_path),
            "--init-from", str(path)]
    assert main(base + ["--img-size", "12", "--linear-probe", "--exp-name", "probe"]) == 0
    ck = load_checkpoint(tmp_path / "probe" / "last.pt")
    assert ck["recipe"]["freeze"] == "all-but-head" and ck["model_config"]["img_size"] == 12
    assert main(["eval", str(tmp_path / "probe" / "last.pt")]) == 0  # eval resizes as training did
    assert "test accuracy" in capsys.readouterr().out
    assert main(base + ["--img-size", "9", "--exp-name", "odd"]) == 2
    assert "images of 9 px do not fit: resize them to 8 or 10 px (--img-size" in capsys.readouterr().err
    assert main(base + ["--depth", "3", "--exp-name", "deeper"]) == 2
    assert "the backbone decides the model" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--linear-probe", "--out", str(tmp_path)]) == 2
    assert "give it with --init-from" in capsys.readouterr().err
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path),
                 "--init-from", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_cifar10_finetune_recipe_builds_vit_b16_at_384_px():
    from vit_lessons.train import RECIPES

    cfg, r = RECIPES["cifar10-finetune"].setup()
    assert (cfg.img_size, cfg.grid_size, cfg.num_classes, cfg.embed_dim, cfg.depth) == (384, 24, 10, 768, 12)
    assert r.init_from.startswith("timm:vit_base_patch16_224") and r.img_size == 384
    assert DATASETS[RECIPES["cifar10-finetune"].dataset].img_size == 32  # stored at 32 px, resized per batch
