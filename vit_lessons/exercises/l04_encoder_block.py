"""Self-checks for lesson 04's exercises: LayerNorm, GELU, the pre-norm block, counting a block's parameters,
stochastic depth.

Used in notebooks/04_encoder_block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..blocks import Block
from ._common import ExerciseError, exercise, expect_close, expect_int, expect_shape

__all__ = ["check_layer_norm", "check_gelu", "check_pre_norm_block", "check_block_params", "check_drop_path"]


@exercise("04.1", "LayerNorm by hand", answer="my_layer_norm", hints=(
    "Each token is normalised over its own D features (dim=-1, keepdim=True): subtract the mean, divide by "
    "the square root of the variance plus eps, then scale by weight and shift by bias. Which variance: "
    "divided by D, or by D - 1?",
    "mu = x.mean(-1, keepdim=True); var = x.var(-1, keepdim=True, unbiased=False); "
    "return (x - mu) / torch.sqrt(var + eps) * weight + bias"))
def check_layer_norm(layer_norm) -> bool | None:
    """Exercise 04.1 · LayerNorm by hand: ``layer_norm(x, weight, bias, eps)`` normalises the last dim.

    The same as nn.LayerNorm. Used in notebooks/04_encoder_block.
    """
    g = torch.Generator().manual_seed(40)
    d, eps = 8, 1e-6
    x = torch.randn(2, 4, d, generator=g) * 3 + 1
    x[0, 0] = 0.5 + 1e-3 * torch.randn(d, generator=g)  # a nearly constant token: here eps matters
    w, b = torch.randn(d, generator=g), torch.randn(d, generator=g)
    got = layer_norm(x.clone(), w.clone(), b.clone(), eps)
    mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)  # (B, N, 1) each
    want = F.layer_norm(x, (d,), w, b, eps)
    xc = x - mu
    expect_shape(got, tuple(x.shape), "LayerNorm output", {
        (2, 4, 1): "that is one number per token (the mean or the std); return the normalised tokens"})
    expect_close(got, want, "LayerNorm output", atol=1e-4, hints=[
        (xc / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b,
         "used the unbiased variance (divides by D - 1); LayerNorm divides by D: var(unbiased=False)"),
        (xc / torch.sqrt(var) * w + b, "forgot eps: divide by sqrt(var + eps); it matters for nearly constant tokens"),
        (xc / (torch.sqrt(var) + eps) * w + b, "eps is added to the std; it goes inside the square root, "
                                               "sqrt(var + eps)"),
        (xc / torch.sqrt(var + 1e-5) * w + b, "used eps=1e-5 (PyTorch's default) instead of the eps argument"),
        (xc / torch.sqrt(var + eps), "forgot the learned scale and shift: multiply by weight, add bias"),
        (xc / torch.sqrt(var + eps) * w, "forgot the bias (the learned shift beta)"),
        (x / torch.sqrt(var + eps) * w + b, "forgot to subtract the mean"),
        ((x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True, unbiased=False) + eps) * w + b,
         "normalised over the batch (dim 0), like BatchNorm; LayerNorm normalises each token over its "
         "features, dim=-1"),
        ((x - x.mean(-2, keepdim=True)) / torch.sqrt(x.var(-2, keepdim=True, unbiased=False) + eps) * w + b,
         "normalised over the tokens (dim -2); normalise each token over its features, dim=-1")])
    return "biased variance, eps inside the square root, then weight and bias"


@exercise("04.2", "GELU", answer="my_gelu", hints=(
    "Phi is the cumulative distribution function of the standard normal. torch.erf gives it once its "
    "argument is rescaled: Phi(x) = (1 + erf(x / sqrt(2))) / 2.",
    "return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))"))
def check_gelu(gelu) -> bool | None:
    """Exercise 04.2 · GELU: ``gelu(x)`` -> x * Phi(x), the exact (erf) GELU.

    Used in notebooks/04_encoder_block.
    """
    x = torch.linspace(-4, 4, 161)
    got = gelu(x.clone())
    want = x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    expect_shape(got, tuple(x.shape), "GELU output")
    expect_close(got, want, "GELU output", atol=1e-5, rtol=1e-5, hints=[
        (F.gelu(x, approximate="tanh"), "this is the tanh approximation (differs by up to 5e-4); "
                                        "use the exact form with torch.erf"),
        (x * torch.sigmoid(1.702 * x), "this is the sigmoid approximation x * sigmoid(1.702 x); use torch.erf"),
        (x * 0.5 * (1 + torch.erf(x)), "forgot to divide by sqrt(2) inside erf: Phi(x) = (1 + erf(x / sqrt(2))) / 2"),
        (0.5 * (1 + torch.erf(x / math.sqrt(2))), "this is Phi(x) alone; GELU multiplies it by x"),
        (x * (1 + torch.erf(x / math.sqrt(2))), "forgot the factor 1/2: Phi(x) = (1 + erf(x / sqrt(2))) / 2"),
        (torch.relu(x), "this is ReLU")])
    return "exact GELU, x * Phi(x)"


def _block() -> Block:
    blk = Block(16, num_heads=4, mlp_ratio=2.0)
    g = torch.Generator().manual_seed(41)
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        blk.norm1.weight.add_(1.0)  # LayerNorm scales around 1, so the norms do matter
        blk.norm2.weight.add_(1.0)
    return blk.eval()


@exercise("04.3", "The pre-norm block", answer="my_block_forward", hints=(
    "Two residual updates, attention first, then the MLP. Each branch reads a normalised copy of the stream "
    "through its own LayerNorm; the stream x itself is never normalised.",
    "x = x + block.attn(block.norm1(x)); x = x + block.mlp(block.norm2(x)); return x"))
def check_pre_norm_block(block_forward) -> bool | None:
    """Exercise 04.3 · The pre-norm block: ``block_forward(block, x)`` -> x + attn(norm1(x)), then + mlp(norm2(.)).

    Paper Eq. 2-3. Used in notebooks/04_encoder_block.
    """
    blk = _block()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(42)) * 2  # (B, N + 1, D)
    with torch.no_grad():
        got = block_forward(blk, x.clone())
        a, m, n1, n2 = blk.attn, blk.mlp, blk.norm1, blk.norm2
        want = blk(x)
        h = x + a(n1(x))
        hints = [
            (n2(n1(x + a(x)) + m(n1(x + a(x)))), "this is the post-norm block (LayerNorm after the addition, "
                                                 "the original Transformer); ViT normalises the branch input: "
                                                 "x + attn(norm1(x))"),
            (a(n1(x)) + m(n2(a(n1(x)))), "forgot the residual around attention: x = x + attn(norm1(x))"),
            (h + m(n2(h)) - h, "forgot the residual around the MLP: x = x + mlp(norm2(x))"),
            ((lambda y: y + m(n2(y)))(n1(x) + a(n1(x))), "normalised the residual stream itself (x = norm1(x) "
                                                         "first); only the branch input is normalised, the "
                                                         "stream stays as it is"),
            (h + m(n1(h)), "used norm1 before the MLP as well; the MLP has its own norm2"),
            ((lambda y: y + a(n1(y)))(x + m(n2(x))), "ran the MLP before attention; attention comes first (Eq. 2)"),
            (h, "forgot the MLP half of the block (Eq. 3)"),
            (x + a(n1(x)) + m(n2(x)), "the MLP read the block's input instead of the output of the attention step: "
                                      "x = x + attn(norm1(x)) first, then x = x + mlp(norm2(x))")]
    expect_shape(got, tuple(x.shape), "block output")
    expect_close(got, want, "block output", atol=1e-5, hints=hints)
    return "x + MSA(LN(x)), then x + MLP(LN(x))"


@exercise("04.4", "Parameters of a block", answer="my_block_params", hints=(
    "List the layers with their weights and biases: norm1 and norm2 (2D each), qkv (D -> 3D), proj (D -> D), "
    "mlp.fc1 (D -> H) and mlp.fc2 (H -> D) with H = int(D * mlp_ratio). A Linear from a to b has a*b + b "
    "parameters.",
    "H = int(dim * mlp_ratio); return 2 * 2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) "
    "+ (dim * H + H) + (H * dim + dim)"))
def check_block_params(block_params) -> bool | None:
    """Exercise 04.4 · Parameters of a block: ``block_params(dim, mlp_ratio)`` -> the parameters of one block.

    An int, from the formula alone. Used in notebooks/04_encoder_block.
    """
    cases = [(768, 4.0), (96, 2.0), (192, 4.0), (64, 3.0)]
    for dim, ratio in cases:
        where = f"block_params({dim}, {ratio})"
        got = expect_int(block_params(dim, ratio), where)
        hid = int(dim * ratio)
        with torch.device("meta"):
            want = sum(p.numel() for p in Block(dim, 4, ratio).parameters())
        if got == want:
            continue
        d = want - got
        hints = {
            4 * dim: "forgot the two LayerNorms (a weight and a bias of size D each)",
            2 * dim: "counted one LayerNorm; the block has two (norm1 and norm2), each with weight and bias",
            3 * dim + dim + hid + dim: "forgot the biases of the linear layers",
            2 * dim * dim + 2 * dim: "counted the qkv projection as D x D; it makes q, k and v: 3D x D plus 3D biases",
            dim * dim + dim: "forgot the attention's output projection (proj, D x D plus D)",
            dim * hid + dim: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
            dim * hid + hid: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
        }
        if d in hints:
            raise ExerciseError(f"{where} = {got:,}, short by {d:,}: {hints[d]}")
        raise ExerciseError(f"{where} = {got:,} but a block has {want:,} parameters")
    return "12 D^2 + 13 D with MLP ratio 4"


@exercise("04.5", "Stochastic depth for any residual branch", answer="my_drop_path", hints=(
    "Draw one keep-or-drop decision per sample, not per number: a mask of shape (B, 1, 1, ...) with as many 1s "
    "as x has dimensions after the batch, so it broadcasts over the rest. Keep with probability 1 - p, and "
    "divide what you keep by 1 - p. Outside training (or with p = 0) return x.",
    "if not training or p == 0: return x; "
    "keep = (torch.rand((x.shape[0],) + (1,) * (x.ndim - 1)) >= p).to(x.dtype); return x * keep / (1 - p)"))
def check_drop_path(drop_path) -> bool | None:
    """Exercise 04.5 · Stochastic depth for any residual branch: ``drop_path(x, p, training)`` zeroes whole
    samples' branches.

    Kept samples are scaled by 1 / (1 - p); the identity outside training. Checked on token batches and on
    CNN feature maps. Used in notebooks/04_encoder_block.
    """
    torch.manual_seed(44)
    x = torch.rand(4000, 5, 8) + 0.5  # (B, N + 1, D), all positive so a zero can only come from the mask
    x0 = x.clone()
    for training, p in ((False, 0.25), (True, 0.0)):
        got = drop_path(x, p, training)
        expect_shape(got, tuple(x.shape), f"drop_path(x, {p}, training={training})")
        if not torch.equal(got, x0):
            raise ExerciseError(f"drop_path(x, {p}, training={training}) changed x; "
                                + ("outside training drop path is the identity: return x" if not training
                                   else "with p = 0 nothing is dropped and nothing rescaled: return x"))
    p = 0.25
    got = drop_path(x, p, True)
    if not torch.equal(x, x0):
        raise ExerciseError("drop_path changed its input in place; return a new tensor (x * mask / (1 - p))")
    expect_shape(got, tuple(x.shape), "drop_path(x, 0.25, training=True)")
    got = got.detach()
    zero = got == 0  # (B, N + 1, D)
    per_sample = zero.float().mean((1, 2))  # (B,): share of zeros in each sample
    if ((per_sample > 0) & (per_sample < 1)).any():
        raise ExerciseError("some samples are only partly zeroed: that is dropout (one decision per number); drop "
                            "path makes one decision per sample, with a mask of shape (B, 1, 1)")
    dropped = float(per_sample.mean())
    if abs(dropped - (1 - p)) < 0.03:
        raise ExerciseError(f"{dropped:.0%} of the samples were dropped with p = {p}: p is the probability of "
                            "dropping, so keep with probability 1 - p")
    if abs(dropped - p) > 0.03:
        raise ExerciseError(f"{dropped:.1%} of the samples were dropped, but with p = {p} about {p:.0%} should be")
    kept = ~zero[:, 0, 0]  # (B,)
    ratio = got[kept] / x0[kept]  # (B_kept, N + 1, D)
    for scale, msg in ((1.0, "forgot to scale the kept samples: divide them by 1 - p so the mean stays x"),
                       (1 - p, "multiplied the kept samples by 1 - p; divide by it, so the expected output is x")):
        if torch.allclose(ratio, torch.full_like(ratio, scale), atol=1e-5):
            raise ExerciseError(msg)
    if not torch.allclose(ratio, torch.full_like(ratio, 1 / (1 - p)), atol=1e-5):
        raise ExerciseError("the kept samples should be x / (1 - p) exactly")
    fmap = torch.rand(400, 3, 4, 4) + 0.5  # (B, C, H, W): a CNN's residual branch
    try:
        got4 = drop_path(fmap, p, True)
    except RuntimeError as err:  # a mask shaped for 3-D tokens does not broadcast over 4-D maps
        raise ExerciseError(f"on a (B, C, H, W) feature map it fails ({err}); build the mask from x.ndim: "
                            "(x.shape[0],) + (1,) * (x.ndim - 1)") from None
    expect_shape(got4, tuple(fmap.shape), "drop_path on a (B, C, H, W) feature map")
    share = (got4 == 0).float().mean((1, 2, 3))  # (B,)
    if ((share > 0) & (share < 1)).any():
        raise ExerciseError("on a (B, C, H, W) feature map some samples are only partly zeroed: the mask needs "
                            "shape (B, 1, 1, 1) there, (x.shape[0],) + (1,) * (x.ndim - 1)")
    return "one decision per sample, kept samples scaled by 1 / (1 - p), the identity outside training"
