"""Self-checks for lesson 10's exercises: the FLOPs of a step, a race between two configs predicted from their
FLOPs and then measured in turns, the memory that attention keeps for the backward pass, predicted and measured.

N patches, n = N + 1 tokens with the class token, as in the lesson's formulas.
Used in notebooks/10_making_it_fast.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..bench.flops import step_flops
from ..config import ViTConfig
from ._common import ExerciseError, exercise, expect_int, judge_prediction

__all__ = ["check_step_flops", "check_race", "check_attention_memory", "RACE_CONFIGS"]

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


@exercise("10.1", "FLOPs of a step (warm-up)", answer="my_step_flops", hints=(
    "Count matrix products only, 2 FLOPs per multiply-add. Per block with n = N + 1 tokens (N patches and the "
    "class token): qkv 2·n·D·3D, Q Kᵀ and weights·V 2·n²·D each, the output projection 2·n·D², the MLP "
    "2·n·D·M twice; add the patch embedding 2·N·P²·C·D and the head 2·D·classes. A training step's backward "
    "costs twice its forward, except that the images need no gradient.",
    "fwd = pe + L * (8*n*D*D + 4*n*D*M + 4*n*n*D) + 2*D*K; return fwd if not train else 3 * fwd - pe"))
def check_step_flops(step_flops_fn) -> bool | None:
    """Exercise 10.1 · FLOPs of a step (warm-up): ``step_flops_fn(cfg, train)`` -> FLOPs per image.

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


# exercise 10.2's contestants: the course's model, and one twice as wide and half as deep
RACE_CONFIGS = {"course model (D 64, 6 blocks)": ViTConfig.fashion_mnist_cpu(),
                "wide model (D 128, 3 blocks)": ViTConfig.fashion_mnist_cpu(embed_dim=128, depth=3)}


class _FakeStep:
    """A step that sleeps: ``base`` seconds, plus a slow first call (warm-up); it logs every call's name."""

    def __init__(self, name: str, base: float, log: list):
        self.name, self.base, self.log = name, base, log

    def __call__(self) -> None:
        first = self.name not in self.log
        self.log.append(self.name)
        time.sleep(self.base + (0.08 if first else 0.0))


def _race_mechanics(race) -> None:
    """The learner's race on two sleeping steps whose true ratio is 2: in turns, the right way round, warm."""
    log: list[str] = []
    got = race(_FakeStep("A", 0.005, log), _FakeStep("B", 0.010, log), 7)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise ExerciseError(f"return a number (how many times as fast A is as B), got {type(got).__name__}")
    if min(log.count("A"), log.count("B")) < 7:
        raise ExerciseError(f"each step ran {log.count('A')} and {log.count('B')} times for 7 rounds: run each at "
                            "least once per round")
    turns = sum(a != b for a, b in zip(log, log[1:]))
    if turns < 7:
        raise ExerciseError(f"the steps ran in the order {''.join(log[:24])}{'...' if len(log) > 24 else ''}: all of "
                            "one, then all of the other, so a busy spell on the machine slows only one of them; take "
                            "turns, A then B (or B then A) in every round")
    if 0.38 <= got <= 0.62:
        raise ExerciseError(f"got {got:.2f}: that is B's speed over A's (A's seconds over B's); A is as many times "
                            "as fast as B as B's seconds per step are longer: divide B's seconds by A's")
    if not 1.6 <= got <= 2.5:
        raise ExerciseError(f"two steps of 5 and 10 ms gave {got:.2f}, not about 2: the first call of each step is "
                            "slow (warm-up, as real ones are); run each once before timing, and take the median of "
                            "the per-round ratios so one odd round cannot move it")


def _train_step(cfg: ViTConfig, batch: int = 64):
    from ..model import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    x = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size)  # (B, C, H, W)
    y = torch.randint(0, cfg.num_classes, (batch,))

    def step() -> None:
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


@exercise("10.2", "Predict, then race two configs", answer="my_race", hints=(
    "First the prediction: a step's time should follow its FLOPs, so the course model trains "
    "step_flops(wide) / step_flops(course) times as fast as the wide one (your my_step_flops of 10.1 gives both). "
    "Then the race: run each step once to warm up; then in every round time A once and B once, one after the "
    "other (time.perf_counter() before and after); divide within the round, B's seconds by A's, and return the "
    "median over rounds.",
    "a(); b(); ratios = []; for _ in range(rounds): t0 = time.perf_counter(); a(); t1 = time.perf_counter(); b(); "
    "t2 = time.perf_counter(); ratios.append((t2 - t1) / (t1 - t0)); return statistics.median(ratios)"))
def check_race(race) -> bool | None:
    """Exercise 10.2 · Predict, then race two configs: ``race(step_a, step_b, rounds)`` -> how many times as fast A
    is as B, timed in turns; ``predicted_speedup`` (written beside it) is the FLOP formula's answer for the course
    model against the wide one of :data:`RACE_CONFIGS`. Used in notebooks/10_making_it_fast.
    """
    _race_mechanics(race)
    (name_a, a), (name_b, b) = RACE_CONFIGS.items()
    flop_ratio = step_flops(b, 1, True) / step_flops(a, 1, True)
    verdict = judge_prediction(race, "predicted_speedup", flop_ratio, 0.05 * flop_ratio,
                               "the FLOPs of a training step, wide over course (exercise 10.1's formula)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: steadier on a shared machine (§10.2)
    try:
        measured = float(race(_train_step(a), _train_step(b), 5))
    finally:
        torch.set_num_threads(threads)
    return (f"{verdict}. Measured in turns here (batch 64, 1 thread, median of 5 rounds): the {name_a} trains "
            f"{measured:.2f}x as fast as the {name_b}; the FLOPs said {flop_ratio:.2f}x")


@exercise("10.3", "Memory that attention keeps", answer="my_attention_memory", hints=(
    "For the backward pass the explicit attention keeps its (B, h, N + 1, N + 1) probabilities in every "
    "block: n = N + 1 tokens, the class token included. Multiply by the bytes of one number.",
    "n = cfg.num_tokens; return cfg.depth * batch * cfg.num_heads * n * n * bytes_per_number"))
def check_attention_memory(attention_memory) -> bool | None:
    """Exercise 10.3 · Memory that attention keeps: ``attention_memory(cfg, batch, bytes_per_number)`` -> bytes
    of attention probabilities kept for the backward pass, all blocks; then compared with the gap between the
    explicit and the SDPA path's measured peaks. Used in notebooks/10_making_it_fast.
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
    from ..bench.speed import memory_rows

    cfg = ViTConfig.fashion_mnist_cpu()  # the course model, here on 56 px images: an 8 x 8 grid, 65 tokens
    rows = memory_rows("fashion_mnist", cfg, 16, "cpu", grids=(8,))
    gap = rows[0]["peak_mem_mb"] - rows[1]["peak_mem_mb"]
    big = cfg.replace(img_size=8 * cfg.patch_size)
    mine = attention_memory(big, 16, 4) / 2**20
    return (f"for the course model on 56 px images ({big.num_tokens} tokens, batch 16, float32) you predict "
            f"{mine:.2f} MB; measured now, the explicit path's peak is {gap:.2f} MB above the SDPA path's")
