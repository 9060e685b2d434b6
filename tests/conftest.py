"""Shared fixtures: a seeded RNG, one torch thread, the datasets, tiny training set-ups."""

import importlib.util
from pathlib import Path

import pytest
import torch

from vit_lessons.config import ViTConfig
from vit_lessons.data import DatasetNotFoundError, load_dataset, load_digits
from vit_lessons.exercises._common import randomize_ as _randomize
from vit_lessons.train import Recipe


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and buffer random values, so parity can't pass by zeros or ones."""
    return _randomize(model, seed, buffers=True)


SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


def load_solution(stem: str):
    """Import notebooks/solutions/<stem>.py (a jupytext notebook) as a module; running it runs its checks."""
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", SOLUTIONS / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stub(*args):
    """A learner's function that has not been written yet."""
    raise NotImplementedError("your code here")


@pytest.fixture
def one_thread():
    """One thread: tiny models gain nothing from more, and threads wait on each other on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The vit-lessons wheel built from this tree, once per session (tests/wheel_env.py)."""
    from wheel_env import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits (always on the machine): the dataset training tests run on."""
    return load_digits()


@pytest.fixture(scope="session")
def fashion_mnist():
    """Fashion-MNIST if this machine has it (Debian's dataset-fashion-mnist); the test is skipped otherwise."""
    try:
        return load_dataset("fashion-mnist", download=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not on this machine (apt-get install dataset-fashion-mnist)")


def tiny_digits_setup(**recipe):
    """A 2-block model for the digits and a 2-epoch recipe with every augmentation on: seconds to train."""
    cfg = ViTConfig.digits_cpu(embed_dim=32, depth=2, num_heads=2)
    base = dict(epochs=2, batch_size=32, lr=3e-3, warmup=0.1, crop_pad=1, flip=True, erase=0.3)
    base.update(recipe)
    return cfg, Recipe(**base)
