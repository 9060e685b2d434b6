"""The datasets the course trains on: the registry, the loaders, and the offline search for Fashion-MNIST.

Every dataset loads into memory as uint8 tensors (B, C, H, W) plus int64 labels: small,
fast, and easy to move to a GPU whole. Fashion-MNIST is the default (real, small,
trains on a CPU); CIFAR-10/100 download through torchvision when online; scikit-learn's
8x8 digits ship inside scikit-learn.

Where Fashion-MNIST is looked for, in order:
  1. an explicit ``root`` argument,
  2. the ``VIT_LESSONS_DATA`` environment variable,
  3. Debian's ``dataset-fashion-mnist`` package (/usr/share/datasets/fashion-mnist),
  4. the cache folder (~/.cache/vit_lessons), downloading there with torchvision if allowed.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..download import DownloadError
from ..download import download as fetch  # `download` is the loaders' on/off argument

__all__ = ["DatasetInfo", "DATASETS", "ImageData", "DatasetNotFoundError", "load_dataset", "load_fashion_mnist",
           "load_cifar", "load_digits", "find_fashion_mnist", "DEBIAN_FASHION_MNIST", "ENV_VAR", "write_cifar_files",
           "class_counts", "channel_stats"]

ENV_VAR = "VIT_LESSONS_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vit_lessons"
FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on this machine and could not be downloaded.

    Built in notebooks/00_setup_and_data.
    """


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset.

    Built in notebooks/00_setup_and_data.
    """

    name: str
    classes: tuple[str, ...]
    img_size: int
    in_chans: int
    mean: tuple[float, ...]  # per-channel mean of the training images in [0, 1]
    std: tuple[float, ...]  # per-channel standard deviation, same units

    @property
    def num_classes(self) -> int:
        """How many classes."""
        return len(self.classes)


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)

DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        28, 1, (0.2860,), (0.3530,)),
    "cifar10": DatasetInfo("cifar10", CIFAR10_CLASSES, 32, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetInfo("cifar100", CIFAR100_CLASSES, 32, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "digits": DatasetInfo("digits", tuple(str(i) for i in range(10)), 8, 1, (0.3057,), (0.3759,)),
}


@dataclass
class ImageData:
    """A dataset in memory: uint8 images (N, C, H, W) and int64 labels, train, test and (once held out) validation.

    ``val_x``/``val_y`` stay None until a run holds out its validation images (data/split.py).

    Built in notebooks/00_setup_and_data.
    """

    info: DatasetInfo
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str = ""  # where it was read from
    val_x: torch.Tensor | None = None  # held out of the training images to choose on (data/split.py)
    val_y: torch.Tensor | None = None

    def __repr__(self) -> str:
        val = f", validation {tuple(self.val_x.shape)}" if self.val_x is not None else ""
        return (f"ImageData({self.info.name}: train {tuple(self.train_x.shape)}{val}, test {tuple(self.test_x.shape)}, "
                f"{self.info.num_classes} classes, from {self.source})")


def _check_name(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


# ---- Fashion-MNIST ---------------------------------------------------------------------------------
def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number); re-download it")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: {arr.size} bytes for shape {dims}; re-download it")
    return arr.reshape(dims)


def _fmnist_dir(folder: Path) -> Path | None:
    """The folder holding the four .gz files: folder itself or torchvision's FashionMNIST/raw below it."""
    for cand in (folder, folder / "FashionMNIST" / "raw", folder / "fashion-mnist"):
        if all((cand / f).exists() or (cand / f[:-3]).exists() for f in FMNIST_FILES):
            return cand
    return None


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path | None:
    """Where Fashion-MNIST is on this machine (see the module docstring for the order), or None."""
    candidates = []
    if root is not None:
        candidates.append(Path(root))
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates += [DEBIAN_FASHION_MNIST, CACHE]
    for c in candidates:
        found = _fmnist_dir(c)
        if found is not None:
            return found
    return None


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> ImageData:
    """Fashion-MNIST, 60,000 train and 10,000 test 28x28 grey images of 10 clothing classes."""
    folder = find_fashion_mnist(root)
    if folder is None and download:
        # torchvision takes ~3 s to import and only a download needs it
        from torchvision.datasets import FashionMNIST

        def get():
            FashionMNIST(str(CACHE), train=True, download=True)
            FashionMNIST(str(CACHE), train=False, download=True)

        try:
            fetch("Fashion-MNIST", get, "see below")
        except DownloadError as e:
            raise DatasetNotFoundError(_fmnist_help(root, f"the download failed: {e.__cause__}")) from e.__cause__
        folder = find_fashion_mnist(root)
    if folder is None:
        raise DatasetNotFoundError(_fmnist_help(root, "downloading is switched off (--no-download on the command "
                                                      "line, download=False in Python)"))

    def read(stem: str) -> np.ndarray:
        p = folder / stem
        return _read_idx(p if p.exists() else folder / stem[:-3])

    tx, ty, vx, vy = (read(f) for f in FMNIST_FILES)
    return ImageData(DATASETS["fashion-mnist"], torch.from_numpy(tx.copy())[:, None],
                     torch.from_numpy(ty.astype(np.int64)), torch.from_numpy(vx.copy())[:, None],
                     torch.from_numpy(vy.astype(np.int64)), source=str(folder))


def _fmnist_help(root, why: str) -> str:
    looked = ([str(root)] if root else []) + ([f"${ENV_VAR}={os.environ[ENV_VAR]}"] if os.environ.get(ENV_VAR)
                                              else []) + [str(DEBIAN_FASHION_MNIST), str(CACHE)]
    return ("Fashion-MNIST not found (looked in: " + ", ".join(looked) + f") and {why}. Get it one of these ways: "
            "on Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist`; or put the four *-ubyte.gz files "
            f"in a folder and point to it (--root / --data-root on the command line, root=... in Python) or set "
            f"{ENV_VAR}=that/folder; or run once with internet access, downloading allowed.")


# ---- CIFAR -------------------------------------------------------------------------------------
_CIFAR = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
          "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels")}


def _read_cifar_batches(folder: Path, files: list[str], label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for f in files:
        with open(folder / f, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_cifar(name: str = "cifar10", root: str | os.PathLike | None = None, download: bool = True) -> ImageData:
    """CIFAR-10 or CIFAR-100 from the python pickles (torchvision's download format)."""
    info = _check_name(name)
    if name not in _CIFAR:
        raise ValueError(f"load_cifar takes 'cifar10' or 'cifar100', got {name!r}")
    sub, train_files, test_files, key = _CIFAR[name]
    root = Path(root or os.environ.get(ENV_VAR) or CACHE)
    folder = root / sub
    if not all((folder / f).exists() for f in train_files + test_files) and download:
        # torchvision takes ~3 s to import and only a download needs it
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        try:
            fetch(name, lambda: cls(str(root), train=True, download=True), "see below")
        except DownloadError as e:
            raise DatasetNotFoundError(
                f"{name} not found in {folder} and the download failed ({e.__cause__}). Run once with internet "
                f"access (Colab has it), or copy torchvision's '{sub}' folder into {root}.") from e.__cause__
    missing = [f for f in train_files + test_files if not (folder / f).exists()]
    if missing:
        why = "" if download else (" and downloading is switched off (--no-download on the command line, "
                                   "download=False in Python)")
        raise DatasetNotFoundError(f"{name}: {folder} lacks {missing}{why}. Download it once with internet access "
                                   f"(Colab has it; leave downloading on), or copy torchvision's '{sub}' folder "
                                   f"into {root}.")
    tx, ty = _read_cifar_batches(folder, train_files, key)
    vx, vy = _read_cifar_batches(folder, test_files, key)
    return ImageData(info, tx, ty, vx, vy, source=str(folder))


def write_cifar_files(root: str | os.PathLike, name: str = "cifar10", n_train: int = 50, n_test: int = 20,
                      seed: int = 0) -> Path:
    """Write small CIFAR-format pickles (random images) under root, for testing the CIFAR path offline."""
    sub, train_files, test_files, key = _CIFAR[name]
    folder = Path(root) / sub
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_cls = DATASETS[name].num_classes
    for files, n in ((train_files, n_train), (test_files, n_test)):
        for f in files:
            d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: rng.integers(0, n_cls, n).tolist(), b"batch_label": f.encode()}
            with open(folder / f, "wb") as fh:
                pickle.dump(d, fh)
    return folder


# ---- digits --------------------------------------------------------------------------------------
def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's 1,797 8x8 handwritten digits, split train/test with a fixed seed."""
    # scikit-learn takes ~1 s to import and only this dataset needs it
    from sklearn.datasets import load_digits as _sk

    d = _sk()
    x = torch.from_numpy(np.round(d.images * (255 / 16)).astype(np.uint8))[:, None]  # (N, 1, 8, 8), 0..255
    y = torch.from_numpy(d.target.astype(np.int64))
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    n_test = int(len(y) * test_fraction)
    te, tr = perm[:n_test], perm[n_test:]
    return ImageData(DATASETS["digits"], x[tr], y[tr], x[te], y[te], source="sklearn.datasets.load_digits")


def load_dataset(name: str = "fashion-mnist", root: str | os.PathLike | None = None,
                 download: bool = True) -> ImageData:
    """Any course dataset by name: 'fashion-mnist', 'cifar10', 'cifar100' or 'digits'."""
    _check_name(name)
    if name == "fashion-mnist":
        return load_fashion_mnist(root, download)
    if name == "digits":
        return load_digits()
    return load_cifar(name, root, download)


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """How many examples of each class."""
    return torch.bincount(labels, minlength=num_classes)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) images, in [0, 1] units."""
    x = images.float().div_(255)
    return tuple(x.mean((0, 2, 3)).tolist()), tuple(x.std((0, 2, 3)).tolist())
