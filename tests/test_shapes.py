"""check_shape and the hook-driven shape_trace of lesson 04."""

import pytest
import torch
from torch import nn

from vit_lessons import VisionTransformer, ViTConfig, count_params
from vit_lessons.shapes import ShapeTrace, check_shape, shape_trace


def test_check_shape_passes_and_returns_tensor():
    t = torch.zeros(2, 50, 64)
    assert check_shape(t, (2, 50, 64)) is t
    assert check_shape(t, (2, None, 64), "tokens") is t


@pytest.mark.parametrize("expected, match", [
    ((2, 50, 32), r"dim 2 is 64 not 32"),
    ((2, 50), r"3 dims instead of 2"),
    ((3, None, 64), r"dim 0 is 2 not 3"),
])
def test_check_shape_names_the_difference(expected, match):
    with pytest.raises(AssertionError, match=match):
        check_shape(torch.zeros(2, 50, 64), expected, "tokens")


def test_check_shape_message_names_tensor():
    with pytest.raises(AssertionError, match=r"^patches has shape \(1, 2\), expected \(\*, 3\)"):
        check_shape(torch.zeros(1, 2), (None, 3), "patches")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return VisionTransformer(ViTConfig.tiny())


def test_trace_total_equals_count_params(tiny):
    trace = shape_trace(tiny, torch.zeros(2, 3, 32, 32))
    assert isinstance(trace, ShapeTrace)
    assert trace.total == count_params(tiny) == sum(r.params for r in trace)
    assert len(trace) == len(list(tiny.named_modules()))


@pytest.mark.parametrize("depth", [0, 1, 2, 3, None])
def test_trace_depth_rows_add_up(tiny, depth):
    trace = shape_trace(tiny, torch.zeros(2, 3, 32, 32), depth=depth)
    assert sum(r.params for r in trace) == trace.total == count_params(tiny)
    if depth is not None:
        assert max(r.depth for r in trace) <= depth
    assert "total" in trace.table() and f"{count_params(tiny):,}" in str(trace)


def test_trace_shapes_and_names(tiny):
    rows = {r.name: r for r in shape_trace(tiny, torch.zeros(2, 3, 32, 32))}
    assert rows[""].type == "VisionTransformer" and rows[""].shape == "(2, 10)"
    assert rows[""].params == tiny.cls_token.numel() + tiny.pos_embed.numel()  # the model's own parameters
    assert rows["patch_embed"].shape == "(2, 16, 32)"
    assert rows["patch_embed.proj"].shape == "(2, 32, 4, 4)"
    assert rows["blocks.1.attn.qkv"].shape == "(2, 17, 96)" and rows["blocks.1.attn.qkv"].params == 32 * 96 + 96
    assert rows["blocks.1.mlp.fc1"].shape == "(2, 17, 64)"
    assert rows["blocks"].shape == "-"  # a ModuleList is never called
    assert rows["head"].shape == "(2, 10)"
    assert [n for n in rows][:3] == ["", "patch_embed", "patch_embed.proj"]  # definition order


def test_trace_collapsed_rows(tiny):
    rows = {r.name: r for r in shape_trace(tiny, torch.zeros(1, 3, 32, 32), depth=1)}
    assert rows["blocks"].collapsed and rows["blocks"].params == count_params(tiny.blocks)
    assert not rows["head"].collapsed
    assert "ModuleList …" in shape_trace(tiny, torch.zeros(1, 3, 32, 32), depth=1).table()


def test_trace_fashion_mnist_preset():
    m = VisionTransformer(ViTConfig.fashion_mnist_p4())
    trace = shape_trace(m, torch.zeros(3, 1, 28, 28), depth=2)
    assert trace.total == count_params(m) == 456_394
    assert {r.name: r.shape for r in trace}["blocks.5"] == "(3, 50, 96)"
    assert trace.input_shape == "(3, 1, 28, 28)"


def test_trace_removes_hooks_and_keeps_mode(tiny):
    tiny.train()
    shape_trace(tiny, torch.zeros(1, 3, 32, 32))
    assert tiny.training
    assert all(not m._forward_hooks for m in tiny.modules())
    tiny.eval()


def test_trace_removes_hooks_when_forward_fails(tiny):
    with pytest.raises(ValueError):
        shape_trace(tiny, torch.zeros(1, 3, 30, 30))
    assert all(not m._forward_hooks for m in tiny.modules())


def test_trace_forward_kwargs_and_tuple_outputs(tiny):
    trace = shape_trace(tiny, torch.zeros(2, 3, 32, 32), return_attention=True)
    rows = {r.name: r for r in trace}
    assert rows[""].shape == "[(2, 10), [(2, 4, 17, 17), (2, 4, 17, 17)]]"
    assert rows["blocks.0"].shape == "[(2, 17, 32), (2, 4, 17, 17)]"


def test_trace_repeated_calls_and_shared_params():
    lin = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(self.lin(x))

    rows = {r.name: r for r in shape_trace(Twice(), torch.zeros(2, 4))}
    assert rows["lin"].shape == "(2, 4) (x2 calls)"
    shared = nn.Sequential(lin, lin)
    trace = shape_trace(shared, torch.zeros(2, 4))  # named_modules lists a shared module once
    assert trace.total == count_params(shared) == 20


def test_trace_bad_depth(tiny):
    with pytest.raises(ValueError, match="depth"):
        shape_trace(tiny, torch.zeros(1, 3, 32, 32), depth=-1)
