"""What every lesson's exercise tests share: its worked solutions, the passing check, the table of mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import load_solution

from vit_lessons import exercises
from vit_lessons.exercises import EXERCISES

# exercise id -> its check function, found through the package's public names
CHECKS = {f.exercise.id: f for f in (getattr(exercises, n) for n in exercises.__all__) if hasattr(f, "exercise")}


@pytest.fixture(scope="module")
def sol(request):
    """The test module's worked solutions (notebooks/solutions/<SOLUTIONS>.py); loading runs their checks."""
    return load_solution(request.module.SOLUTIONS)


def assert_solutions_pass(sol, capsys) -> None:
    """Every exercise of the solutions' lesson passes with its worked answer, leaving the global RNG alone."""
    lesson = Path(sol.__file__).name[:2]  # "03" from notebooks/solutions/03_attention.py
    ids = [i for i in EXERCISES if i.startswith(lesson + ".")]
    assert ids, f"no exercises registered for lesson {lesson}"
    capsys.readouterr()
    for i in ids:
        torch.manual_seed(123)
        before = torch.rand(3)
        torch.manual_seed(123)
        assert CHECKS[i](getattr(sol, EXERCISES[i].answer)) is True, i
        torch.testing.assert_close(torch.rand(3), before, rtol=0, atol=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" · ")[0] for line in lines] == [f"Correct: Exercise {i}" for i in ids]


def mistakes(table: dict) -> list:
    """pytest params (check, fn, match) from ``{check: [(fn, match), ...]}``, named after the check and the match."""
    return [pytest.param(check, fn, match, id=f"{check.__name__.removeprefix('check_')}-{k}")
            for check, cases in table.items() for k, (fn, match) in enumerate(cases)]
