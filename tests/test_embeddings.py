import math

import pytest
import torch
from torch.testing import assert_close

from vit_lessons.embeddings import pos_embed_similarity, resize_pos_embed, sincos_1d, sincos_2d


def test_sincos_1d_values():
    pe = sincos_1d(5, 8)
    assert pe.shape == (5, 8)
    # position 3, frequency 1 of 4: sin(3 / 10000^(1/4)), cos in the second half
    assert_close(pe[3, 1], torch.tensor(math.sin(3 / 10000 ** 0.25)), atol=1e-6, rtol=0)
    assert_close(pe[3, 5], torch.tensor(math.cos(3 / 10000 ** 0.25)), atol=1e-6, rtol=0)
    assert_close(pe[0], torch.tensor([0.0] * 4 + [1.0] * 4))


def test_sincos_2d_rows_and_cols():
    g, d = 4, 16
    pe = sincos_2d(g, d).reshape(g, g, d)
    # the first half depends only on the row, the second only on the column
    assert_close(pe[:, 0, : d // 2], pe[:, 3, : d // 2])
    assert_close(pe[0, :, d // 2:], pe[2, :, d // 2:])
    assert_close(pe[1, 2, : d // 2], sincos_1d(g, d // 2)[1])


def test_sincos_bad_dims():
    with pytest.raises(ValueError, match="even dim"):
        sincos_1d(4, 7)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(4, 6)


def test_resize_matches_timm():
    timm_layers = pytest.importorskip("timm.layers")
    pe = torch.randn(1, 1 + 7 * 7, 32)
    ours = resize_pos_embed(pe, 14)
    theirs = timm_layers.resample_abs_pos_embed(pe, (14, 14), num_prefix_tokens=1)
    assert ours.shape == (1, 1 + 196, 32)
    assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert_close(ours[:, :1], pe[:, :1], atol=0, rtol=0)  # class token untouched
    assert resize_pos_embed(pe, 7) is pe


def test_resize_bad_input():
    with pytest.raises(ValueError, match="not a square grid"):
        resize_pos_embed(torch.randn(1, 1 + 10, 8), 4)
    with pytest.raises(ValueError, match=r"must be \(1, N, D\)"):
        resize_pos_embed(torch.randn(50, 8), 4)


def test_similarity_map():
    s = pos_embed_similarity(sincos_2d(5, 32))
    assert s.shape == (5, 5, 5, 5)
    assert_close(s[2, 3, 2, 3], torch.tensor(1.0), atol=1e-6, rtol=0)
    assert s[2, 2].argmax() == 2 * 5 + 2  # each position is most similar to itself
    with pytest.raises(ValueError, match="drop the class token"):
        pos_embed_similarity(torch.randn(1, 26, 8))
