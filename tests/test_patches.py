import pytest
import torch
from torch.testing import assert_close

from vit_lessons.patches import PatchEmbed, patchify, unpatchify


def test_patchify_shape_and_order():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    p = patchify(x, 4)  # (B, N, P*P*C)
    assert p.shape == (2, 4, 48)
    # patch 1 is the top-right 4x4 block; its first entry is pixel (0, 4) of channel 0, then channel 1...
    assert p[0, 1, 0] == x[0, 0, 0, 4] and p[0, 1, 1] == x[0, 1, 0, 4] and p[0, 1, 3] == x[0, 0, 0, 5]


def test_patchify_equals_reshape_and_unfold():
    x = torch.randn(2, 3, 12, 12)
    P = 4
    by_reshape = x.reshape(2, 3, 3, P, 3, P).permute(0, 2, 4, 3, 5, 1).reshape(2, 9, P * P * 3)
    unf = torch.nn.functional.unfold(x, P, stride=P)  # (B, C*P*P, N), per patch (c p1 p2)
    by_unfold = unf.transpose(1, 2).reshape(2, 9, 3, P, P).permute(0, 1, 3, 4, 2).reshape(2, 9, -1)
    assert_close(patchify(x, P), by_reshape, atol=0, rtol=0)
    assert_close(patchify(x, P), by_unfold, atol=0, rtol=0)


def test_unpatchify_roundtrip():
    x = torch.randn(3, 1, 28, 28)
    assert_close(unpatchify(patchify(x, 7), 7, 1), x, atol=0, rtol=0)
    y = torch.randn(2, 3, 8, 16)
    assert_close(unpatchify(patchify(y, 4), 4, 3, height=8), y, atol=0, rtol=0)


def test_patch_embed_is_flatten_plus_linear():
    pe = PatchEmbed(16, 4, 3, 10)
    x = torch.randn(2, 3, 16, 16)
    w = pe.proj.weight.permute(0, 2, 3, 1).reshape(10, -1)  # (D, P*P*C) in (p1 p2 c) order
    assert_close(pe(x), patchify(x, 4) @ w.T + pe.proj.bias, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("x, err, match", [
    (torch.randn(3, 28, 28), ValueError, r"4 dims \(B, C, H, W\).*unsqueeze\(0\)"),
    (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), TypeError, "floating point.*float"),
    (torch.randn(1, 1, 30, 30), ValueError, "not divisible by patch_size 4"),
    ([[1.0]], TypeError, "must be a torch.Tensor"),
])
def test_patchify_bad_input(x, err, match):
    with pytest.raises(err, match=match):
        patchify(x, 4)
