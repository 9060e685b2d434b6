import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from vit_lessons.attention import Attention, scaled_dot_product_attention


def test_explicit_equals_sdpa():
    q, k, v = torch.randn(3, 2, 4, 10, 8).unbind(0)
    out, attn = scaled_dot_product_attention(q, k, v)
    assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-5)
    assert attn.shape == (2, 4, 10, 10)
    assert_close(attn.sum(-1), torch.ones(2, 4, 10))


def test_fused_and_explicit_paths_agree_and_return_weights():
    a = Attention(32, 4)
    x = torch.randn(2, 9, 32)
    fused = a(x)
    a.fused_attn = False
    explicit = a(x)
    out, attn = a(x, return_attn=True)
    assert_close(fused, explicit, atol=1e-6, rtol=1e-5)
    assert_close(out, explicit, atol=0, rtol=0)
    assert attn.shape == (2, 4, 9, 9)


def test_equals_nn_multihead_attention():
    D, h = 24, 3
    ours = Attention(D, h)
    mha = torch.nn.MultiheadAttention(D, h, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(ours.qkv.weight)
        mha.in_proj_bias.copy_(ours.qkv.bias)
        mha.out_proj.weight.copy_(ours.proj.weight)
        mha.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, 7, D)
    ref, w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    out, attn = ours(x, return_attn=True)
    assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert_close(attn, w, atol=1e-6, rtol=1e-5)


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        Attention(10, 3)
