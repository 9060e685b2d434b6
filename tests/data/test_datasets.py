"""The datasets: the offline search for Fashion-MNIST, CIFAR files, digits, and clear messages."""

import gzip
import shutil

import matplotlib
import pytest
import torch
import torchvision.datasets

import vit_lessons.data.datasets as data
from vit_lessons.data import (
    DATASETS,
    DatasetNotFoundError,
    TensorBatches,
    channel_stats,
    class_counts,
    find_fashion_mnist,
    load_cifar,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    write_cifar_files,
)
from vit_lessons.train import default_setup
from vit_lessons.viz import dataset_grid

HAS_DEBIAN = data._fmnist_dir(data.DEBIAN_FASHION_MNIST) is not None
needs_fmnist = pytest.mark.skipif(not HAS_DEBIAN, reason="apt-get install dataset-fashion-mnist")


@needs_fmnist
def test_fashion_mnist_from_debian_files(fashion_mnist):
    assert fashion_mnist.source == str(data.DEBIAN_FASHION_MNIST)
    assert fashion_mnist.train_x.shape == (60000, 1, 28, 28) and fashion_mnist.train_x.dtype == torch.uint8
    assert fashion_mnist.test_x.shape == (10000, 1, 28, 28)
    assert class_counts(fashion_mnist.train_y, 10).tolist() == [6000] * 10
    assert class_counts(fashion_mnist.test_y, 10).tolist() == [1000] * 10
    mean, std = channel_stats(fashion_mnist.train_x)
    assert mean[0] == pytest.approx(DATASETS["fashion-mnist"].mean[0], abs=1e-3)
    assert std[0] == pytest.approx(DATASETS["fashion-mnist"].std[0], abs=1e-3)


def _fake_fmnist(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, shape in [("train-images-idx3-ubyte", (n, 28, 28)), ("train-labels-idx1-ubyte", (n,)),
                        ("t10k-images-idx3-ubyte", (n, 28, 28)), ("t10k-labels-idx1-ubyte", (n,))]:
        header = bytes([0, 0, 8, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
        body = bytes((i * 7) % 256 if len(shape) > 1 else i % 10 for i in range(int(torch.tensor(shape).prod())))
        with gzip.open(folder / f"{stem}.gz", "wb") as f:
            f.write(header + body)
    return folder


def test_search_order(tmp_path, monkeypatch):
    explicit = _fake_fmnist(tmp_path / "explicit")
    env = _fake_fmnist(tmp_path / "env" / "FashionMNIST" / "raw")  # torchvision's layout
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert find_fashion_mnist(explicit) == explicit
    assert find_fashion_mnist() == env
    d = load_fashion_mnist(explicit, download=False)
    assert d.train_x.shape == (5, 1, 28, 28) and d.train_y.tolist() == [0, 1, 2, 3, 4]
    monkeypatch.delenv(data.ENV_VAR)
    if HAS_DEBIAN:
        assert find_fashion_mnist() == data.DEBIAN_FASHION_MNIST


def test_not_found_offline_message(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    with pytest.raises(DatasetNotFoundError, match=r"apt-get install dataset-fashion-mnist.*VIT_LESSONS_DATA") as e:
        load_fashion_mnist(download=False)
    assert "switched off (--no-download on the command line, download=False in Python)" in str(e.value)


def test_failed_download_message(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetNotFoundError, match="the download failed: no network"):
        load_fashion_mnist()


def test_corrupt_file_message(tmp_path):
    folder = _fake_fmnist(tmp_path / "bad")
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"not an idx file")
    with pytest.raises(ValueError, match="not an IDX file.*re-download"):
        load_fashion_mnist(folder, download=False)


@needs_fmnist
def test_uncompressed_files_work(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for f in data.FMNIST_FILES:
        with gzip.open(data.DEBIAN_FASHION_MNIST / f) as src, open(folder / f[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    assert load_fashion_mnist(folder, download=False).test_x.shape == (10000, 1, 28, 28)


@pytest.mark.parametrize("name, n_cls", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_path_on_written_files(tmp_path, name, n_cls):
    write_cifar_files(tmp_path, name, n_train=30, n_test=12)
    d = load_cifar(name, tmp_path, download=False)
    n_train = 30 * (5 if name == "cifar10" else 1)
    assert d.train_x.shape == (n_train, 3, 32, 32) and d.test_x.shape == (12, 3, 32, 32)
    assert d.train_y.max() < n_cls and d.info.num_classes == n_cls
    assert load_dataset(name, tmp_path, download=False).train_x.shape == d.train_x.shape
    _, recipe = default_setup(name)  # the CIFAR recipe's augmentation runs on these files
    batches = TensorBatches(d.train_x, d.train_y, 8, crop_pad=recipe.crop_pad, flip=recipe.flip, erase=recipe.erase,
                            mean=d.info.mean, std=d.info.std)
    x, y = next(iter(batches.epoch(0)))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_cifar_missing_message(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar10: .* lacks .*data_batch_1") as e:
        load_cifar("cifar10", tmp_path, download=False)
    assert "downloading is switched off (--no-download on the command line" in str(e.value)
    assert "download=True" not in str(e.value)


def test_digits():
    d = load_digits()
    assert d.train_x.shape[1:] == (1, 8, 8) and len(d.train_x) + len(d.test_x) == 1797
    assert d.train_x.max() == 255
    mean, std = channel_stats(d.train_x)
    assert mean[0] == pytest.approx(DATASETS["digits"].mean[0], abs=1e-3)
    assert std[0] == pytest.approx(DATASETS["digits"].std[0], abs=1e-3)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*choose one of"):
        load_dataset("mnist")


@needs_fmnist
def test_dataset_grid_figure(fashion_mnist):
    matplotlib.use("Agg")
    fig = dataset_grid(fashion_mnist, per_class=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:10] == list(fashion_mnist.info.classes)
    assert len(fig.axes) == 20
