"""Self-checks for lesson 03's exercises: scaled dot-product attention, splitting and merging heads,
multi-head self-attention from the fused qkv weights.

Attention works on a sequence of any length n; in a ViT n = N + 1 (N patches and the class token). The shapes
here are written with n, as in the lesson's exercises. Used in notebooks/03_attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._common import ExerciseError, exercise, expect_close, expect_shape

__all__ = ["check_scaled_dot_product", "check_split_heads", "check_merge_heads", "check_multi_head_attention"]


@exercise("03.1", "Scaled dot-product attention", answer="my_attention", hints=(
    "Three steps: the score of every query against every key, a (B, n, n) matrix, scaled by 1/sqrt(d) with d "
    "the width of q and k; a softmax over the keys (the last dim), so each query's weights sum to 1; then the "
    "weighted sum of the values.",
    "return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1) @ v"))
def check_scaled_dot_product(attention) -> bool | None:
    """Exercise 03.1 · Scaled dot-product attention: ``attention(q, k, v)`` -> softmax(q k^T / sqrt(d)) v.

    q, k are (B, n, d), v is (B, n, d_v); the result is (B, n, d_v). Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(30)
    b, n, d, dv = 2, 6, 8, 5
    q, k = torch.randn(b, n, d, generator=g) * 2, torch.randn(b, n, d, generator=g) * 2
    v = torch.randn(b, n, dv, generator=g)
    got = attention(q.clone(), k.clone(), v.clone())
    s = q @ k.transpose(-2, -1)  # (B, n, n), unscaled
    want = (s / math.sqrt(d)).softmax(-1) @ v  # (B, n, d_v)
    expect_shape(got, (b, n, dv), "attention output", {
        (b, n, n): "this is the (B, n, n) matrix of weights (or scores); multiply the weights by v"})
    expect_close(got, want, "attention output", atol=1e-5, hints=[
        (s.softmax(-1) @ v, "forgot the scale: divide the scores by sqrt(d) before the softmax"),
        ((s / d).softmax(-1) @ v, "divided by d; the scale is 1 / sqrt(d)"),
        ((s * math.sqrt(d)).softmax(-1) @ v, "multiplied by sqrt(d); divide by it"),
        ((s / math.sqrt(dv)).softmax(-1) @ v, "scaled by sqrt of v's width; use d, the width of q and k"),
        ((s / math.sqrt(d)).softmax(-2) @ v, "softmax over the wrong dim (-2, the queries): each query's row "
                                             "of weights must sum to 1, softmax(dim=-1)"),
        ((s / math.sqrt(d)).softmax(-1).transpose(-2, -1) @ v, "the weights are transposed: use weights @ v, "
                                                               "row i of the weights belongs to query i"),
        ((s / math.sqrt(d)).transpose(-2, -1).softmax(-1) @ v, "the scores are transposed (k @ q^T): they "
                                                               "should be q @ k.transpose(-2, -1)"),
        ((s / math.sqrt(d)) @ v, "forgot the softmax: weights = scores.softmax(dim=-1)")])
    return "softmax(q k^T / sqrt(d)) v"


def _heads_input() -> torch.Tensor:
    g = torch.Generator().manual_seed(31)
    return torch.randn(2, 5, 12, generator=g)  # (B, n, D) with h = 3, d = 4; n differs from h and d


@exercise("03.2", "Split the heads", answer="my_split_heads", hints=(
    "Head i owns the contiguous block of features i*d … (i+1)*d - 1, so the last dim D unflattens as (h, d), "
    "h first. Then the head dim has to move in front of the tokens.",
    "B, n, D = x.shape; return x.view(B, n, num_heads, D // num_heads).transpose(1, 2)"))
def check_split_heads(split_heads) -> bool | None:
    """Exercise 03.2 · Split the heads: ``split_heads(x, num_heads)``, (B, n, D) -> (B, h, n, d).

    Head i gets features i*d:(i+1)*d. Used in notebooks/03_attention.
    """
    x, h = _heads_input(), 3
    b, n, dim = x.shape
    d = dim // h
    got = split_heads(x.clone(), h)
    want = x.view(b, n, h, d).transpose(1, 2)  # (B, h, n, d)
    expect_shape(got, (b, h, n, d), "heads", {
        (b, n, h, d): "split into (B, n, h, d) but did not move the head dim in front of the tokens: "
                      "add .transpose(1, 2)",
        (b, h, d, n): "tokens and features are swapped: the result is (B, h, n, d)",
        (b, d, n, h): "split as (B, n, d, h): the head index is the slower-moving one, view(B, n, h, d)"})
    expect_close(got, want, "heads", atol=0, rtol=0, hints=[
        (x.view(b, h, n, d), "reshaped straight to (B, h, n, d), which mixes tokens into the heads: view as "
                             "(B, n, h, d) first, then transpose(1, 2)"),
        (x.view(b, n, d, h).permute(0, 3, 1, 2), "each head got every h-th feature (interleaved): head i owns the "
                                                 "contiguous block i*d:(i+1)*d, so view(B, n, h, d)")])
    return "(B, n, D) -> (B, h, n, d)"


@exercise("03.3", "Merge the heads", answer="my_merge_heads", hints=(
    "Undo the split: bring the tokens back in front of the heads, then flatten (h, d) into D. After a "
    "transpose the tensor is no longer contiguous in memory, so .view refuses; .reshape copies when it must.",
    "B, h, n, d = x.shape; return x.transpose(1, 2).reshape(B, n, h * d)"))
def check_merge_heads(merge_heads) -> bool | None:
    """Exercise 03.3 · Merge the heads: ``merge_heads(x)``, (B, h, n, d) -> (B, n, D), the heads concatenated.

    Used in notebooks/03_attention.
    """
    x, h = _heads_input(), 3
    b, n, dim = x.shape
    d = dim // h
    heads = x.view(b, n, h, d).transpose(1, 2)  # (B, h, n, d)
    got = merge_heads(heads.clone())
    expect_shape(got, (b, n, dim), "merged heads", {
        (b, h, n * d): "merged the tokens with the features; move the head dim next to d first, transpose(1, 2)",
        (b, n, h, d): "the heads are not concatenated yet: reshape (B, n, h, d) to (B, n, h*d)"})
    expect_close(got, x, "merged heads", atol=0, rtol=0, hints=[
        (heads.reshape(b, n, dim), "reshaped without transposing: tokens of different heads are mixed; "
                                   "transpose(1, 2) to (B, n, h, d) before reshaping"),
        (heads.permute(0, 2, 3, 1).reshape(b, n, dim), "the features are interleaved across heads (permuted to "
                                                       "(B, n, d, h)); concatenate whole heads: (B, n, h, d)")])
    return "(B, h, n, d) -> (B, n, D)"


@exercise("03.4", "Multi-head self-attention as a function", answer="my_multi_head_attention", hints=(
    "F.linear(x, qkv_weight, qkv_bias) gives (B, n, 3D), laid out as (3, h, d): all queries, then all keys, "
    "then all values, each split into h heads. Attend in every head at once with d = D / h under the square "
    "root, merge the heads (exercise 03.3), then apply the output projection.",
    "B, n, D = x.shape; h = num_heads; "
    "q, k, v = F.linear(x, qkv_weight, qkv_bias).view(B, n, 3, h, D // h).permute(2, 0, 3, 1, 4); "
    "out = (q @ k.transpose(-2, -1) / math.sqrt(D // h)).softmax(-1) @ v; "
    "return F.linear(out.transpose(1, 2).reshape(B, n, D), proj_weight, proj_bias)"))
def check_multi_head_attention(mha) -> bool | None:
    """Exercise 03.4 · Multi-head self-attention as a function: ``mha(x, qkv_weight, qkv_bias, proj_weight,
    proj_bias, num_heads)``, (B, n, D) -> (B, n, D).

    Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(32)
    b, n, dim, h = 2, 7, 16, 4
    d = dim // h
    x = torch.randn(b, n, dim, generator=g)
    wq, bq = torch.randn(3 * dim, dim, generator=g) * 0.5, torch.randn(3 * dim, generator=g) * 0.1
    wp, bp = torch.randn(dim, dim, generator=g) * 0.3, torch.randn(dim, generator=g) * 0.1
    got = mha(x.clone(), wq.clone(), bq.clone(), wp.clone(), bp.clone(), h)

    def ref(scale=None, split="3hd", proj=True, bias=True):
        qkv = F.linear(x, wq, bq if bias else None)  # (B, n, 3D)
        if split == "3hd":
            q, k, v = qkv.view(b, n, 3, h, d).permute(2, 0, 3, 1, 4)  # 3 x (B, h, n, d)
        else:  # "h3d": per-head interleaved q, k, v
            q, k, v = qkv.view(b, n, h, 3, d).permute(3, 0, 2, 1, 4)  # 3 x (B, h, n, d)
        s = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale is None else scale)  # (B, h, n, n)
        out = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, dim)  # (B, n, D)
        return F.linear(out, wp, bp) if proj else out

    expect_shape(got, (b, n, dim), "attention output", {
        (b, h, n, d): "the heads are not merged back: transpose(1, 2) and reshape to (B, n, D), then apply proj",
        (b, n, 3 * dim): "that is the qkv projection's output; split it into q, k, v and heads"})
    expect_close(got, ref(), "attention output", atol=1e-4, hints=[
        (ref(scale=math.sqrt(dim)), "scaled by sqrt(D), the full width; each head uses sqrt(d) with d = D / h"),
        (ref(scale=1.0), "forgot the 1/sqrt(d) scale"),
        (ref(proj=False), "forgot the output projection (proj_weight, proj_bias) after merging the heads"),
        (ref(bias=False), "forgot the qkv bias"),
        (ref(split="h3d"), "split qkv as (h, 3, d); the fused layout is (3, h, d): all queries, then all keys, "
                           "then all values")])
    return "multi-head self-attention from the fused qkv weights"


__all__ += ["check_masked_attention"]


@exercise("03.5", "Attention with a padding mask", answer="my_masked_attention", hints=(
    "Sequences of different lengths are padded to one length, and no query may read a padded key. Set those "
    "keys' scores to -inf *before* the softmax: the softmax then gives them weight 0 and shares the weight "
    "among the real keys. The mask is per key, so it covers columns of the (B, n, n) score matrix.",
    "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]); "
    "scores = scores.masked_fill(key_padding_mask[:, None, :], float('-inf')); return scores.softmax(-1) @ v"))
def check_masked_attention(masked_attention) -> bool | None:
    """Exercise 03.5 · Attention with a padding mask: ``masked_attention(q, k, v, key_padding_mask)``.

    q, k: (B, n, d); v: (B, n, d_v); ``key_padding_mask``: (B, n) bool, True where a token is padding.
    Returns (B, n, d_v), padded keys getting weight 0. Used in notebooks/03_attention.
    """
    g = torch.Generator().manual_seed(12)
    b, n, d = 3, 6, 8
    q, k, v = (torch.randn(b, n, d, generator=g) for _ in range(3))
    lengths = torch.tensor([6, 4, 2])  # real tokens per sequence; the rest is padding
    pad = torch.arange(n)[None] >= lengths[:, None]  # (B, n) True = padding
    got = masked_attention(q.clone(), k.clone(), v.clone(), pad.clone())
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, n, n)
    want = scores.masked_fill(pad[:, None, :], float("-inf")).softmax(-1) @ v  # (B, n, d_v)
    expect_shape(got, (b, n, d), "masked attention output")
    if torch.isnan(got).any():
        raise ExerciseError("the output has NaNs: a whole row of scores was -inf (masked the queries, or used the "
                            "mask the wrong way round?); mask the padded *keys*, key_padding_mask[:, None, :]")
    w = scores.softmax(-1)
    after = w.masked_fill(pad[:, None, :], 0.0)  # weights zeroed after the softmax, rows no longer sum to 1
    expect_close(got, want, "masked attention output", atol=1e-5, hints=[
        (w @ v, "the mask is not used: padded keys still get weight"),
        (after @ v, "the padded keys' weights were zeroed after the softmax, so each row sums to less than 1; "
                    "mask the scores with -inf before the softmax instead"),
        (scores.masked_fill(pad[:, :, None], float("-inf")).softmax(-1).nan_to_num(0.0) @ v,
         "masked the padded queries (rows); the mask is on the keys (columns): key_padding_mask[:, None, :]"),
        (scores.masked_fill(~pad[:, None, :], float("-inf")).softmax(-1) @ v,
         "the mask is inverted: True marks padding, which must get weight 0"),
        ((q @ k.transpose(-2, -1)).masked_fill(pad[:, None, :], float("-inf")).softmax(-1) @ v,
         "forgot the 1/sqrt(d) scale")])
    return "padded keys get weight 0, the real keys' weights still sum to 1"
