"""What a run ran on: the command, library versions, the machine, its load. Recorded in every run's
config.json and checkpoint and in every benchmark result; printed by every lesson's setup cell. Also
:func:`quiet_native_stderr`, for the lines native libraries print past Python (torch.profiler's).

Built in notebooks/00_setup_and_data.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

import einops
import numpy
import torch

from . import __version__

__all__ = ["command", "versions", "machine", "environment", "loadavg", "quiet_native_stderr", "flush_denormal",
           "flushes_denormals"]


def command() -> str:
    """The ``python -m vit_lessons ...`` command that is running, as a user would type it."""
    return "python -m vit_lessons " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def versions() -> dict:
    """Versions of Python and of the libraries every result depends on.

    torchvision's is read from its package metadata: importing it costs ~3 s, and only a download needs it.
    """
    return {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": metadata.version("torchvision"), "einops": einops.__version__, "numpy": numpy.__version__,
            "vit_lessons": __version__}


def machine() -> dict:
    """The CPU (its model name where Linux tells it), core and thread counts, GPU and platform."""
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):  # not Linux, or a CPU that names no model: keep platform's word
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform()}


def environment() -> dict:
    """Versions and machine in one dict: what every config.json and checkpoint records."""
    return versions() | machine()


def loadavg() -> str:
    """The 1/5/15-minute load averages (``/proc/loadavg``), or '' where there is none."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


@contextlib.contextmanager
def quiet_native_stderr():
    """Inside the block, what C/C++ code writes straight to the process's stderr (file descriptor 2) is
    dropped: torch.profiler's tracing library prints 'profiler_start'/'profiler_stop' lines there, which
    Jupyter would show under the cell. Python's own ``sys.stderr`` in a notebook is not descriptor 2, so
    warnings and errors raised in the block still show; in a terminal they are dropped too, so keep the
    block to the noisy call. Used in notebooks/10_making_it_fast.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def flushes_denormals() -> bool:
    """True when this process's CPU arithmetic flushes denormal numbers to zero (``torch.set_flush_denormal``)."""
    tiny = torch.tensor([1e-39])  # below float32's smallest normal number (1.2e-38): a denormal
    return bool((tiny * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormal(on: bool = True):
    """Inside the block, CPU arithmetic flushes denormals to zero; after it, the process's setting is restored.

    Tiny values (denormals) in AdamW's moment estimates make CPU arithmetic many times slower as
    training goes on; flushing them costs nothing in accuracy. The Trainer trains inside this block,
    so a notebook kernel behaves the same before and after a training cell.
    """
    before = flushes_denormals()
    if on:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
