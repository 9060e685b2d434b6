import torch
from torch.testing import assert_close

from vit_lessons.blocks import Block, DropPath, Mlp


def test_block_is_pre_norm_residual():
    b = Block(16, 4, mlp_ratio=2.0).eval()
    x = torch.randn(2, 5, 16)
    y = x + b.attn(b.norm1(x))
    y = y + b.mlp(b.norm2(y))
    assert_close(b(x), y, atol=0, rtol=0)
    out, attn = b(x, return_attn=True)
    assert_close(out, y, atol=1e-6, rtol=1e-5)
    assert attn.shape == (2, 4, 5, 5)


def test_mlp_shapes_and_gelu():
    m = Mlp(8, 32)
    x = torch.randn(3, 4, 8)
    assert m(x).shape == (3, 4, 8)
    assert_close(m(x), m.fc2(torch.nn.functional.gelu(m.fc1(x))))


def test_drop_path():
    dp = DropPath(0.5)
    x = torch.ones(1000, 3, 4)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    y = dp(x)
    per_sample = y[:, 0, 0]
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}  # dropped, or kept and scaled by 1/(1-p)
    assert 0.4 < (per_sample > 0).float().mean() < 0.6
    assert torch.equal(y, per_sample[:, None, None].expand_as(y))  # whole samples, not elements
