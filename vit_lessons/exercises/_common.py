"""What every exercise check shares: the error, the registry of exercises with their hints, the checks'
one return convention, and the comparisons that turn a wrong answer into a specific message.

The convention, the same for every ``check_*``:

- correct: prints one line starting with "Correct:" and returns True;
- not attempted (the learner's function still raises NotImplementedError): prints one line starting with
  "Not attempted yet:" that says how to ask for a hint, and returns None;
- wrong: raises :class:`ExerciseError` whose message names the exercise and says *what* is wrong (a
  forgotten scale, a transposed result…), never just "wrong".

Used by every lesson's exercises, notebooks/00_setup_and_data to notebooks/10_making_it_fast.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["randomize_", "ExerciseError", "Exercise", "EXERCISES", "exercise", "hint", "expect_shape", "expect_close",
           "expect_float", "expect_int", "judge_prediction"]

_TORCH_DIR = os.path.dirname(torch.__file__)


class ExerciseError(AssertionError):
    """An exercise answer is not right yet; the message says what to look at.

    Raised by every check in notebooks/00_setup_and_data to notebooks/10_making_it_fast.
    """


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id "NN.k", title, the function name the learner writes, and graded hints.

    Used by the checks and by ``hint`` in notebooks/00_setup_and_data to notebooks/10_making_it_fast.
    """

    id: str  # "03.2": lesson 03, exercise 2
    title: str  # "Split the heads", as in the notebook's heading
    answer: str  # the learner's function in the lesson, e.g. "my_split_heads"
    hints: tuple[str, ...]  # first a nudge, last the key line
    solutions: str  # the worked solutions' notebook, e.g. "03_attention"

    @property
    def label(self) -> str:
        """The heading used everywhere: "Exercise 03.2 · Split the heads"."""
        return f"Exercise {self.id} · {self.title}"


EXERCISES: dict[str, Exercise] = {}  # id -> Exercise; filled as each lesson module is imported


def exercise(id: str, title: str, *, answer: str, hints: tuple[str, ...]) -> Callable:
    """Decorator that registers an exercise and gives its check the one return convention.

    The decorated body takes the learner's function, raises ExerciseError when the answer is wrong, and
    returns a short description of what was checked, printed after "Correct:". The body runs on a forked
    random-number state, so a check never changes the learner's seeds.

    Args:
        id: "NN.k", NN the lesson of the module that defines the check.
        title: the exercise's title, as in the notebook's heading.
        answer: the name of the function the learner writes in the lesson.
        hints: at least two, graded: first a nudge, last the key line.
    """

    def wrap(body: Callable[[Callable], str]) -> Callable[[Callable], bool | None]:
        module = body.__module__.rsplit(".", 1)[-1]  # "l03_attention"
        if not re.fullmatch(r"\d\d\.\d+", id) or module[1:3] != id[:2] or len(hints) < 2 or id in EXERCISES:
            raise ValueError(f"exercise {id!r} in {module}: ids are 'NN.k' with NN the module's lesson, unique, "
                             "with at least two hints")
        ex = Exercise(id, title, answer, tuple(hints), solutions=module[1:])
        EXERCISES[id] = ex

        @functools.wraps(body)
        def check(fn) -> bool | None:
            try:
                with torch.random.fork_rng(devices=[]):
                    detail = body(fn)
            except NotImplementedError as err:
                if _raised_inside_torch(err):  # an operator torch lacks, not the learner's stub
                    raise
                print(f"Not attempted yet: {ex.label}. Replace `raise NotImplementedError(...)` with your code and "
                      f"run the cell again; stuck? hint(\"{id}\") gives a nudge.")
                return None
            except ExerciseError as err:
                raise ExerciseError(f"{ex.label}: {err}\n(stuck? hint(\"{id}\") gives a nudge)") from None
            print(f"Correct: {ex.label} — {detail}")
            return True

        check.exercise = ex
        return check

    return wrap


def _raised_inside_torch(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename.startswith(_TORCH_DIR)


def hint(exercise_id: str, level: int = 1) -> None:
    """Print hint number ``level`` of an exercise: ``hint("03.2")`` a nudge, ``hint("03.2", 2)`` the key line.

    Used in the exercises of notebooks/00_setup_and_data to notebooks/10_making_it_fast.
    """
    if not isinstance(exercise_id, str):
        raise ValueError(f"write the exercise id as a string, e.g. hint(\"03.2\"), not {exercise_id!r}")
    m = re.fullmatch(r"\s*(\d{1,2})\.(\d+)\s*", exercise_id)
    key = f"{int(m[1]):02d}.{int(m[2])}" if m else exercise_id
    if key not in EXERCISES:
        same_lesson = [k for k in EXERCISES if m and k[:2] == key[:2]]
        known = ", ".join(same_lesson or EXERCISES)
        raise ValueError(f"there is no exercise {exercise_id!r}; ids look like \"03.2\" (lesson 03, exercise 2). "
                         f"Known: {known}")
    ex = EXERCISES[key]
    n = len(ex.hints)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= n:
        raise ValueError(f"{ex.label} has hints 1 to {n}; you asked for hint({key!r}, {level!r})")
    print(f"{ex.label}, hint {level} of {n}: {ex.hints[level - 1]}")
    if level < n:
        print(f"Still stuck? hint(\"{key}\", {level + 1})")
    else:
        print(f"That was the last hint; the worked solution is in notebooks/solutions/{ex.solutions}.ipynb")


def expect_shape(got, want: tuple, what: str, wrong_shapes: dict | None = None) -> None:
    """Raise ExerciseError unless ``got`` is a tensor of shape ``want``.

    ``wrong_shapes`` maps shapes that typical mistakes produce to the message for that mistake.
    Used by the checks of notebooks/00_setup_and_data to notebooks/10_making_it_fast.
    """
    if isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[0], torch.Tensor):
        raise ExerciseError(f"{what}: return one tensor, not a tuple")
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{what} should be a torch.Tensor, got {type(got).__name__}")
    shape, want = tuple(got.shape), tuple(want)
    if shape != want and wrong_shapes and shape in wrong_shapes:
        raise ExerciseError(f"{what} has shape {shape} instead of {want}: {wrong_shapes[shape]}")
    if shape != want:
        raise ExerciseError(f"{what} has shape {shape} but should have {want}")


def expect_close(got: torch.Tensor, want: torch.Tensor, what: str, hints=(), atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless ``got`` equals ``want``; ``hints`` are (tensor, message) pairs for typical mistakes.

    When ``got`` matches a hint's tensor instead, that hint's message is the error: this is how a check
    recognises "you forgot the 1/sqrt(d) scale" rather than saying "wrong".
    Used by the checks of notebooks/00_setup_and_data to notebooks/10_making_it_fast.
    """
    expect_shape(got, tuple(want.shape), what)
    got = got.detach().to(want.dtype)
    if torch.allclose(got, want, atol=atol, rtol=rtol):
        return
    for alt, msg in hints:
        if tuple(alt.shape) == tuple(got.shape) and torch.allclose(got, alt.to(got.dtype), atol=atol, rtol=rtol):
            raise ExerciseError(f"{what}: {msg}")
    err = (got - want).abs().max().item()
    raise ExerciseError(f"{what} has the right shape but wrong values (largest difference {err:.3g})")


def expect_float(got, what: str) -> None:
    """Raise ExerciseError when ``got`` is an integer tensor (uint8 images not converted yet).

    Used by the checks of notebooks/00_setup_and_data and notebooks/02_embeddings.
    """
    if isinstance(got, torch.Tensor) and not torch.is_floating_point(got):
        raise ExerciseError(f"{what} is {got.dtype}; it should be a float tensor (convert with .float())")


def expect_int(got, where: str) -> int:
    """``got`` as a Python int (a whole float or a one-element tensor is accepted); ExerciseError otherwise.

    Used by the counting checks of notebooks/04_encoder_block and notebooks/05_vision_transformer.
    """
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, float) and got == int(got):
        got = int(got)
    if not isinstance(got, int) or isinstance(got, bool):
        raise ExerciseError(f"{where} should return an int, got {type(got).__name__} {got!r}")
    return got


def randomize_(model: torch.nn.Module, seed: int = 0, scale: float = 0.2, add: bool = False,
               buffers: bool = False) -> torch.nn.Module:
    """Random weights, so no check (or test) passes by zeros, ones or an initialisation's symmetry: every
    parameter (and with ``buffers`` every float buffer) replaced by N(0, scale^2) draws, or with ``add`` moved
    by them, from a generator seeded with ``seed``. Returns the model.

    The one randomiser of the exercises' checks and of the tests (tests/conftest.py).
    """
    g = torch.Generator().manual_seed(seed)
    tensors = list(model.parameters()) + ([b for b in model.buffers() if b.is_floating_point()] if buffers else [])
    with torch.no_grad():
        for t in tensors:
            noise = torch.randn(t.shape, generator=g) * scale
            t.add_(noise) if add else t.copy_(noise)
    return model


def judge_prediction(fn: Callable, name: str, actual: float, tol: float, why: str) -> str:
    """The learner's prediction, written as ``name = <number>`` beside ``fn`` (in the notebook cell that defines
    ``fn``), compared with the computed ``actual``: returns a phrase for the "Correct:" line, "your prediction was
    right" within ``tol``, else "you predicted X, the computation gives Y: " and ``why``. Raises ExerciseError when no
    number was written, so the prediction comes before the code.

    The prediction is read from the namespace ``fn`` was defined in (``fn.__globals__``), so the check keeps the one
    call ``ok = check_x(my_fn)``. Used by the predict-then-compute exercises of notebooks/06_training and
    notebooks/09_small_data.
    """
    missing = object()
    guess = getattr(fn, "__globals__", {}).get(name, missing)
    how = (f"write your prediction first: `{name} = <a number>` above the function, in the same cell, before you "
           "compute anything (it is not marked; a wrong guess is part of the exercise)")
    if guess is missing or guess is None:
        raise ExerciseError(how)
    if isinstance(guess, torch.Tensor) and guess.numel() == 1:
        guess = guess.item()
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        raise ExerciseError(f"{name} is {guess!r}, not a number: {how}")
    if math.isfinite(guess) and abs(guess - actual) <= tol:
        return f"your prediction {guess:g} was right (computed: {actual:.4g})"
    return f"you predicted {guess:g}, the computation gives {actual:.4g}: {why}"
