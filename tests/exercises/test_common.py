"""What every check shares (vit_lessons/exercises/_common.py): one "not attempted" line, errors that name the
exercise, the global RNG left alone, graded hints, and one "Exercise NN.k · title" in code and notebooks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import stub
from torch import nn

from vit_lessons import exercises
from vit_lessons.exercises import EXERCISES, ExerciseError, check_layer_norm, hint
from vit_lessons.exercises._common import exercise

from .conftest import CHECKS

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
IDS = sorted(EXERCISES)


def test_every_lesson_has_exercises_and_every_check_is_exported():
    lessons = sorted(p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert {i[:2] for i in IDS} == set(lessons), "every lesson has exercises, and no exercise lacks its lesson"
    assert set(CHECKS) == set(EXERCISES)
    for lesson in lessons:  # numbered 1, 2, 3... with no gap
        ks = sorted(int(i[3:]) for i in IDS if i[:2] == lesson)
        assert ks == list(range(1, len(ks) + 1)), (lesson, ks)
    assert sorted(exercises.__all__) == sorted(set(exercises.__all__))


@pytest.mark.parametrize("exercise_id", IDS)
def test_unattempted_stub_prints_one_not_attempted_line(exercise_id, capsys):
    assert CHECKS[exercise_id](stub) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    assert out.startswith(f"Not attempted yet: {EXERCISES[exercise_id].label}."), out
    assert f'hint("{exercise_id}")' in out


@pytest.mark.parametrize("exercise_id", IDS)
def test_check_leaves_global_rng_alone(exercise_id, capsys):
    def draws_then_gives_up(*args):
        torch.rand(5)
        raise NotImplementedError("your code here")

    torch.manual_seed(7)
    want = torch.rand(3)
    torch.manual_seed(7)
    CHECKS[exercise_id](draws_then_gives_up)
    torch.testing.assert_close(torch.rand(3), want, rtol=0, atol=0)


def test_wrong_answer_names_the_exercise_and_the_hint():
    with pytest.raises(ExerciseError, match="forgot the bias") as err:
        check_layer_norm(lambda x, w, b, eps: (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False)
                                                                              + eps).sqrt() * w)
    assert str(err.value).startswith("Exercise 04.1 · LayerNorm by hand (warm-up): LayerNorm output: forgot the bias")
    assert 'hint("04.1")' in str(err.value)


def test_not_implemented_inside_torch_is_not_taken_for_a_stub(capsys):
    with pytest.raises(NotImplementedError, match="forward"):
        check_layer_norm(lambda x, w, b, eps: nn.Module()(x))  # no forward: torch raises, not the learner's stub
    assert "Not attempted" not in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", IDS)
def test_docstring_and_notebooks_use_the_same_heading(exercise_id):
    ex, check = EXERCISES[exercise_id], CHECKS[exercise_id]
    assert check.__doc__.startswith(f"{ex.label}: "), check.__doc__
    assert check.__doc__.rstrip().endswith(f"Used in notebooks/{ex.solutions}."), check.__doc__
    lesson = (NOTEBOOKS / f"{ex.solutions}.py").read_text()
    solution = (NOTEBOOKS / "solutions" / f"{ex.solutions}.py").read_text()
    assert f"# **{ex.label}.**" in lesson
    assert f"# ## {ex.label}\n" in solution
    for text in (lesson, solution):
        assert f"def {ex.answer}(" in text
        assert f"ok = {check.__name__}({ex.answer})\n" in text


def test_no_other_exercise_numbering_in_notebooks():
    for py in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")) + sorted((NOTEBOOKS / "solutions").glob("[0-9][0-9]_*.py")):
        for m in re.finditer(r"\bExercises?\b[^\n]{0,12}", py.read_text()):
            assert re.match(r"Exercises?( \d\d\.\d+\b|\b(?! \d))", m[0]), f"{py.name}: {m[0]!r}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_hints_are_graded(exercise_id, capsys):
    hints = EXERCISES[exercise_id].hints
    assert len(hints) >= 2 and len(set(hints)) == len(hints) and all(len(h) > 20 for h in hints)
    hint(exercise_id)
    first = capsys.readouterr().out
    assert hints[0] in first and f'hint("{exercise_id}", 2)' in first
    hint(exercise_id, len(hints))
    last = capsys.readouterr().out
    assert hints[-1] in last and f"notebooks/solutions/{EXERCISES[exercise_id].solutions}.ipynb" in last


def test_hint_accepts_a_short_id(capsys):
    hint("3.2", 2)
    assert EXERCISES["03.2"].hints[1] in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (("03.9",), r"no exercise '03\.9'.*Known: 03\.1, 03\.2, 03\.3, 03\.4$"),
    (("attention",), r"ids look like \"03\.2\""),
    ((3.2,), "as a string"),
    (("03.2", 3), r"hints 1 to 2; you asked for hint\('03.2', 3\)"),
    (("03.2", 0), "hints 1 to 2"),
    (("03.2", "2"), "hints 1 to 2"),
])
def test_hint_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        hint(*args)


@pytest.mark.parametrize("exercise_id, hints, match", [
    ("3.1", ("a nudge", "the key line"), "ids are 'NN.k'"),
    ("03.1", ("a nudge", "the key line"), "unique"),
    ("03.5", ("only one hint",), "at least two hints"),
    ("04.5", ("a nudge", "the key line"), "the module's lesson"),
])
def test_registration_mistakes(exercise_id, hints, match):
    def body(fn):
        return "checked"

    body.__module__ = "vit_lessons.exercises.l03_attention"
    before = dict(EXERCISES)
    with pytest.raises(ValueError, match=match):
        exercise(exercise_id, "A title", answer="my_fn", hints=hints)(body)
    assert EXERCISES == before  # nothing half-registered
