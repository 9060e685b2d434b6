"""metrics.jsonl: records written, appended, replaced atomically and read back; plotting needs no trainer."""

import json
import subprocess
import sys

import pytest

from vit_lessons.metrics_jsonl import append_metrics, read_metrics, write_metrics


def test_records_round_trip_through_the_file(tmp_path):
    write_metrics(tmp_path, [{"epoch": 1.0, "test_acc": 0.5}])
    append_metrics(tmp_path, {"epoch": 2.0, "test_acc": 0.75})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1.0, 2.0]
    assert read_metrics(tmp_path) == read_metrics(tmp_path / "metrics.jsonl") == [
        {"epoch": 1.0, "test_acc": 0.5}, {"epoch": 2.0, "test_acc": 0.75}]
    write_metrics(tmp_path, [{"epoch": 1.0, "test_acc": 0.5}])  # a resumed run drops the records after its checkpoint
    assert read_metrics(tmp_path) == [{"epoch": 1.0, "test_acc": 0.5}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temporary file left behind
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1.0}\n\n')  # a blank last line is not a record
    assert read_metrics(tmp_path) == [{"epoch": 1.0}]


def test_a_missing_run_is_named_with_what_to_give(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no metrics at .*nowhere: give a run folder .* or its metrics.jsonl"):
        read_metrics(tmp_path / "nowhere")


def test_plotting_a_run_does_not_import_the_trainer():
    code = "import sys, vit_lessons.viz; print(sorted(m for m in sys.modules if m.startswith('vit_lessons.train')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
