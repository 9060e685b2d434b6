"""Locality for small data (lesson 09): shifted patch tokenization and locality self-attention."""

import pytest
import torch

from vit_lessons.attention import Attention, mimetic_init_
from vit_lessons.config import ViTConfig
from vit_lessons.locality import LocalitySelfAttention, ShiftedPatchEmbed, shift_stack
from vit_lessons.model import VisionTransformer


def test_shift_stack_moves_pixels_diagonally_and_fills_zeros():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    s = shift_stack(x, 1)  # (1, 5, 4, 4)
    assert s.shape == (1, 5, 4, 4)
    torch.testing.assert_close(s[:, 0], x[:, 0], rtol=0, atol=0)
    # channel 1 is the image seen one pixel up-left: out[i, j] = x[i - 1, j - 1]
    torch.testing.assert_close(s[0, 1, 1:, 1:], x[0, 0, :-1, :-1], rtol=0, atol=0)
    assert s[0, 1, 0].abs().sum() == 0 and s[0, 1, :, 0].abs().sum() == 0
    torch.testing.assert_close(s[0, 4, :-1, :-1], x[0, 0, 1:, 1:], rtol=0, atol=0)  # down-right


def test_shifted_patch_embed_shapes_and_neighbours():
    pe = ShiftedPatchEmbed(28, 7, 1, 16)
    assert pe(torch.randn(2, 1, 28, 28)).shape == (2, 16, 16)  # (B, N, D)
    assert pe.proj.in_features == 5 * 7 * 7 and pe.shift == 3
    # a pixel just outside patch 0 changes patch 0's token (it sees its neighbours); a far one does not
    x = torch.zeros(1, 1, 28, 28)
    base = pe(x)
    x2 = x.clone()
    x2[0, 0, 8, 8] = 5.0  # in patch (1, 1), 2 pixels from patch (0, 0)
    moved = (pe(x2) - base).abs().sum(-1)[0]  # (N,)
    assert moved[0] > 0 and moved[3] == 0
    with pytest.raises(ValueError, match="not divisible"):
        ShiftedPatchEmbed(28, 5, 1, 16)


def test_lsa_masks_the_diagonal_and_learns_a_temperature():
    torch.manual_seed(0)
    lsa = LocalitySelfAttention(16, 4)
    x = torch.randn(2, 5, 16)
    y, attn = lsa(x, return_attn=True)
    assert y.shape == (2, 5, 16) and attn.shape == (2, 4, 5, 5)
    torch.testing.assert_close(attn.diagonal(dim1=-2, dim2=-1), torch.zeros(2, 4, 5), rtol=0, atol=0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, 5), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(lsa.scale.detach(), torch.full((4,), 0.5), rtol=0, atol=0)  # 1/sqrt(d), d = 4
    y.sum().backward()
    assert lsa.scale.grad is not None and lsa.scale.grad.abs().sum() > 0
    # off the diagonal, LSA at its initial temperature is plain attention renormalised without self
    plain = Attention(16, 4, fused_attn=False)
    plain.load_state_dict({k: v for k, v in lsa.state_dict().items() if k != "scale"})
    _, a = plain(x, return_attn=True)
    off = a.masked_fill(torch.eye(5, dtype=torch.bool), 0)
    torch.testing.assert_close(attn, off / off.sum(-1, keepdim=True), rtol=1e-5, atol=1e-6)


def test_switches_are_off_by_default_and_build_a_vit():
    cfg = ViTConfig.preset("fashion_mnist_cpu", patch_size=7, embed_dim=32, depth=2, num_heads=4)
    assert not (cfg.spt or cfg.lsa or cfg.distilled)
    base = set(VisionTransformer(cfg).state_dict())
    m = VisionTransformer(cfg.replace(spt=True, lsa=True))
    keys = set(m.state_dict())
    assert keys - base == {"patch_embed.norm.weight", "patch_embed.norm.bias", "blocks.0.attn.scale",
                           "blocks.1.attn.scale"}
    assert all(isinstance(b.attn, LocalitySelfAttention) for b in m.blocks)
    mimetic_init_(m)  # LSA is an Attention: mimetic init applies
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    logits, attns = m(torch.randn(2, 1, 28, 28), return_attention=True)
    assert len(attns) == 2 and attns[0].shape == (2, 4, 17, 17)
