"""Self-checks for lesson 10's exercises: the FLOPs of a step, a ratio measured in turns, the memory that
attention keeps for the backward pass.

N patches, n = N + 1 tokens with the class token, as in the lesson's formulas.
Used in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import statistics

from ..bench.flops import step_flops
from ..config import ViTConfig
from ._common import ExerciseError, exercise, expect_int

__all__ = ["check_step_flops", "check_paired_ratio", "check_attention_memory"]

_CONFIGS = [ViTConfig.vit_b_16(), ViTConfig.vit_ti_16(img_size=96), ViTConfig.fashion_mnist_cpu(patch_size=7),
            ViTConfig.tiny(qkv_bias=False, num_classes=0)]


def _flops(cfg: ViTConfig, train: bool, tokens: str = "n", macs: bool = False, attention: bool = True,
           backward: str = "2x") -> int:
    """The reference count, or one of its typical mistakes."""
    n = cfg.num_tokens if tokens == "n" else cfg.num_patches  # the mistake counts the N patches only
    d, m, L = cfg.embed_dim, cfg.mlp_hidden_dim, cfg.depth
    pe = 2 * cfg.num_patches * cfg.patch_size**2 * cfg.in_chans * d
    block = 2 * n * d * 3 * d + 2 * n * d * d + 4 * n * d * m + (4 * n * n * d if attention else 0)
    fwd = pe + L * block + 2 * d * cfg.num_classes
    total = {"2x": 3 * fwd - pe, "3x-all": 3 * fwd, "none": fwd}[backward] if train else fwd
    return total // 2 if macs else total


@exercise("10.1", "FLOPs of a step", answer="my_step_flops", hints=(
    "Count matrix products only, 2 FLOPs per multiply-add. Per block with n = N + 1 tokens (N patches and the "
    "class token): qkv 2·n·D·3D, Q Kᵀ and weights·V 2·n²·D each, the output projection 2·n·D², the MLP "
    "2·n·D·M twice; add the patch embedding 2·N·P²·C·D and the head 2·D·classes. A training step's backward "
    "costs twice its forward, except that the images need no gradient.",
    "fwd = pe + L * (8*n*D*D + 4*n*D*M + 4*n*n*D) + 2*D*K; return fwd if not train else 3 * fwd - pe"))
def check_step_flops(step_flops_fn) -> bool | None:
    """Exercise 10.1 · FLOPs of a step: ``step_flops_fn(cfg, train)`` -> FLOPs per image.

    Inference forward, or a training step (forward and backward). Used in notebooks/10_making_it_fast.
    """
    for cfg in _CONFIGS:
        for train in (False, True):
            what = f"{'a training step' if train else 'inference'} of {cfg.name} ({cfg.num_tokens} tokens)"
            got = expect_int(step_flops_fn(cfg, train), f"step_flops({cfg.name}, train={train})")
            want = step_flops(cfg, 1, train)
            if got == want:
                continue
            mistakes = [
                (_flops(cfg, train, macs=True), "that counts multiply-adds; a multiply-add is 2 FLOPs"),
                (_flops(cfg, train, tokens="N"), "the blocks see the class token too: n = N + 1 tokens, not the "
                                                 "N patches"),
                (_flops(cfg, train, attention=False), "the attention itself is missing: Q Kᵀ and the weights "
                                                      "times V cost 2·n²·D FLOPs each per block"),
                (_flops(cfg, train, backward="3x-all"), "the images need no gradient, so the patch embedding's "
                                                        "backward is one product, not two: 3·forward − patch embed"),
                (_flops(cfg, train, backward="none"), "a training step also runs the backward pass, which costs "
                                                      "about twice the forward"),
            ]
            for alt, msg in mistakes:
                if got == alt:
                    raise ExerciseError(f"{what}: {msg}")
            raise ExerciseError(f"{what}: got {got:,} FLOPs, expected {want:,} (off by a factor {got / want:.3g})")
    return "matches the formula for ViT-B/16, ViT-Ti/16 at 96 px, the Fashion-MNIST model and a headless toy"


@exercise("10.2", "A ratio measured in turns", answer="my_paired_ratio", hints=(
    "Round r timed both contestants one after the other, under the same machine load. Divide within each "
    "round first, then take the median of those ratios, so a slow round (the machine was busy) cancels out.",
    "return statistics.median(b / a for a, b in zip(seconds_a, seconds_b))"))
def check_paired_ratio(paired_ratio) -> bool | None:
    """Exercise 10.2 · A ratio measured in turns: ``paired_ratio(seconds_a, seconds_b)`` -> how many times faster
    A is than B, from per-round seconds per step. Used in notebooks/10_making_it_fast.
    """
    # rounds 3 and 4 ran while something else used the cores: both contestants slowed down
    a = [1.00, 1.02, 3.10, 2.60, 0.99]
    b = [1.10, 1.13, 3.30, 2.95, 1.08]
    want = statistics.median(y / x for x, y in zip(a, b))
    got = paired_ratio(list(a), list(b))
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        raise ExerciseError(f"return a number (a ratio), got {type(got).__name__}")
    if abs(got - want) < 1e-9:
        return f"A is {got:.3f}x as fast as B, measured round by round"
    if abs(got - 1 / want) < 1e-9:
        raise ExerciseError("that is B's speed over A's: seconds are the inverse of speed, divide B's by A's")
    if abs(got - statistics.median(b) / statistics.median(a)) < 1e-9:
        raise ExerciseError("that is the ratio of the two medians, which mixes rounds taken under different "
                            "loads; divide within each round first, then take the median")
    if abs(got - statistics.mean(y / x for x, y in zip(a, b))) < 1e-9:
        raise ExerciseError("a mean lets one odd round pull the result; take the median of the ratios")
    raise ExerciseError(f"got {got:.4g}, expected {want:.4g}")


@exercise("10.3", "Memory that attention keeps", answer="my_attention_memory", hints=(
    "For the backward pass the explicit attention keeps its (B, h, N + 1, N + 1) probabilities in every "
    "block: n = N + 1 tokens, the class token included. Multiply by the bytes of one number.",
    "n = cfg.num_tokens; return cfg.depth * batch * cfg.num_heads * n * n * bytes_per_number"))
def check_attention_memory(attention_memory) -> bool | None:
    """Exercise 10.3 · Memory that attention keeps: ``attention_memory(cfg, batch, bytes_per_number)`` -> bytes
    of attention probabilities kept for the backward pass, all blocks. Used in notebooks/10_making_it_fast.
    """
    for p in (4, 7, 14):
        cfg = ViTConfig.fashion_mnist_cpu(patch_size=p)
        for batch, nbytes in ((8, 2), (64, 4)):  # bytes 2 and 4 heads: each mistake gives another number
            n, h, L = cfg.num_tokens, cfg.num_heads, cfg.depth
            want = L * batch * h * n * n * nbytes
            got = expect_int(attention_memory(cfg, batch, nbytes), f"attention_memory(patch {p}, {batch}, {nbytes})")
            if got == want:
                continue
            m = cfg.num_patches  # the N patches alone, a typical mistake
            for alt, msg in ((L * batch * h * m * m * nbytes, "the class token is a token too: n = N + 1, not the "
                                                              "N patches"),
                             (L * batch * n * n * nbytes, "every head has its own (N + 1) x (N + 1) probabilities"),
                             (batch * h * n * n * nbytes, "every block keeps its own probabilities: times depth"),
                             (L * batch * h * n * n, "multiply by the bytes per number (4 in float32)")):
                if got == alt:
                    raise ExerciseError(f"patch size {p}, batch {batch}: {msg}")
            raise ExerciseError(f"patch size {p}, batch {batch}: got {got:,} bytes, expected {want:,}")
    sizes = [ViTConfig.fashion_mnist_cpu(patch_size=p) for p in (4, 7, 14)]
    mb = ", ".join(f"{c.depth * 64 * c.num_heads * c.num_tokens**2 * 4 / 2**20:.2f}" for c in sizes)
    return f"with patches of 4, 7 and 14 pixels the course model keeps {mb} MB for a batch of 64 in float32"
