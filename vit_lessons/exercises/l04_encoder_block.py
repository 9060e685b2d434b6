"""Self-checks for lesson 04's exercises: LayerNorm, a block's parameters and FLOPs predicted before they are
counted, LayerScale (CaiT) on the residual branches, and stochastic depth for any residual branch.

Used in notebooks/04_encoder_block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..blocks import Block
from ._common import ExerciseError, exercise, expect_close, expect_int, expect_shape

__all__ = ["check_layer_norm", "check_block_cost", "check_layerscale_block", "check_drop_path"]


@exercise("04.1", "LayerNorm by hand (warm-up)", answer="my_layer_norm", hints=(
    "Each token is normalised over its own D features (dim=-1, keepdim=True): subtract the mean, divide by "
    "the square root of the variance plus eps, then scale by weight and shift by bias. Which variance: "
    "divided by D, or by D - 1?",
    "mu = x.mean(-1, keepdim=True); var = x.var(-1, keepdim=True, unbiased=False); "
    "return (x - mu) / torch.sqrt(var + eps) * weight + bias"))
def check_layer_norm(layer_norm) -> bool | None:
    """Exercise 04.1 · LayerNorm by hand (warm-up): ``layer_norm(x, weight, bias, eps)`` normalises the last dim.

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


def _counted_block(dim: int, heads: int, ratio: float, tokens: int) -> tuple[int, int]:
    """A block's parameters and the FLOPs of one forward on one sequence, counted on the meta device (no memory)."""
    with torch.device("meta"):
        blk = Block(dim, heads, ratio, fused_attn=False)  # the explicit path, whose products the counter sees
        x = torch.zeros(1, tokens, dim)  # (1, N + 1, D)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        blk(x)
    return sum(p.numel() for p in blk.parameters()), counter.get_total_flops()


def _param_mistakes(dim: int, hid: int) -> dict[int, str]:
    """Shortfall of a typical wrong parameter count -> what was forgotten."""
    return {4 * dim: "forgot the two LayerNorms (a weight and a bias of size D each)",
            2 * dim: "counted one LayerNorm; the block has two (norm1 and norm2), each with weight and bias",
            3 * dim + dim + hid + dim: "forgot the biases of the linear layers",
            2 * dim * dim + 2 * dim: "counted the qkv projection as D x D; it makes q, k and v: 3D x D plus 3D biases",
            dim * dim + dim: "forgot the attention's output projection (proj, D x D plus D)",
            dim * hid + dim: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
            dim * hid + hid: "counted only one MLP layer; there are two, D -> hidden and hidden -> D",
            (2 * dim + 1) * (hid - 4 * dim): "used a hidden width of 4D; the MLP's is int(dim * mlp_ratio)"}


@exercise("04.2", "A block's parameters and FLOPs, predicted", answer="my_block_cost", hints=(
    "Parameters: two LayerNorms (2D each), qkv (D -> 3D) and proj (D -> D) with biases, fc1 (D -> H) and fc2 (H -> D) "
    "with biases, H = int(dim * mlp_ratio). FLOPs of one forward on n tokens: every Linear from a to b costs 2 n a b "
    "(a multiply-add is 2 FLOPs), and attention adds its two n x n products, 2 n² D each over all heads. Which of "
    "these numbers depend on num_heads?",
    "H = int(dim * mlp_ratio); params = 4 * dim + 4 * dim * dim + 4 * dim + 2 * dim * H + H + dim; "
    "flops = 2 * tokens * (4 * dim * dim + 2 * dim * H) + 4 * tokens**2 * dim; return params, flops"))
def check_block_cost(block_cost) -> bool | None:
    """Exercise 04.2 · A block's parameters and FLOPs, predicted: ``block_cost(dim, num_heads, mlp_ratio, tokens)``
    -> (params, flops).

    The parameters of one ``Block`` and the FLOPs of its forward on one sequence of ``tokens`` tokens (the matrix
    products, as PyTorch's FLOP counter counts them). The check counts both on a real block.
    Used in notebooks/04_encoder_block.
    """
    cases = [(768, 12, 4.0, 197), (64, 4, 2.0, 17), (96, 3, 3.0, 50)]  # ViT-B/16's block first

    def heads_matter() -> str:  # asked only when no typical mistake explains a wrong number
        three, six = block_cost(96, 3, 3.0, 50), block_cost(96, 6, 3.0, 50)
        if not isinstance(three, (tuple, list)) or not isinstance(six, (tuple, list)) or list(three) == list(six):
            return ""
        return (f"; block_cost(96, 3, 3.0, 50) = {tuple(three)} but block_cost(96, 6, 3.0, 50) = {tuple(six)}: the "
                "heads split the D features among themselves, so they change neither the parameters nor the FLOPs")
    for dim, heads, ratio, n in cases:
        where = f"block_cost({dim}, {heads}, {ratio}, {n})"
        got = block_cost(dim, heads, ratio, n)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{where} should return two numbers, (params, flops); got {got!r}")
        params = expect_int(got[0], f"{where}[0], the parameters,")
        flops = expect_int(got[1], f"{where}[1], the FLOPs,")
        hid = int(dim * ratio)
        want_p, want_f = _counted_block(dim, heads, ratio, n)
        if params != want_p:
            short = _param_mistakes(dim, hid).get(want_p - params)
            raise ExerciseError(f"{where}: predicted {params:,} parameters, counted {want_p:,}"
                                + (f": {short}" if short else heads_matter()))
        if flops != want_f:
            linear, attn = 2 * n * (4 * dim * dim + 2 * dim * hid), 4 * n * n * dim
            msg = {want_f // 2: "half of it: a multiply-add is 2 FLOPs",
                   linear: "forgot attention's two n x n products (q k^T and weights @ v), 4 n² D together",
                   linear + attn // 2: "counted one of attention's two n x n products; there are two, 2 n² D each",
                   linear + 4 * n * n * (dim // heads): "counted attention's products for one head (4 n² d); all "
                                                        "heads together work on D features: 4 n² D",
                   want_f - 4 * n * dim * hid: "forgot the MLP (fc1 and fc2, 2 n D H each)",
                   want_f - 4 * n * dim * dim: "counted qkv as D -> D; it makes q, k and v, D -> 3D",
                   want_f - 2 * n * dim * dim: "forgot the output projection (proj, 2 n D²)",
                   want_f + 4 * n * dim * (4 * dim - hid): "used a hidden width of 4D; the MLP's is "
                                                          "int(dim * mlp_ratio)",
                   2 * n * want_p: "2 FLOPs per parameter and token counts the layers' weights (and biases and "
                                   "norms, which the counter leaves out) but misses attention's n x n products"}
            hint = msg.get(flops) if flops != want_f else None
            raise ExerciseError(f"{where}: predicted {flops:,} FLOPs, counted {want_f:,}"
                                + (f": {hint}" if hint else heads_matter()))
    dim, heads, ratio, n = cases[0]
    params, flops = _counted_block(dim, heads, ratio, n)
    return (f"ViT-B/16's block, predicted and counted: {params:,} parameters, {flops / 1e9:.2f} GFLOPs on "
            f"{n} tokens, {4 * n * n * dim / flops:.0%} of them in attention's n x n products")


def _block() -> Block:
    blk = Block(16, num_heads=4, mlp_ratio=2.0)
    g = torch.Generator().manual_seed(41)
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        blk.norm1.weight.add_(1.0)  # LayerNorm scales around 1, so the norms do matter
        blk.norm2.weight.add_(1.0)
    return blk.eval()


@exercise("04.3", "LayerScale (CaiT)", answer="my_layerscale_block", hints=(
    "LayerScale changes only the residual branches: each branch's output is multiplied, feature by feature, by "
    "a learned vector (gamma1 for attention, gamma2 for the MLP) before it is added to the stream. The stream "
    "itself and the branches' inputs stay as in the pre-norm block.",
    "x = x + gamma1 * block.attn(block.norm1(x)); x = x + gamma2 * block.mlp(block.norm2(x)); return x"))
def check_layerscale_block(layerscale_block) -> bool | None:
    """Exercise 04.3 · LayerScale (CaiT): ``layerscale_block(block, x, gamma1, gamma2)`` -> the block's forward with
    each residual branch scaled per channel.

    x + diag(gamma1) attn(norm1(x)), then x + diag(gamma2) mlp(norm2(x)) (Touvron et al. 2021, Sec. 2); gamma1 and
    gamma2 have shape (D,). Used in notebooks/04_encoder_block.
    """
    blk = _block()
    g = torch.Generator().manual_seed(43)
    x = torch.randn(2, 5, 16, generator=g) * 2  # (B, N + 1, D)
    g1, g2 = torch.rand(16, generator=g) + 0.05, torch.rand(16, generator=g) * 1.5 + 0.05  # (D,) each
    with torch.no_grad():
        got = layerscale_block(blk, x.clone(), g1.clone(), g2.clone())
        a, m, n1, n2 = blk.attn, blk.mlp, blk.norm1, blk.norm2

        def run(s1, s2, where="out"):
            if where == "stream":
                h = s1 * (x + a(n1(x)))
                return s2 * (h + m(n2(h)))
            if where == "input":
                h = x + a(n1(s1 * x))
                return h + m(n2(s2 * h))
            if where == "normed":
                h = x + a(s1 * n1(x))
                return h + m(s2 * n2(h))
            h = x + s1 * a(n1(x))
            return h + s2 * m(n2(h))

        want = run(g1, g2)
        hints = [(blk(x), "gamma1 and gamma2 are not used: this is the plain pre-norm block"),
                 (run(g1, g2, "stream"), "scaled the whole stream, x + branch; LayerScale scales only the branch's "
                                         "output: x + gamma1 * attn(norm1(x))"),
                 (run(g1, g2, "input"), "scaled the branch's input; LayerScale multiplies the branch's output"),
                 (run(g1, g2, "normed"), "scaled the normalised input (LayerNorm's own weight already does that); "
                                         "LayerScale multiplies the branch's output"),
                 (run(g2, g1), "swapped the two: gamma1 scales the attention branch, gamma2 the MLP branch"),
                 (run(g1, torch.ones(16)), "forgot gamma2 on the MLP branch"),
                 (run(torch.ones(16), g2), "forgot gamma1 on the attention branch"),
                 (run(g1.mean(), g2.mean()), "used one number per branch (a scalar, as ReZero or SkipInit do); "
                                             "LayerScale has one per channel: multiply by the (D,) vector itself"),
                 (x + g1 * a(n1(x)) + g2 * m(n2(x)), "the MLP read the block's input instead of the output of the "
                                                     "attention step"),
                 ((lambda h: h + g2 * m(n2(h)))(g1 * a(n1(x))), "forgot the residual around attention")]
        expect_shape(got, tuple(x.shape), "LayerScale block output")
        expect_close(got, want, "LayerScale block output", atol=1e-5, hints=hints)
        eps = torch.full((16,), 1e-5)
        moved = (layerscale_block(blk, x.clone(), eps, eps) - x).norm() / x.norm()
    return (f"each branch scaled per channel before the '+'; with gamma = 1e-5, CaiT's start for 24 blocks, "
            f"this block changes its input by {moved:.0e} of its size")


@exercise("04.4", "Stochastic depth for any residual branch", answer="my_drop_path", hints=(
    "Draw one keep-or-drop decision per sample, not per number: a mask of shape (B, 1, 1, ...) with as many 1s "
    "as x has dimensions after the batch, so it broadcasts over the rest. Keep with probability 1 - p, and "
    "divide what you keep by 1 - p. Outside training (or with p = 0) return x.",
    "if not training or p == 0: return x; "
    "keep = (torch.rand((x.shape[0],) + (1,) * (x.ndim - 1)) >= p).to(x.dtype); return x * keep / (1 - p)"))
def check_drop_path(drop_path) -> bool | None:
    """Exercise 04.4 · Stochastic depth for any residual branch: ``drop_path(x, p, training)`` zeroes whole
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
