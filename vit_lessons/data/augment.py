"""The one augmentation path: whole batches of uint8 images augmented with a few tensor operations.

Transforming one image at a time in Python (a torchvision transform in a DataLoader) is slower
than the model itself for images this small, so the trainer keeps the whole uint8 dataset as one
tensor (on the GPU when it fits) and crops, flips and erases a whole batch at once. Every random
number comes from a torch.Generator seeded from (seed, epoch), so a resumed or distributed run
sees exactly the same batches. ``normalize_batch`` is also the test-time transform.

Built in notebooks/06_training.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["epoch_generator", "batch_random_crop", "batch_hflip", "batch_random_erase", "normalize_batch",
           "TensorBatches"]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch): data order and augmentation repeat exactly."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch) * 7919 + 17)


def batch_random_crop(x: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Random crop with zero padding, batched: (B, C, H, W) -> (B, C, H, W); dy, dx in [0, 2 * pad]."""
    if pad <= 0:
        return x
    B, C, H, W = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    rows = dy.to(x.device)[:, None] + torch.arange(H, device=x.device)  # (B, H)
    cols = dx.to(x.device)[:, None] + torch.arange(W, device=x.device)  # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def batch_hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``flip`` (B,) is True."""
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


def batch_random_erase(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero a rectangle per image; boxes (B, 4) = (top, left, height, width), height 0 means keep the image."""
    B, C, H, W = x.shape
    boxes = boxes.to(x.device)
    r = torch.arange(H, device=x.device)[None, :, None]  # (1, H, 1)
    c = torch.arange(W, device=x.device)[None, None, :]  # (1, 1, W)
    top, left, h, w = (boxes[:, i, None, None] for i in range(4))  # each (B, 1, 1)
    inside = (r >= top) & (r < top + h) & (c >= left) & (c < left + w)  # (B, H, W)
    return x.masked_fill(inside[:, None], 0)


def normalize_batch(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 scaled to [0, 1] and normalised per channel."""
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x.float() / 255 - m) / s


class TensorBatches:
    """Training batches straight from an in-memory uint8 tensor, augmented on whole batches.

    Args:
        images: uint8 (N, C, H, W), on the device the model runs on (or the CPU).
        labels: int64 (N,).
        batch_size: the global batch size (all processes together).
        seed: with the epoch, fixes data order and every augmentation.
        crop_pad: random-crop padding in pixels (0 = no crop).
        flip: random horizontal flips.
        erase: probability of erasing a random rectangle (random erasing, Zhong et al. 2020).
        mean, std: normalisation applied after augmentation.
        rank, world_size: which share of each global batch this process takes (DistributedDataParallel).

    ``for x, y in batches.epoch(e)`` yields normalised float batches; the last incomplete
    batch is dropped so every step has the same size on every process.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int = 0,
                 crop_pad: int = 0, flip: bool = False, erase: float = 0.0, mean=(0.0,), std=(1.0,),
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} must be divisible by the number of processes {world_size}")
        if len(images) < batch_size:
            raise ValueError(f"only {len(images)} training images for a batch of {batch_size}: lower --batch-size")
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed
        self.crop_pad, self.flip, self.erase, self.mean, self.std = crop_pad, flip, erase, mean, std
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def epoch(self, epoch: int, start_step: int = 0):
        """Yield (x, y) for this process, for every step of the epoch from ``start_step``."""
        n, B = len(self.labels), self.batch_size
        g = epoch_generator(self.seed, epoch)
        perm = torch.randperm(n, generator=g)  # the same on every process
        H, W = self.images.shape[-2:]
        p = self.crop_pad
        dy = torch.randint(0, 2 * p + 1, (n,), generator=g) if p else None
        dx = torch.randint(0, 2 * p + 1, (n,), generator=g) if p else None
        fl = torch.rand(n, generator=g) < 0.5 if self.flip else None
        boxes = _erase_boxes(n, H, W, self.erase, g) if self.erase > 0 else None
        share = B // self.world_size
        for step in range(start_step, len(self)):
            lo = step * B + self.rank * share  # this process's slice of the global batch
            idx = perm[lo: lo + share]
            dev_idx = idx.to(self.images.device)
            x = self.images[dev_idx]  # (b, C, H, W) uint8
            if p:
                x = batch_random_crop(x, p, dy[idx], dx[idx])
            if fl is not None:
                x = batch_hflip(x, fl[idx])
            if boxes is not None:
                x = batch_random_erase(x, boxes[idx])
            yield normalize_batch(x, self.mean, self.std), self.labels[dev_idx]


def _erase_boxes(n: int, H: int, W: int, prob: float, g: torch.Generator) -> torch.Tensor:
    """(n, 4) rectangles covering 2-25% of the image with aspect ratio 0.3-3.3; height 0 where not erased."""
    area = (0.02 + 0.23 * torch.rand(n, generator=g)) * H * W
    logr = torch.empty(n).uniform_(-1.2, 1.2, generator=g)
    h = (area * logr.exp()).sqrt().round().clamp(1, H).long()
    w = (area / logr.exp()).sqrt().round().clamp(1, W).long()
    t = (torch.rand(n, generator=g) * (H - h + 1)).long()
    left = (torch.rand(n, generator=g) * (W - w + 1)).long()
    keep = torch.rand(n, generator=g) >= prob
    h = h.masked_fill(keep, 0)
    return torch.stack([t, left, h, w], 1)
