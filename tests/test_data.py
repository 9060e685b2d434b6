import gzip
import shutil

import pytest
import torch

import vit_lessons.data as data
from vit_lessons.data import (
    DATASETS,
    DatasetNotFoundError,
    channel_stats,
    class_counts,
    find_fashion_mnist,
    load_cifar,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    make_loaders,
    test_transform,
    train_transform,
    write_cifar_files,
)

HAS_DEBIAN = data._fmnist_dir(data.DEBIAN_FASHION_MNIST) is not None
needs_fmnist = pytest.mark.skipif(not HAS_DEBIAN, reason="apt-get install dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fmnist():
    return load_fashion_mnist(download=False)


@needs_fmnist
def test_fashion_mnist_from_debian_files(fmnist):
    assert fmnist.source == str(data.DEBIAN_FASHION_MNIST)
    assert fmnist.train_x.shape == (60000, 1, 28, 28) and fmnist.train_x.dtype == torch.uint8
    assert fmnist.test_x.shape == (10000, 1, 28, 28)
    assert class_counts(fmnist.train_y, 10).tolist() == [6000] * 10
    assert class_counts(fmnist.test_y, 10).tolist() == [1000] * 10
    mean, std = channel_stats(fmnist.train_x)
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
    with pytest.raises(DatasetNotFoundError, match=r"apt-get install dataset-fashion-mnist.*VIT_LESSONS_DATA"):
        load_fashion_mnist(download=False)


def test_failed_download_message(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    import torchvision.datasets

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
    tr, te = make_loaders(d, batch_size=8)
    x, y = next(iter(tr))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32


def test_cifar_missing_message(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar10: .* lacks .*data_batch_1"):
        load_cifar("cifar10", tmp_path, download=False)


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


def test_transforms_and_loaders():
    d = load_digits()
    info = d.info
    x = d.train_x[0]
    t = test_transform(info)(x)
    assert t.dtype == torch.float32
    torch.testing.assert_close(t, (x.float() / 255 - info.mean[0]) / info.std[0])
    torch.manual_seed(0)
    a = train_transform(info)(x)
    assert a.shape == (1, 8, 8)
    tr, te = make_loaders(d, batch_size=64, seed=3)
    xb, yb = next(iter(tr))
    assert xb.shape == (64, 1, 8, 8) and yb.dtype == torch.int64
    xb2, _ = next(iter(make_loaders(d, batch_size=64, seed=3)[0]))
    assert torch.equal(next(iter(te))[1], d.test_y[:128])
    assert xb2.shape == xb.shape


@needs_fmnist
def test_dataset_grid_figure(fmnist):
    import matplotlib

    matplotlib.use("Agg")
    from vit_lessons.viz import dataset_grid

    fig = dataset_grid(fmnist, per_class=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:10] == list(fmnist.info.classes)
    assert len(fig.axes) == 20
