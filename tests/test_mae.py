"""The masked autoencoder: masking, the asymmetric encoder, the loss on removed patches, weights into a ViT."""

import json
from pathlib import Path

import pytest
import torch

from vit_lessons.config import ViTConfig
from vit_lessons.data.split import with_validation
from vit_lessons.mae import (
    MaskedAutoencoder,
    encoder_state_dict,
    evaluate_mae,
    is_mae_state,
    masked_mse,
    num_kept,
    patch_targets,
    random_masking,
)
from vit_lessons.model import VisionTransformer
from vit_lessons.patches import patchify
from vit_lessons.train import evaluate, load_model


def tiny(**changes) -> ViTConfig:
    return ViTConfig.preset("fashion_mnist_cpu", depth=2, **changes)


@pytest.mark.parametrize("n, ratio, kept", [(16, 0.75, 4), (16, 0.5, 8), (49, 0.75, 12), (196, 0.75, 49)])
def test_mask_ratio_is_exact_per_image(n, ratio, kept):
    ids_keep, mask, ids_restore = random_masking(5, n, ratio, torch.Generator().manual_seed(0))
    assert num_kept(n, ratio) == kept
    assert ids_keep.shape == (5, kept) and mask.shape == (5, n)
    assert (mask.sum(1) == n - kept).all()  # every image loses exactly its share
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    # the kept indices are exactly the places the mask leaves open
    for b in range(5):
        assert sorted(ids_keep[b].tolist()) == (mask[b] == 0).nonzero().flatten().tolist()


def test_masks_differ_between_images_and_follow_the_generator():
    _, m1, _ = random_masking(8, 16, 0.75, torch.Generator().manual_seed(0))
    _, m2, _ = random_masking(8, 16, 0.75, torch.Generator().manual_seed(0))
    _, m3, _ = random_masking(8, 16, 0.75, torch.Generator().manual_seed(1))
    assert torch.equal(m1, m2) and not torch.equal(m1, m3)
    assert len({tuple(r.tolist()) for r in m1}) > 1  # not one mask for the whole batch


def test_restoring_the_order_inverts_the_shuffle():
    g = torch.Generator().manual_seed(3)
    ids_keep, mask, ids_restore = random_masking(4, 16, 0.75, g)
    x = torch.arange(4 * 16).view(4, 16).float()
    ids_shuffle = ids_restore.argsort(1)  # the shuffle that ids_restore undoes
    assert torch.equal(ids_shuffle[:, :4], ids_keep)
    shuffled = x.gather(1, ids_shuffle)
    assert torch.equal(shuffled.gather(1, ids_restore), x)


@pytest.mark.parametrize("ratio", [0.0, 1.0, 0.99, -0.1])
def test_bad_mask_ratio_says_what_to_pick(ratio):
    with pytest.raises(ValueError, match="mask_ratio"):
        num_kept(16, ratio)


def test_encoder_first_block_sees_only_visible_tokens():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny(), mask_ratio=0.75)
    seen = []
    mae.encoder.blocks[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape))
    dec = []
    mae.decoder_blocks[0].register_forward_hook(lambda m, inp, out: dec.append(inp[0].shape))
    loss, pred, mask = mae(torch.randn(3, 1, 28, 28))
    assert seen == [(3, 1 + 4, 64)]  # the class token and 4 of the 16 patches
    assert dec == [(3, 1 + 16, 64)]  # the decoder gets every place back
    assert pred.shape == (3, 16, 49) and mask.shape == (3, 16) and loss.ndim == 0


def test_loss_counts_only_removed_patches():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny())
    x = torch.randn(2, 1, 28, 28)
    g = torch.Generator().manual_seed(5)
    loss, pred, mask = mae(x, generator=g)
    target = patch_targets(x, 7)
    # changing the prediction on a kept patch changes nothing; on a removed one it does
    kept = (mask[0] == 0).nonzero()[0, 0]
    removed = (mask[0] == 1).nonzero()[0, 0]
    p2 = pred.clone()
    p2[0, kept] += 10
    assert torch.allclose(masked_mse(p2, target, mask), loss)
    p2[0, removed] += 10
    assert masked_mse(p2, target, mask) > loss + 1
    # and it is the mean over removed patches of the per-patch mean squared error
    per = ((pred - target) ** 2).mean(-1)
    assert torch.allclose(loss, per[mask.bool()].mean())


def test_targets_are_normalised_per_patch():
    x = torch.rand(2, 1, 28, 28) * 5 + 3
    t = patch_targets(x, 7)
    assert torch.allclose(t.mean(-1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(t.std(-1), torch.ones(2, 16), atol=1e-3)
    assert torch.equal(patch_targets(x, 7, norm_pix=False), patchify(x, 7))


def test_encoder_weights_load_into_a_vit_as_they_are():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny(pos_embed="learned"))
    state = mae.state_dict()
    assert is_mae_state(state) and not is_mae_state(VisionTransformer(tiny()).state_dict())
    vit = VisionTransformer(tiny(pos_embed="learned", num_classes=0))
    vit.load_state_dict(encoder_state_dict(state))  # strict: the same names, no decoder key
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(vit.forward_features(x), mae.encoder.forward_features(x))
    assert all(k.startswith(("encoder.", "decoder_", "mask_token")) for k in state)


def test_mae_pretraining_checkpoint_fine_tunes_through_transfer(tmp_path):
    from vit_lessons import transfer
    from vit_lessons.train.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny())
    ck = {"format": CHECKPOINT_FORMAT, "model_config": tiny().to_dict(), "model": mae.state_dict(),
          "recipe": {"pretrain": "mae"}}
    path = tmp_path / "mae.pt"
    save_checkpoint(path, ck)
    model = transfer.start_from(VisionTransformer(tiny()), str(path))
    for k, v in encoder_state_dict(mae.state_dict()).items():
        assert torch.equal(model.state_dict()[k], v), k


@pytest.mark.parametrize("change, word", [({"class_token": False, "pool": "mean"}, "class token"),
                                          ({"spt": True}, "shifted"), ({"stem": (8,)}, "stem")])
def test_encoders_a_mae_cannot_use_are_refused(change, word):
    with pytest.raises(ValueError, match=word):
        MaskedAutoencoder(tiny(**change))


def test_evaluation_uses_the_same_masks_every_time():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny())
    imgs = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)
    a, b = evaluate_mae(mae, imgs, (0.5,), (0.5,), 8), evaluate_mae(mae, imgs, (0.5,), (0.5,), 8)
    assert a["loss"] == b["loss"] and a["n"] == 20
    assert evaluate_mae(mae, imgs, (0.5,), (0.5,), 8, seed=1)["loss"] != a["loss"]


def test_reconstruction_pastes_visible_patches_unchanged():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny())
    x = torch.randn(2, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    masked, recon, pasted = mae.reconstruct(x, generator=g)
    _, _, mask = mae(x, generator=torch.Generator().manual_seed(0))
    keep = (1 - mask)[..., None].bool().expand(-1, -1, 49)
    assert torch.equal(patchify(pasted, 7)[keep], patchify(x, 7)[keep])
    assert torch.equal(patchify(masked, 7)[keep], patchify(x, 7)[keep])
    assert recon.shape == x.shape


CHECKPOINTS = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"


def test_committed_pretraining_checkpoint_reproduces_its_validation_loss(fashion_mnist):
    """Lesson 11's masked autoencoder: its recorded validation loss is what it scores on the held-out images."""
    model, ck = load_model(CHECKPOINTS / "fashion_mnist_mae.pt")
    assert isinstance(model, MaskedAutoencoder) and ck["best_on"] == "val_loss"
    data = with_validation(fashion_mnist, int(ck["val_size"]))
    res = evaluate_mae(model, data.val_x, data.info.mean, data.info.std)
    record = json.loads((CHECKPOINTS / "fashion_mnist_mae.json").read_text())
    assert res["loss"] == pytest.approx(record["best_val_loss"], abs=1e-4)
    assert res["loss"] == pytest.approx(ck["best_loss"], abs=1e-4)


@pytest.mark.parametrize("name", ["fashion_mnist_mae_ft600", "fashion_mnist_scratch600"])
def test_committed_600_label_checkpoints_reproduce_their_test_count(fashion_mnist, name):
    model, ck = load_model(CHECKPOINTS / f"{name}.pt")
    record = json.loads((CHECKPOINTS / f"{name}.json").read_text())
    res = evaluate(model, fashion_mnist.test_x, fashion_mnist.test_y, fashion_mnist.info.mean,
                   fashion_mnist.info.std)
    assert res["correct"] == record["test_correct"] and record["train_size"] == 600
