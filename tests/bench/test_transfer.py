"""bench transfer-digits: the splits never mix validation and test digits, and --quick runs end to end."""

import json

import pytest
import torch

from vit_lessons.bench.transfer import METHODS, labelled_subset, split_digits
from vit_lessons.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_validation_test_and_labelled_digits_are_kept_apart():
    pool, test = split_digits(val_per_class=30)
    assert torch.bincount(pool.test_y, minlength=10).tolist() == [30] * 10  # validation: 30 of each digit
    as_rows = lambda x: {tuple(r) for r in x.flatten(1).tolist()}  # noqa: E731 - the images, as sets
    assert not as_rows(pool.test_x) & as_rows(pool.train_x) - as_rows(test.test_x)  # no validation digit trains
    torch.testing.assert_close(test.train_x, pool.train_x, atol=0, rtol=0)  # the same pool for tuning and testing
    assert len(test.test_y) == 359 and len(pool.train_y) + len(pool.test_y) == 1438
    a, b = labelled_subset(pool, 10, seed=0), labelled_subset(pool, 10, seed=1)
    assert torch.bincount(a.train_y, minlength=10).tolist() == [10] * 10
    assert not torch.equal(a.train_x, b.train_x)  # each seed draws its own labelled digits
    torch.testing.assert_close(labelled_subset(pool, 10, seed=0).train_x, a.train_x, atol=0, rtol=0)
    assert labelled_subset(pool, 0, seed=0) is pool  # 0 = every labelled digit


def test_quick_run_writes_the_table(tmp_path, capsys):
    out = tmp_path / "transfer"
    assert main(["bench", "transfer-digits", "--quick", "--out", str(out), "--threads", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["size"], r["method"]) for r in summary["results"]} == {(s, m) for s in (28, 21) for m in METHODS}
    assert all(0 <= r["median_acc"] <= 1 for r in summary["results"])
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in runs].count("tune") == len(METHODS)
    assert {r["recipe"]["freeze"] for r in runs if r["method"] == "linear probe"} == {"all-but-head"}
    assert all(r["recipe"]["init_from"] == "" for r in runs if r["method"] == "from scratch")
    table = (out / "README.md").read_text()
    assert "| 21 px (3x3 patches) | 10 | 3 |" in table and "Command: `" in table
    # a second call reuses the finished runs instead of training them again
    assert main(["bench", "transfer-digits", "--quick", "--out", str(out), "--threads", "1"]) == 0
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(runs)
    assert main(["bench", "transfer-digits", "--quick", "--backbone", str(tmp_path / "none.pt")]) == 2
    assert "no backbone checkpoint at" in capsys.readouterr().err
