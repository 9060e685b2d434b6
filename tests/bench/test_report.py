"""What every benchmark shares: medians that count runs that never got there, times to a target, the files."""

import json

from vit_lessons.bench.report import finished_runs, fmt_s, median, median_time, write_results
from vit_lessons.bench.runs import time_to


def test_time_to_and_medians():
    hist = [{"test_acc": 0.5, "train_time": 1.0}, {"test_acc": 0.86, "train_time": 2.0}]
    assert time_to(hist, 0.85) == 2.0 and time_to(hist, 0.9) is None
    # a run that never reached the target is slower than every run that did: it is not left out of the median
    assert median_time([None, None, 600.0]) is None and median_time([None, 250.0, 600.0]) == 600.0
    assert median_time([250.0, 100.0, 600.0]) == 250.0 and median_time([100.0, 200.0]) == 150.0
    assert median_time([100.0, None]) is None and median_time([]) is None
    assert median([3, None, 1, 2]) == 2 and median([None]) is None
    assert fmt_s(None) == "never" and fmt_s(61.4) == "61 s"


def test_results_files_and_finished_runs(tmp_path):
    runs = [{"name": "ours", "seed": 0, "final_acc": 0.9}, {"name": "tintn", "seed": 0, "final_acc": 0.8}]
    assert finished_runs(tmp_path) == {}
    write_results(tmp_path, {"benchmark": "x"}, runs, "# table\n")
    assert json.loads((tmp_path / "summary.json").read_text()) == {"benchmark": "x"}
    assert (tmp_path / "README.md").read_text() == "# table\n"
    assert finished_runs(tmp_path) == {("ours", 0): runs[0], ("tintn", 0): runs[1]}
