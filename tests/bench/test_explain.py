"""bench explain: every method's deletion and insertion-side areas on a tiny checkpoint and a few test images."""

import json

import pytest
import torch

from vit_lessons import VisionTransformer, ViTConfig
from vit_lessons.cli import main
from vit_lessons.relevance import METHODS
from vit_lessons.train import CHECKPOINT_FORMAT, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_checkpoint(tmp_path, fashion_mnist):
    """A 2-block model with the committed checkpoints' grid (28 px, 7x7 patches: 16 patches), random weights."""
    torch.manual_seed(0)
    cfg = ViTConfig(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=16, depth=2, num_heads=2,
                    mlp_ratio=2.0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "model_config": cfg.to_dict(),
                           "model": VisionTransformer(cfg).state_dict()})
    return path


def test_bench_explain_writes_every_method_and_fill(tmp_path, tiny_checkpoint):
    out = tmp_path / "explain"
    args = ["bench", "explain", "--images", "12", "--checkpoints", str(tiny_checkpoint), "--out", str(out),
            "--boot", "50", "--batch-size", "5", "--ig-steps", "4", "--threads", "1"]
    assert main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["methods"] == list(METHODS) and s["images"] == 12 and s["fills"] == ["mean", "zero"]
    assert len(s["results"]) == len(METHODS) and s["loadavg_start"] is not None and "torch" in s["machine"]
    for r in s["results"]:
        for key in ("deletion_mean", "insertion_mean", "deletion_zero", "insertion_zero"):
            cell = r[key]
            assert 0 <= cell["lo"] <= cell["mean"] <= cell["hi"] <= 1
            assert len(cell["curve"]) == 17  # 0..16 patches removed
            assert ("minus_random" in cell) == (r["method"] != "random")
        assert r["s_per_100"] > 0
    by = {r["method"]: r for r in s["results"]}
    for f in ("mean", "zero"):  # every patch removed is one image, whatever the order or the method
        ends = {round(by[m][f"{side}_{f}"]["curve"][-1], 4) for m in METHODS for side in ("deletion", "insertion")}
        assert len(ends) == 1
    readme = (out / "README.md").read_text()
    assert "Command: `python -m vit_lessons " in readme and "load average at start" in readme
    assert "| occlusion | " in readme and "Removed patches painted with **black**" in readme
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(METHODS)


def test_bench_explain_is_seeded_the_same_in_worker_processes_and_checks_its_input(tmp_path, tiny_checkpoint,
                                                                                  capsys):
    from vit_lessons.bench.explain import explain_faithfulness

    other = tmp_path / "other.pt"
    other.write_bytes(tiny_checkpoint.read_bytes())
    run = lambda jobs: explain_faithfulness([tiny_checkpoint, other], ["random", "rollout"], images=8,  # noqa: E731
                                            fills=("mean",), out=None, n_boot=20, batch_size=8, jobs=jobs)
    # two checkpoints in two spawned processes: the same numbers as one after the other (slow for a test, ~5-10 s,
    # because each process imports torch afresh; it is the only check that --jobs does not change the results)
    a, b = run(1), run(2)
    assert [r["deletion_mean"] for r in a["results"]] == [r["deletion_mean"] for r in b["results"]]
    assert [r["checkpoint"] for r in b["results"]] == [str(tiny_checkpoint)] * 2 + [str(other)] * 2
    assert main(["bench", "explain", "--checkpoints", str(tmp_path / "none.pt"), "--out", str(tmp_path)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["bench", "explain", "--images", "1", "--checkpoints", str(tiny_checkpoint)]) == 2
    assert "--images must be between 2 and 10000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "explain", "--methods", "lrp"])
