"""Training on several processes (``torchrun``) with DistributedDataParallel: who am I, join the group,
add numbers up, agree on when to stop.

Each process takes an equal share of every global batch, so a run on N processes ends where one
process with the same global batch ends (tests/train/test_distributed.py checks it).

Built in notebooks/06_training.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["dist_env", "setup_device", "init_distributed", "wrap", "all_sum", "rank0_decides", "finish"]


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) for a plain run."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def setup_device(device: str | torch.device | None = None) -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process, joining the process group under torchrun.

    ``device`` None picks this process's GPU when there is one (``cuda:<local rank>``), else the CPU.
    """
    rank, world_size, local_rank = dist_env()
    device = torch.device(device if device is not None else
                          f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and device.index is None and world_size > 1:
        device = torch.device("cuda", local_rank)
    if world_size > 1:
        init_distributed(device)
    return rank, world_size, device


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed(device: torch.device) -> None:
    """Join the process group torchrun set up: nccl between GPUs, gloo between CPU processes."""
    if not _active():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model wrapped in DistributedDataParallel, which averages gradients over the processes."""
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def all_sum(values: list[float], device) -> list[float]:
    """Each value summed over all processes (the values themselves outside a distributed run)."""
    if not _active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def rank0_decides(flag: bool, device) -> bool:
    """Process 0's ``flag`` on every process, so all of them stop at the same step."""
    if not _active():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def finish() -> None:
    """Leave the process group at the end of a distributed run."""
    if _active():
        dist.destroy_process_group()
