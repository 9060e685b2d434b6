"""Self-checks for the notebook exercises.

Each ``check_*`` function takes the learner's answer, runs it against the reference on
fixed inputs and either prints a line starting with "Correct" or raises
:class:`ExerciseError` whose message says *what* is wrong (wrong shape, wrong values,
a forgotten scale…), never just "wrong". Worked solutions live in notebooks/solutions/.
"""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "passed", "expect_shape", "expect_close"]


class ExerciseError(AssertionError):
    """An exercise answer is not right yet; the message says what to look at."""


def passed(what: str) -> bool:
    """Print the success line and return True (so a check can be asserted in tests)."""
    print(f"Correct: {what}")
    return True


def expect_shape(got, expected: tuple, what: str) -> None:
    """Raise ExerciseError unless ``got`` is a tensor of shape ``expected``."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{what} should be a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected):
        raise ExerciseError(f"{what} has shape {tuple(got.shape)} but should have {tuple(expected)}")


def expect_close(got: torch.Tensor, want: torch.Tensor, what: str, hints=(), atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless ``got`` equals ``want``; ``hints`` are (tensor, message) pairs for typical mistakes.

    When ``got`` matches a hint's tensor instead, that hint's message is the error: this is
    how a check recognises "you forgot the 1/sqrt(d) scale" rather than saying "wrong".
    """
    expect_shape(got, tuple(want.shape), what)
    got = got.detach().to(want.dtype)
    if torch.allclose(got, want, atol=atol, rtol=rtol):
        return
    for alt, msg in hints:
        if alt is not None and tuple(alt.shape) == tuple(got.shape) and torch.allclose(got, alt.to(got.dtype),
                                                                                      atol=atol, rtol=rtol):
            raise ExerciseError(f"{what}: {msg}")
    err = (got - want).abs().max().item()
    raise ExerciseError(f"{what} has the right shape but wrong values (largest difference {err:.3g})")


# ---- lessons 00-02 (data, patches, embeddings) --------------------------------------------------

# ---- lessons 03-05 (attention, encoder block, the model) ----------------------------------------

# ---- lesson 06 (training) -----------------------------------------------------------------------
