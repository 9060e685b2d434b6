"""The one way the package downloads (datasets through torchvision, weights through torchvision or timm):
a failed download becomes a :class:`DownloadError` that says what was being fetched and what to do,
with the library's own error chained as its cause. Only what a download raises is caught; a bug stays a bug.

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["DOWNLOAD_ERRORS", "DownloadError", "download"]

# what a failed download raises: urllib's URLError and HTTPError, requests' and the Hugging Face Hub's errors
# are OSErrors; torchvision reports a bad or missing file as a RuntimeError
DOWNLOAD_ERRORS = (OSError, RuntimeError)
T = TypeVar("T")


class DownloadError(RuntimeError):
    """A download failed (no network, a server error, a damaged file); the library's error is its ``__cause__``.

    Built in notebooks/00_setup_and_data.
    """


def download(what: str, get: Callable[[], T], advice: str) -> T:
    """``get()``, turning a failed download into a DownloadError naming ``what`` and ``advice``.

    Built in notebooks/00_setup_and_data.
    """
    try:
        return get()
    except DOWNLOAD_ERRORS as e:
        raise DownloadError(f"could not get {what} ({type(e).__name__}: {e}); {advice}") from e
