"""The one augmentation path: batched crop, flip and erase, normalisation, and batches that repeat exactly."""

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.data import (
    TensorBatches,
    batch_hflip,
    batch_random_crop,
    batch_random_erase,
    epoch_generator,
    normalize_batch,
)
from vit_lessons.train import default_setup


def test_batch_random_crop_equals_pad_then_slice():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8, generator=g)
    dy = torch.randint(0, 5, (5,), generator=g)
    dx = torch.randint(0, 5, (5,), generator=g)
    got = batch_random_crop(x, 2, dy, dx)
    for i in range(5):
        padded = F.pad(x[i], (2, 2, 2, 2))
        torch.testing.assert_close(got[i], padded[:, dy[i]:dy[i] + 6, dx[i]:dx[i] + 7], atol=0, rtol=0)


def test_batch_flip_and_erase():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.uint8).view(2, 1, 3, 4)
    f = batch_hflip(x, torch.tensor([True, False]))
    torch.testing.assert_close(f[0], x[0].flip(-1), atol=0, rtol=0)
    torch.testing.assert_close(f[1], x[1], atol=0, rtol=0)
    e = batch_random_erase(x, torch.tensor([[1, 1, 2, 2], [0, 0, 0, 4]]))
    assert (e[0, 0, 1:3, 1:3] == 0).all() and e[0].sum() < x[0].sum()
    torch.testing.assert_close(e[1], x[1], atol=0, rtol=0)  # height 0: untouched


def test_batches_depend_only_on_seed_and_epoch_and_shard_exactly(digits):
    d = digits
    kw = dict(batch_size=64, seed=3, crop_pad=1, flip=True, erase=0.5, mean=(0.3,), std=(0.4,))
    a = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1))
    b = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1))
    c = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(2))
    assert len(a) == len(d.train_y) // 64
    torch.testing.assert_close(a[5][0], b[5][0], atol=0, rtol=0)
    assert not torch.equal(a[0][1], c[0][1])  # another epoch, another order
    late = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1, start_step=5))
    torch.testing.assert_close(late[0][0], a[5][0], atol=0, rtol=0)  # resuming mid-epoch gives the same batch
    r0 = list(TensorBatches(d.train_x, d.train_y, rank=0, world_size=2, **kw).epoch(1))
    r1 = list(TensorBatches(d.train_x, d.train_y, rank=1, world_size=2, **kw).epoch(1))
    torch.testing.assert_close(torch.cat([r0[4][0], r1[4][0]]), a[4][0], atol=0, rtol=0)
    torch.testing.assert_close(torch.cat([r0[4][1], r1[4][1]]), a[4][1], atol=0, rtol=0)
    assert epoch_generator(3, 1).initial_seed() == epoch_generator(3, 1).initial_seed()
    with pytest.raises(ValueError, match="divisible"):
        TensorBatches(d.train_x, d.train_y, 63, world_size=2)
    with pytest.raises(ValueError, match="lower --batch-size"):
        TensorBatches(d.train_x[:10], d.train_y[:10], 64)


def test_normalize_batch_is_scale_then_standardise(digits):
    x = digits.train_x[:16]  # (16, 1, 8, 8) uint8
    info = digits.info
    got = normalize_batch(x, info.mean, info.std)
    assert got.dtype == torch.float32 and got.shape == x.shape
    torch.testing.assert_close(got, (x.float() / 255 - info.mean[0]) / info.std[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("dataset", ["fashion-mnist", "digits"])
def test_a_recipe_without_augmentation_gives_the_images_as_they_are(digits, dataset):
    """The recipe decides: with crop 0, no flips, no erasing a batch is the shuffled images, normalised."""
    _, recipe = default_setup(dataset)
    assert not recipe.flip  # clothes in the CPU recipe and digits: never mirrored
    d = digits
    batches = TensorBatches(d.train_x, d.train_y, 32, seed=7, crop_pad=0, flip=recipe.flip, erase=0.0,
                            mean=d.info.mean, std=d.info.std)
    perm = torch.randperm(len(d.train_y), generator=epoch_generator(7, 0))
    for step, (x, y) in enumerate(batches.epoch(0)):
        idx = perm[step * 32:(step + 1) * 32]
        torch.testing.assert_close(x, normalize_batch(d.train_x[idx], d.info.mean, d.info.std), atol=0, rtol=0)
        torch.testing.assert_close(y, d.train_y[idx], atol=0, rtol=0)
