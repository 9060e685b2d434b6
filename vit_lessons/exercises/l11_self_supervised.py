"""Self-checks for lesson 11's exercises: random masking (warm-up), the paper's grid masking, the encoder's share of
the compute (predicted, then computed), and a k-nearest-neighbour probe on frozen features.

Used in notebooks/11_self_supervised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ViTConfig
from ..mae import random_masking
from ._common import ExerciseError, exercise, expect_int, expect_shape, judge_prediction

__all__ = ["check_random_masking", "check_grid_masking", "check_encoder_flops", "check_knn_predict"]


def _three(got, what: str):
    if not (isinstance(got, (tuple, list)) and len(got) == 3 and all(isinstance(t, torch.Tensor) for t in got)):
        raise ExerciseError(f"{what} should return three tensors (ids_keep, mask, ids_restore), got "
                            f"{type(got).__name__}")
    return got


@exercise("11.1", "Random masking (warm-up)", answer="my_random_masking", hints=(
    "Draw one uniform number per patch with the generator, sort the patches by it (argsort), keep the first K = "
    "round(N (1 - mask_ratio)) of that order. The mask is 1 for removed patches, in the image's own patch order; "
    "argsort of the shuffle gives ids_restore.",
    "noise = torch.rand(batch, n, generator=generator); shuffle = noise.argsort(1); restore = shuffle.argsort(1); "
    "k = round(n * (1 - mask_ratio)); mask = torch.ones(batch, n); mask[:, :k] = 0; "
    "return shuffle[:, :k], mask.gather(1, restore), restore"))
def check_random_masking(random_masking_fn) -> str:
    """Exercise 11.1 · Random masking (warm-up): ``random_masking_fn(batch, num_patches, mask_ratio, generator)`` ->
    (ids_keep (B, K), mask (B, N), ids_restore (B, N)), drawn as §11.2 draws it.

    Used in notebooks/11_self_supervised.
    """
    for B, N, r in ((3, 16, 0.75), (2, 49, 0.75), (4, 16, 0.5), (2, 49, 0.9)):  # 49 x 0.1 = 4.9 -> 5 kept
        keep, mask, restore = _three(random_masking_fn(B, N, r, torch.Generator().manual_seed(7)), "my_random_masking")
        k_ref, m_ref, r_ref = random_masking(B, N, r, torch.Generator().manual_seed(7))
        K = k_ref.shape[1]
        expect_shape(mask, (B, N), f"the mask for {N} patches")
        if tuple(keep.shape) != (B, K):
            raise ExerciseError(f"ids_keep has shape {tuple(keep.shape)}; at mask_ratio {r} an image keeps K = "
                                f"round({N} * (1 - {r})) = {K} patches: shape ({B}, {K})" +
                                (" — that is the number removed, not kept" if keep.shape[-1] == N - K else ""))
        if torch.equal(mask.float(), 1 - m_ref):
            raise ExerciseError("the mask is inverted: it should be 1 where a patch is REMOVED (the loss counts "
                                "those), 0 where it is kept")
        shuffle = r_ref.argsort(1)
        if torch.equal(mask.float(), m_ref.gather(1, shuffle)):
            raise ExerciseError("the mask is in shuffled order (zeros first); put it back in patch order with "
                                "mask.gather(1, ids_restore)")
        if torch.equal(restore, shuffle) and not torch.equal(shuffle, r_ref):
            raise ExerciseError("ids_restore is the shuffle itself; it must undo it: "
                                "ids_restore = ids_shuffle.argsort(1)")
        if torch.equal(keep, shuffle[:, -K:]):
            raise ExerciseError("you kept the last K of the shuffled order; keep the first K (ids_shuffle[:, :K])")
        if not (torch.equal(mask.float(), m_ref) and torch.equal(keep, k_ref) and torch.equal(restore, r_ref)):
            raise ExerciseError("the indices differ from the lesson's draw with the same generator: one "
                                "torch.rand(batch, n, generator=generator) per call, then argsort along the patches")
    return "the same masks as vit_lessons.mae.random_masking, every image its own, exactly K patches kept"


def _grid_ref(batch: int, grid: int):
    keep1 = torch.tensor([r * grid + c for r in range(0, grid, 2) for c in range(0, grid, 2)])  # top-left of 2x2
    rest = torch.tensor([i for i in range(grid * grid) if i not in set(keep1.tolist())])
    shuffle = torch.cat([keep1, rest])[None].repeat(batch, 1)  # (B, N): kept first
    restore = shuffle.argsort(1)
    mask = torch.ones(batch, grid * grid)
    mask[:, keep1] = 0
    return shuffle[:, :len(keep1)], mask, restore


@exercise("11.2", "Grid masking", answer="my_grid_masking", hints=(
    "Keep the top-left patch of every 2x2 block: patch index row * grid + col for even row and even col. The other "
    "three quarters are removed. ids_restore must undo an order in which the kept patches come first, so build that "
    "order (kept, then the rest) and argsort it.",
    "keep = [r * g + c for r in range(0, g, 2) for c in range(0, g, 2)]; order = keep + [i for i in range(g * g) if "
    "i not in keep]; shuffle = torch.tensor(order).repeat(batch, 1); restore = shuffle.argsort(1); mask = "
    "torch.ones(batch, g * g); mask[:, keep] = 0; return shuffle[:, :len(keep)], mask, restore"))
def check_grid_masking(grid_masking_fn) -> str:
    """Exercise 11.2 · Grid masking: ``grid_masking_fn(batch, grid_size)`` -> (ids_keep, mask, ids_restore) in
    :func:`vit_lessons.mae.random_masking`'s conventions, keeping one patch of every 2x2 block (the paper's grid-wise
    sampling, He et al. 2021 Table 1f and Fig. 6).

    Used in notebooks/11_self_supervised.
    """
    from ..mae import MaskedAutoencoder

    for B, g in ((2, 4), (3, 6)):
        keep, mask, restore = _three(grid_masking_fn(B, g), "my_grid_masking")
        k_ref, m_ref, _ = _grid_ref(B, g)
        expect_shape(mask, (B, g * g), f"the mask for a {g}x{g} grid")
        if torch.equal(mask.float(), 1 - m_ref):
            raise ExerciseError("the mask is inverted: 1 marks a removed patch, 0 a kept one")
        if mask.float().sum(1).ne(g * g * 3 // 4).any():
            raise ExerciseError(f"grid masking removes exactly 3 of every 4 patches: {g * g * 3 // 4} of {g * g}, "
                                f"not {mask.sum(1).tolist()}")
        if not torch.equal(mask.float(), m_ref):
            kept = (mask[0] == 0).nonzero().flatten().tolist()
            raise ExerciseError(f"kept patches {kept}: keep the top-left one of each 2x2 block, indices row * {g} + "
                                f"col with row and col even ({k_ref[0].tolist()})")
        if sorted(keep[0].tolist()) != k_ref[0].tolist() or keep.shape != k_ref.shape:
            raise ExerciseError("ids_keep must list the kept patches (those where the mask is 0), one row per image")
        shuffle = restore.argsort(1)
        if not torch.equal(shuffle[:, :keep.shape[1]], keep):
            raise ExerciseError("ids_restore does not undo an order that starts with ids_keep: build the order "
                                "(kept patches first, then the removed ones) and take its argsort")
    torch.manual_seed(0)
    mae = MaskedAutoencoder(ViTConfig.preset("fashion_mnist_cpu", depth=1))
    keep, mask, restore = grid_masking_fn(2, 4)
    pred = mae.forward_decoder(mae.encode(torch.randn(2, 1, 28, 28), keep), restore)  # the package takes them as is
    return (f"one patch of every 2x2 block kept, in the package's conventions (the masked autoencoder decoded "
            f"{tuple(pred.shape)} from them)")


def _block_flops(n: int, D: int, mlp_ratio: float, depth: int, cls: bool = True, attn: bool = True,
                 mlp: float | None = None, both: bool = True) -> int:
    """Multiply-adds of ``depth`` encoder blocks on n tokens: qkv and projection, scores and weighted sum, MLP."""
    n = n + (1 if cls else 0)
    hidden = int(D * (mlp if mlp is not None else mlp_ratio))
    linear = n * (3 * D * D + D * D + 2 * D * hidden)
    mixing = (2 if both else 1) * n * n * D if attn else 0
    return depth * (linear + mixing)


@exercise("11.3", "The encoder's share of the compute", answer="my_encoder_flops", hints=(
    "Count multiply-adds of the blocks only (ignore norms, biases, softmax, the patch embedding). With n tokens of "
    "width D: the qkv projection n·3D², the output projection n·D², the scores QKᵀ n²·D, the weighted sum of values "
    "n²·D, the MLP n·2·D·(mlp_ratio·D). The encoder sees the class token and the K kept patches: n = K + 1.",
    "n = round(N * (1 - mask_ratio)) + 1 (N = (img_size // patch_size)**2; mask_ratio 0: all N); "
    "h = int(D * mlp_ratio); return depth * (n * (4 * D * D + 2 * D * h) + 2 * n * n * D)"))
def check_encoder_flops(encoder_flops) -> str:
    """Exercise 11.3 · The encoder's share of the compute: ``encoder_flops(cfg, mask_ratio)`` -> multiply-adds of
    the encoder's blocks for one image whose patches are masked at ``mask_ratio`` (0: none). The learner first writes
    ``my_flops_prediction``: by what factor 75% masking cuts the course model's encoder compute.

    Used in notebooks/11_self_supervised.
    """
    from ..mae import num_kept

    cases = [(ViTConfig.preset("fashion_mnist_cpu"), 0.75), (ViTConfig.preset("fashion_mnist_cpu"), 0.0),
             (ViTConfig.preset("fashion_mnist_p4"), 0.75), (ViTConfig.vit_b_16(), 0.75)]
    for cfg, r in cases:
        N = cfg.num_patches
        k = N if r == 0 else num_kept(N, r)
        got = expect_int(encoder_flops(cfg, r), f"my_encoder_flops({cfg.name}, {r})")
        args = (k, cfg.embed_dim, cfg.mlp_ratio, cfg.depth)
        want = _block_flops(*args)
        if got == want:
            continue
        for alt, msg in ((_block_flops(*args, cls=False), "the class token is missing: the encoder sees K + 1 tokens"),
                         (_block_flops(*args, attn=False), "the attention's own products are missing: the scores "
                                                           "QKᵀ and the weighted sum of values, n²·D each"),
                         (_block_flops(*args, both=False), "only one of the two n²·D products of attention is "
                                                           "counted: QKᵀ and then the weights times V"),
                         (_block_flops(*args, mlp=4.0), f"the MLP is {cfg.mlp_ratio:g} x D wide in this config "
                                                        "(cfg.mlp_ratio), not 4 x D"),
                         (_block_flops(N, cfg.embed_dim, cfg.mlp_ratio, cfg.depth), "that counts all N patches: the "
                                                                                    "encoder sees only the kept ones"),
                         (_block_flops(*args) // cfg.depth, "that is one block; the encoder has cfg.depth of them")):
            if got == alt and alt != want:
                raise ExerciseError(f"{cfg.name} at mask_ratio {r}: {msg}")
        raise ExerciseError(f"{cfg.name} at mask_ratio {r}: {got:,} multiply-adds, expected {want:,}")
    cfg = ViTConfig.preset("fashion_mnist_cpu")
    factor = _block_flops(cfg.num_patches, 64, cfg.mlp_ratio, cfg.depth) / _block_flops(4, 64, cfg.mlp_ratio, cfg.depth)
    verdict = judge_prediction(encoder_flops, "my_flops_prediction", factor, tol=0.3, why=(
        f"17 tokens become 5, and most of the compute is per token (the linear layers), so the cut is a little more "
        f"than 17 / 5 = 3.4: the n² part of attention shrinks by (17 / 5)² — {factor:.2f}x in all"))
    return f"blocks' multiply-adds counted for four configs and mask ratios; {verdict}"


def _knn_ref(train, labels, test, k, num_classes, cosine=True, weighted=True, extra=0):
    a = F.normalize(train, dim=1) if cosine else train
    b = F.normalize(test, dim=1) if cosine else test
    sim = b @ a.T if cosine else -torch.cdist(b, a)  # (T, M)
    top, idx = sim.topk(k + extra, dim=1)  # (T, k)
    votes = torch.zeros(len(test), num_classes, dtype=train.dtype)
    votes.scatter_add_(1, labels[idx], top if weighted else torch.ones_like(top))
    return votes.argmax(1)


@exercise("11.4", "A k-nearest-neighbour probe", answer="my_knn_predict", hints=(
    "Normalise every feature vector to length 1, so a dot product is the cosine similarity. For each test vector "
    "take the k training vectors most similar to it (topk), and let each vote for its label with its similarity; "
    "the class with the largest sum wins.",
    "a, b = F.normalize(train, dim=1), F.normalize(test, dim=1); sim, idx = (b @ a.T).topk(k, dim=1); "
    "votes = torch.zeros(len(test), num_classes); votes.scatter_add_(1, labels[idx], sim); return votes.argmax(1)"))
def check_knn_predict(knn_predict) -> str:
    """Exercise 11.4 · A k-nearest-neighbour probe: ``knn_predict(train_feats, train_labels, test_feats, k,
    num_classes)`` -> (T,) labels: each test vector's k most cosine-similar training vectors vote with their
    similarity.

    Used in notebooks/11_self_supervised.
    """
    g = torch.Generator().manual_seed(11)
    centres = torch.randn(5, 16, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 5, (200,), generator=g)
    scale = torch.rand(200, 1, generator=g, dtype=torch.float64) * 4 + 0.2  # lengths vary: cosine is not distance
    train = (centres[labels] + torch.randn(200, 16, generator=g, dtype=torch.float64) * 2.5) * scale
    test = centres[torch.randint(0, 5, (80,), generator=g)]
    test = test + torch.randn(80, 16, generator=g, dtype=torch.float64) * 2.5
    cases = [(train, labels, test, k, 5) for k in (1, 7, 20)]
    # two hand-made neighbourhoods around the test vector (1, 0), the training vectors at chosen cosines:
    # two close votes of class 0 against three far ones of class 1 (k = 5: weighting decides), and one
    # class-0 neighbour just ahead of two of class 1 (k = 2: the third neighbour must not vote)
    def ring(cosines, classes):
        c = torch.tensor(cosines, dtype=torch.float64)
        return torch.stack([c, (1 - c**2).sqrt()], 1), torch.tensor(classes)
    for cosines, classes, k in (([0.99, 0.98, 0.5, 0.45, 0.4, -0.9, -0.95], [0, 0, 1, 1, 1, 2, 2], 5),
                                ([0.9, 0.85, 0.84, -0.5, -0.6], [0, 1, 1, 2, 2], 2)):
        tr, lab = ring(cosines, classes)
        cases.append((tr, lab, torch.tensor([[1.0, 0.0]], dtype=torch.float64), k, 3))
    for tr, lab, te, k, c in cases:
        got = knn_predict(tr.clone(), lab.clone(), te.clone(), k, c)
        want = _knn_ref(tr, lab, te, k, c)
        expect_shape(got, (len(te),), f"the predictions with k = {k}")
        if torch.equal(got.long(), want):
            continue
        for alt, msg in ((_knn_ref(tr, lab, te, k, c, cosine=False), "that is Euclidean distance; the probe "
                          "compares directions: normalise the vectors and use cosine similarity"),
                         (_knn_ref(tr, lab, te, k, c, weighted=False), "every neighbour has one vote; weight "
                          "each vote by its similarity"),
                         (_knn_ref(tr, lab, te, k, c, extra=1), f"that takes k + 1 = {k + 1} neighbours")):
            if torch.equal(got.long(), alt) and not torch.equal(alt, want):
                raise ExerciseError(f"k = {k}: {msg}")
        wrong = int((got.long() != want).sum())
        raise ExerciseError(f"k = {k}: {wrong} of {len(te)} predictions differ from the similarity-weighted vote of "
                            "the k most cosine-similar training vectors")
    return "similarity-weighted votes of the k most cosine-similar training vectors (k = 1, 7, 20)"
