import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from vit_lessons import VisionTransformer, ViTConfig
from vit_lessons.attention import Attention, mimetic_init_, scaled_dot_product_attention


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


def test_mimetic_init_shapes_the_head_products():
    D, h = 64, 4
    d = D // h
    torch.manual_seed(0)
    model = mimetic_init_(VisionTransformer(ViTConfig.tiny(embed_dim=D, num_heads=h, depth=2)))
    for blk in model.blocks:
        w = blk.attn.qkv.weight  # (3D, D)
        eye = torch.eye(D)
        for i in range(h):
            wq, wk = w[i * d:(i + 1) * d], w[D + i * d:D + (i + 1) * d]  # (d, D) each
            qk = wq.T @ wk  # (D, D): a rank-d part of 0.7 Z + 0.7 I, so its trace is large and positive
            assert torch.linalg.matrix_rank(qk) == d
            assert (qk * eye).sum() / (qk.norm() * eye.norm()) > 0.35  # cosine with I, ~0 for random weights
        vo = w[2 * D:].T @ blk.attn.proj.weight.T  # W_v^T W_proj^T: exactly 0.4 Z - 0.4 I
        cos = (vo * eye).sum() / (vo.norm() * eye.norm())
        assert cos < -0.6
        assert_close(torch.diagonal(vo).mean(), torch.tensor(-0.4), atol=0.05, rtol=0)
    # attention of a token with itself is the largest in its row when tokens are unrelated
    x = torch.randn(1, 9, D) * 3
    _, attn = model.blocks[0].attn(x, return_attn=True)  # (1, h, 9, 9)
    assert (attn.argmax(-1) == torch.arange(9)).float().mean() > 0.9
    with pytest.raises(ValueError, match="no vit_lessons Attention"):
        mimetic_init_(torch.nn.Linear(3, 3))


def test_mimetic_init_is_seeded_and_leaves_the_rest_alone():
    cfg = ViTConfig.tiny()
    torch.manual_seed(1)
    a = VisionTransformer(cfg)
    before = {k: v.clone() for k, v in a.state_dict().items()}
    mimetic_init_(a, generator=torch.Generator().manual_seed(3))
    b = mimetic_init_(VisionTransformer(cfg), generator=torch.Generator().manual_seed(3))
    for k, v in a.state_dict().items():
        if k.endswith(("attn.qkv.weight", "attn.proj.weight")):
            assert_close(v, b.state_dict()[k], atol=0, rtol=0)
            assert not torch.equal(v, before[k])
        else:
            assert_close(v, before[k], atol=0, rtol=0)  # biases, MLPs, norms, embeddings untouched
