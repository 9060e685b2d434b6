"""bench speed: the --quick path end to end, the FLOP formula against torch's counter, the contestants equal.

Nothing here is timed: the benchmark's numbers are measured by the command, never asserted.
"""

import argparse
import json

import pytest
import torch
from torch.testing import assert_close

from vit_lessons import VisionTransformer, ViTConfig
from vit_lessons.bench import contestants, flops, speed

pytest.importorskip("timm")


def _args(*argv):
    p = argparse.ArgumentParser()
    speed.add_arguments(p)
    return p.parse_args(list(argv))


def test_quick_end_to_end(tmp_path, capsys):
    assert speed.run(_args("--quick", "--out", str(tmp_path))) == 0
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    models = [r for r in rows if r["section"] == "models"]
    # 4 implementations x 2 modes x 2 dtypes, eager, 1 thread
    assert {(r["impl"], r["mode"], r["dtype"]) for r in models} == {
        (i, m, d) for i in speed.IMPLS for m in ("train", "infer") for d in ("fp32", "bf16")}
    assert all(r["images_per_s"] > 0 and r["min_images_per_s"] <= r["images_per_s"] <= r["max_images_per_s"]
               for r in rows)
    assert all(r["vs_timm"] > 0 and r["peak_mem_mb"] > 0 and r["loadavg"] and r["command"] for r in models)
    assert all(0 < r["cpu_share"] <= 1.5 and "load_mean" in r for r in rows), "each timed line records its load"
    assert all(r["vs_timm"] == 1.0 for r in models if r["impl"] == "timm")
    assert all(r["mfu"] is None for r in models), "no MFU on a CPU"
    cfg = ViTConfig.tiny()
    assert models[0]["gflop_per_image"] == pytest.approx(flops.step_flops(cfg, 1, train=True) / 1e9)
    attn = [r for r in rows if r["section"] == "attention"]
    assert {r["impl"] for r in attn} == set(speed.WAYS) and all(r["tokens"] == cfg.num_tokens for r in attn)
    readme = (tmp_path / "README.md").read_text()
    assert "| tiny | 17 | 4 | train | fp32 | no | 1 |" in readme and "best ours / timm" in readme
    assert "loop over heads" in readme and "python -m vit_lessons" in readme
    assert "wrote" in capsys.readouterr().out


def test_rows_measured_again_replace_old_ones(tmp_path):
    kw = dict(configs=("tiny",), impls=("ours-sdpa", "timm"), dtypes=("fp32",), compile_modes=(False,),
              threads=(1,), rounds=1, min_time=0.0, out=tmp_path, log=lambda s: None)
    speed.run_speed(modes=("train", "infer"), sections=("models",), **kw)
    s = speed.run_speed(modes=("infer",), sections=("models", "attention"), **kw)
    keys = [tuple(r[k] for k in speed.KEY) for r in s["rows"]]
    assert len(keys) == len(set(keys)) == 2 * 2 + 4  # train and infer rows once each, plus attention
    assert len(s["runs"]) == 2 and json.loads((tmp_path / "summary.json").read_text()) == s


def test_memory_section_against_tokens(tmp_path):
    cfg = ViTConfig.tiny()
    rows = speed.memory_rows("tiny", cfg, 4, "cpu", grids=(2, 4))
    assert [(r["impl"], r["tokens"]) for r in rows] == [("ours-explicit", 5), ("ours-sdpa", 5),
                                                         ("ours-explicit", 17), ("ours-sdpa", 17)]
    assert [r["config"] for r in rows[::2]] == ["tiny@16px", "tiny@32px"]  # one row key per grid
    for e in rows[::2]:
        assert e["attn_probs_mb"] == pytest.approx(cfg.depth * 4 * cfg.num_heads * e["tokens"] ** 2 * 4 / 2**20)
    e, f = rows[2:]  # at 17 tokens the difference is the probabilities the explicit path keeps
    assert 0.8 * e["attn_probs_mb"] < e["peak_mem_mb"] - f["peak_mem_mb"] < 1.5 * e["attn_probs_mb"]
    s = speed.run_speed(configs=("tiny",), sections=("memory",), out=tmp_path, log=lambda s: None)
    assert {r["section"] for r in s["rows"]} == {"memory"} and len(s["rows"]) == 2 * len(speed.MEMORY_GRIDS)
    readme = (tmp_path / "README.md").read_text()
    assert "| tiny@32px | 17 | 4 |" in readme and "attention probabilities MB" in readme


def test_more_than_one_thread_goes_to_the_appendix(tmp_path):
    kw = dict(configs=("tiny",), impls=("ours-sdpa", "timm"), modes=("infer",), dtypes=("fp32",),
              compile_modes=(False,), rounds=1, min_time=0.0, sections=("models",), out=tmp_path, log=lambda s: None)
    speed.run_speed(threads=(1, 2), **kw)
    main, appendix = (tmp_path / "README.md").read_text().split("## Appendix: more than one thread")
    assert "| tiny | 17 | 4 | infer | fp32 | no | 1 |" in main and "| 2 |" not in main
    assert "| tiny | 17 | 4 | infer | fp32 | no | 2 |" in appendix and "| 1 |" not in appendix


def test_compiled_cpu_path(tmp_path):
    s = speed.run_speed(configs=("tiny",), impls=("ours-sdpa",), modes=("infer",), dtypes=("fp32",),
                        compile_modes=(True,), threads=(1,), rounds=1, min_time=0.0, sections=("models",), out=None,
                        log=lambda s: None)
    assert [r["compile"] for r in s["rows"]] == [True]


@pytest.mark.parametrize("cfg", [
    ViTConfig.tiny(),
    ViTConfig.fashion_mnist_cpu(patch_size=7, embed_dim=64, pos_embed="sincos2d"),  # the recipe's model
    ViTConfig.tiny(qkv_bias=False, mlp_ratio=1.5, num_classes=0),  # no head
    ViTConfig.vit_ti_16(img_size=48, depth=2),
])
@pytest.mark.parametrize("train", [False, True])
def test_flop_formula_matches_flop_counter(cfg, train):
    model = VisionTransformer(cfg, fused_attn=False)
    x = torch.randn(3, cfg.in_chans, cfg.img_size, cfg.img_size)
    assert flops.step_flops(cfg, 3, train) == flops.count_flops(model, x, train)


def test_flop_formula_terms():
    cfg = ViTConfig.vit_b_16()
    t = flops.vit_flops(cfg)
    assert t["attn_scores"] == 12 * 2 * 197 * 197 * 768
    assert sum(t.values()) / 1e9 == pytest.approx(35.1, abs=0.1)  # the paper's 17.6 G multiply-adds, doubled


def test_peak_flops_and_mfu():
    assert flops.peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
    assert flops.peak_flops("NVIDIA H100 PCIe", "bf16") == 756e12
    assert flops.peak_flops("Tesla T4", "bf16") is None and flops.peak_flops(None, "fp32") is None
    assert flops.mfu(494.7e12, "NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(0.5)


def test_attention_four_ways_equal_with_gradients():
    cfg = ViTConfig.tiny(embed_dim=48, num_heads=3)
    ways = contestants.attention_ways(cfg, "cpu")
    x = torch.randn(2, cfg.num_tokens, cfg.embed_dim, requires_grad=True)  # (B, N, D)
    outs, grads = [], []
    for f in ways.values():
        out = f(x)
        (g,) = torch.autograd.grad(out.square().sum(), x)
        outs.append(out)
        grads.append(g)
    for o, g in zip(outs[1:], grads[1:]):
        assert_close(o, outs[0], atol=1e-5, rtol=1e-4)
        assert_close(g, grads[0], atol=1e-5, rtol=1e-4)


def test_same_weights_three_libraries():
    cfg = ViTConfig.fashion_mnist_cpu(patch_size=7, embed_dim=64, depth=2, pos_embed="sincos2d")
    models = contestants.build_models(cfg, speed.IMPLS, "cpu")  # checks the logits agree itself
    x, _ = contestants.batch_for(cfg, 3, "cpu")
    with torch.no_grad():
        ref = models["ours-explicit"].eval()(x)
        for m in models.values():
            assert_close(m.eval()(x), ref, atol=1e-5, rtol=1e-5)
    assert not models["timm"].pos_embed.requires_grad, "fixed sin-cos positions stay fixed in timm's copy"


def test_peak_memory_counts_live_tensors():
    with contestants.PeakMemory() as pm:
        a = torch.zeros(1000, 1000)  # 4 MB
        b = a @ a  # 4 MB more
        del b
        a.add_(1)  # in place: nothing new
        c = a.view(-1)  # a view: nothing new
    assert pm.peak == 8_000_000 and pm.now == 4_000_000
    del a, c


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="--rounds must be at least 1"):
        speed.run(_args("--quick", "--rounds", "0", "--no-save"))
    with pytest.raises(ValueError, match="--device 'gpu': use cpu or cuda"):
        speed.run(_args("--quick", "--device", "gpu", "--no-save"))
    with pytest.raises(ValueError, match="unknown config, implementation or section"):
        speed.run_speed(configs=("vit_q_16",), out=None)
    with pytest.raises(ValueError, match="sections \\['attention', 'models', 'memory'\\]"):
        speed.run_speed(configs=("tiny",), sections=("flops",), out=None)
    with pytest.raises(ValueError, match="class-token ViTs"):
        contestants.build_models(ViTConfig.tiny(pool="mean"), speed.IMPLS, "cpu")


def test_machine_name_is_a_folder_name():
    name = speed.machine_name(torch.device("cpu"))
    assert name and all(c.isalnum() or c == "-" for c in name) and name.endswith("cores")
