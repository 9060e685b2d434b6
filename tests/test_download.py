"""One download path: failed downloads become clear errors with the library's error as their cause."""

import urllib.error

import pytest

from vit_lessons.data import DatasetNotFoundError
from vit_lessons.download import DownloadError, download


def test_a_failed_download_names_what_and_keeps_the_cause():
    def offline():
        raise urllib.error.URLError("no route to host")

    with pytest.raises(DownloadError, match=r"could not get the weights \(URLError: .*no route.*\); try later") \
            as info:
        download("the weights", offline, "try later")
    assert isinstance(info.value.__cause__, urllib.error.URLError)


def test_a_bug_is_not_reported_as_a_download_failure():
    def bug():
        raise TypeError("a bug, not the network")

    with pytest.raises(TypeError, match="a bug"):
        download("the weights", bug, "try later")


def test_fashion_mnist_download_failure_chains_the_cause(tmp_path, monkeypatch):
    import torchvision.datasets

    from vit_lessons.data import datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    monkeypatch.setattr(datasets, "find_fashion_mnist", lambda root=None: None)
    with pytest.raises(DatasetNotFoundError, match="the download failed") as info:
        datasets.load_fashion_mnist(tmp_path, download=True)
    assert isinstance(info.value.__cause__, urllib.error.URLError)


def test_transfer_reports_a_failed_weight_download_as_a_checkpoint_error(monkeypatch):
    import torchvision.models

    from vit_lessons.train import CheckpointError
    from vit_lessons.transfer import _library_model

    def offline(weights=None):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torchvision.models, "vit_b_16", offline)
    with pytest.raises(CheckpointError, match="could not get torchvision's vit_b_16 weights") as info:
        _library_model("torchvision:vit_b_16", pretrained=True)
    assert isinstance(info.value.__cause__, urllib.error.URLError)
