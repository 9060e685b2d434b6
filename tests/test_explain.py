"""vit_lessons.explain and fig7: properties of rollout and attention distance, Grad-CAM parity, a planted object.

Run as a script to measure the planted-object hit rates over several training seeds:
    VIT_LESSONS_MODE=ci .venv/bin/python tests/test_explain.py
"""

import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest's helpers, also when run as a script
from conftest import randomize_  # noqa: E402

from vit_lessons import VisionTransformer, ViTConfig  # noqa: E402
from vit_lessons.embeddings import pos_embed_similarity  # noqa: E402
from vit_lessons.explain import (  # noqa: E402
    attention_maps,
    attention_rollout,
    grad_cam,
    grad_cam_layer,
    grad_rollout,
    mean_attention_distance,
    patch_embedding_components,
    pooled_row,
    position_similarity,
    reshape_transform,
    to_patch_grid,
)
from vit_lessons.fig7 import patch_distances  # noqa: E402
from vit_lessons.relevance import METHODS, relevance_map  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from a second thread, and on a shared 2-core machine it costs up to 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return VisionTransformer(ViTConfig.tiny(**kw)).eval()


def _images(model, n=3, seed=1):
    c = model.config
    return torch.randn(n, c.in_chans, c.img_size, c.img_size, generator=torch.Generator().manual_seed(seed))


def _softmax_attn(L, B, h, N, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, N, N, generator=g).mul(2).softmax(-1) for _ in range(L)]


def _norm_rows(a):
    a = a + torch.eye(a.shape[-1], dtype=a.dtype)
    return a / a.sum(-1, keepdim=True)


# ---- attention maps -------------------------------------------------------------------------------------
def test_attention_maps_shapes_rows_and_modes():
    m = _tiny(drop_rate=0.3, attn_drop_rate=0.3)  # dropout on: maps must still come from the eval-mode model
    m.train()
    x = _images(m)
    maps = attention_maps(m, x)
    assert m.training  # the caller's mode is restored
    assert len(maps) == 2 and all(a.shape == (3, 4, 17, 17) and not a.requires_grad for a in maps)
    assert_close(torch.stack(maps).sum(-1), torch.ones(2, 3, 4, 17), atol=1e-5, rtol=0)
    for a, b in zip(maps, attention_maps(m, x)):
        assert_close(a, b, atol=0, rtol=0)  # no dropout: the same maps every time


def test_attention_maps_same_for_fused_and_explicit_models():
    fused = _tiny(fused_attn=True)
    explicit = VisionTransformer(fused.config.replace(fused_attn=False)).eval()
    explicit.load_state_dict(fused.state_dict())
    x = _images(fused)
    for a, b in zip(attention_maps(fused, x), attention_maps(explicit, x)):
        assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("bad, err, match", [
    (torch.randn(2, 1, 32, 32), ValueError, "1 channels but the model expects in_chans=3"),
    (torch.randn(2, 3, 24, 24), ValueError, "built for 32x32"),
    (torch.randn(3, 32, 32), ValueError, "add a batch dimension"),
    ([[0.0]], TypeError, "must be a torch.Tensor"),
])
def test_bad_images(bad, err, match):
    m = _tiny()
    for fn in (attention_maps, grad_rollout, grad_cam):
        with pytest.raises(err, match=match):
            fn(m, bad)


def test_not_our_model():
    with pytest.raises(TypeError, match="from_timm"):
        attention_maps(nn.Linear(2, 2), torch.randn(1, 3, 32, 32))


# ---- rollout properties ---------------------------------------------------------------------------------
@pytest.mark.parametrize("grid, prefix", [(2, 1), (3, 1), (5, 0), (7, 1)])
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.3, 0.9])
def test_rollout_rows_sum_to_one(grid, prefix, fusion, discard):
    N = grid * grid + prefix
    r = attention_rollout(_softmax_attn(3, 2, 4, N), fusion, discard, num_prefix_tokens=prefix)
    assert r.shape == (2, N, N) and bool((r >= 0).all())
    assert_close(r.sum(-1), torch.ones(2, N), atol=1e-5, rtol=0)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.5, 0.95])
def test_rollout_identity_attention_gives_identity(fusion, discard):
    eye = torch.eye(10).expand(2, 3, 10, 10)  # (B, h, N + 1, N + 1)
    r = attention_rollout([eye] * 4, fusion, discard)
    assert_close(r, torch.eye(10).expand(2, 10, 10), atol=1e-6, rtol=0)


@pytest.mark.parametrize("L", [1, 2, 4])
def test_rollout_uniform_attention_is_uniform_up_to_the_residual(L):
    N = 17
    uniform = torch.full((1, 2, N, N), 1.0 / N)
    r = attention_rollout([uniform] * L)
    expected = (1 - 2.0**-L) / N + 2.0**-L * torch.eye(N)  # mixing matrices (U + I) / 2 multiplied L times
    assert_close(r[0], expected, atol=1e-6, rtol=0)
    assert_close(r[0, 0, 1:], torch.full((N - 1,), (1 - 2.0**-L) / N), atol=1e-6, rtol=0)  # every patch equal


def test_rollout_discard_by_hand_keeps_the_class_tokens_own_weight():
    a = torch.tensor([[0.01, 0.50, 0.49],
                      [0.20, 0.30, 0.50],
                      [0.05, 0.90, 0.05]])  # (0, 0) is the smallest weight of all
    r = attention_rollout([a[None, None]], discard_ratio=0.3)  # int(9 * 0.3) = 2 weights dropped
    kept = a.clone()
    kept[2, 0] = kept[2, 2] = 0.0  # the two lowest apart from the class token's own 0.01
    assert_close(r[0], _norm_rows(kept), atol=1e-6, rtol=0)
    no_cls = attention_rollout([a[None, None]], discard_ratio=0.3, num_prefix_tokens=0)  # now (0, 0) may go
    kept = a.clone()
    kept[0, 0] = kept[2, 0] = 0.0  # 0.01 and the first of the two 0.05s (topk keeps index order on ties)
    assert_close(no_cls[0], _norm_rows(kept), atol=1e-6, rtol=0)


def test_rollout_fusion_and_order_by_hand():
    A = _softmax_attn(2, 1, 3, 5, seed=3)  # 2 blocks, 3 heads
    for fusion, fuse in [("mean", lambda t: t.mean(1)), ("max", lambda t: t.amax(1)), ("min", lambda t: t.amin(1))]:
        expected = _norm_rows(fuse(A[1])[0]) @ _norm_rows(fuse(A[0])[0])  # later block on the left
        assert_close(attention_rollout(A, fusion)[0], expected, atol=1e-6, rtol=1e-6)
    assert_close(attention_rollout(torch.stack(A)), attention_rollout(A), atol=0, rtol=0)  # (L, B, h, N + 1, N + 1) too


@pytest.mark.parametrize("kwargs, match", [
    (dict(head_fusion="median"), "head_fusion must be one of"),
    (dict(discard_ratio=1.0), r"discard_ratio must be a number in \[0, 1\)"),
    (dict(discard_ratio=-0.1), r"discard_ratio must be a number in \[0, 1\)"),
    (dict(discard_ratio="0.5"), r"discard_ratio must be a number in \[0, 1\)"),
    (dict(num_prefix_tokens=9), r"num_prefix_tokens must be in \[0, 9\) for attention over 9 tokens"),
])
def test_rollout_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        attention_rollout(_softmax_attn(2, 1, 2, 9), **kwargs)


@pytest.mark.parametrize("bad, match", [
    ([], "non-empty list"),
    ([torch.ones(1, 2, 5, 5), torch.ones(1, 2, 6, 6)], "must have one shape"),
    ([torch.ones(2, 5, 5)], r"shape \(B, h, N \+ 1, N \+ 1\)"),
])
def test_rollout_bad_attentions(bad, match):
    with pytest.raises(ValueError, match=match):
        attention_rollout(bad)


# ---- pooling: which row the classifier reads -------------------------------------------------------------
def test_pooled_row_cls_and_mean():
    r = attention_rollout(_softmax_attn(2, 2, 4, 17))
    cls_model, mean_model = _tiny(), _tiny(pool="mean")
    assert_close(pooled_row(r, cls_model), r[:, 0], atol=0, rtol=0)
    assert_close(pooled_row(r, mean_model), r[:, 1:].mean(1), atol=0, rtol=0)  # the class token's row is unused
    assert_close(pooled_row(r, mean_model).sum(-1), torch.ones(2), atol=1e-5, rtol=0)
    assert to_patch_grid(pooled_row(r, cls_model), cls_model).shape == (2, 4, 4)
    assert_close(to_patch_grid(r[:, 0], cls_model)[:, 1, 2], r[:, 0, 1 + 1 * 4 + 2], atol=0, rtol=0)  # row-major
    with pytest.raises(ValueError, match=r"\(\.\.\., N \+ 1, N \+ 1\) token map with N \+ 1 = 17 tokens"):
        pooled_row(torch.ones(2, 10, 10), cls_model)
    with pytest.raises(ValueError, match=r"neither N \+ 1 = 17 tokens nor N = 16 patches"):
        to_patch_grid(torch.ones(2, 15), cls_model)


def test_everything_without_a_class_token():
    m = _tiny(pool="mean", class_token=False)
    x = _images(m, 2)
    A = attention_maps(m, x)
    assert A[0].shape == (2, 4, 16, 16)
    r = attention_rollout(A, num_prefix_tokens=m.num_prefix_tokens)
    assert_close(pooled_row(r, m), r.mean(1), atol=0, rtol=0)
    assert to_patch_grid(pooled_row(r, m), m).shape == (2, 4, 4)
    assert grad_rollout(m, x).shape == (2, 16, 16)
    assert grad_cam(m, x).shape == (2, 4, 4)
    assert reshape_transform(m)(torch.ones(2, 16, 32)).shape == (2, 32, 4, 4)
    assert mean_attention_distance(A, 4, 8).shape == (2, 4)
    with pytest.raises(ValueError, match=r"expected \(B, N, D\) = \(B, 16, D\) tokens"):  # no class token: N tokens
        reshape_transform(m)(torch.ones(2, 17, 32))
    with pytest.raises(ValueError, match=r"\(\.\.\., N, N\) token map with N = 16 tokens"):
        pooled_row(torch.ones(2, 17, 17), m)


@pytest.mark.parametrize("img, patch, chans", [(16, 4, 1), (24, 8, 3), (28, 7, 1), (20, 2, 1)])
def test_shapes_follow_the_models_grid(img, patch, chans):
    m = _tiny(img_size=img, patch_size=patch, in_chans=chans)
    g, N = img // patch, (img // patch) ** 2 + 1
    x = _images(m, 2)
    A = attention_maps(m, x)
    assert [a.shape for a in A] == [(2, 4, N, N)] * 2
    r = attention_rollout(A, "max", 0.5)
    assert r.shape == grad_rollout(m, x).shape == (2, N, N)
    assert to_patch_grid(pooled_row(r, m), m).shape == grad_cam(m, x).shape == (2, g, g)
    assert position_similarity(m).shape == (g, g, g, g)
    assert mean_attention_distance(A, g, patch).shape == (2, 4)


# ---- grad-rollout --------------------------------------------------------------------------------------------
def test_grad_rollout_by_hand_and_side_effects():
    m = _tiny(depth=1)
    m.train()
    x = _images(m)
    t = torch.tensor([3, 0, 7])
    r = grad_rollout(m, x, t)
    assert m.training and all(p.grad is None for p in m.parameters())
    m.eval()
    logits, (a,) = m(x, return_attention=True)
    (g,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), a)
    fused = (a * g).clamp(min=0).mean(1).detach()  # positive part per head, then the head mean
    assert_close(r, _norm_rows(fused), atol=1e-6, rtol=1e-6)
    assert_close(r.sum(-1), torch.ones(3, 17), atol=1e-5, rtol=0)


def test_grad_rollout_targets_and_frozen_model():
    m = _tiny()
    x = _images(m)
    pred = m(x).argmax(1)
    assert_close(grad_rollout(m, x), grad_rollout(m, x, pred), atol=0, rtol=0)
    assert_close(grad_rollout(m, x, 4), grad_rollout(m, x, [4, 4, 4]), atol=0, rtol=0)
    before = grad_rollout(m, x, 4)
    for p in m.parameters():
        p.requires_grad_(False)  # a frozen backbone still has gradients with respect to its attention
    assert_close(grad_rollout(m, x, 4), before, atol=0, rtol=0)


@pytest.mark.parametrize("fn", [grad_rollout, grad_cam])
@pytest.mark.parametrize("target, match", [
    (10, "target 10 is out of range for a model with 10 classes: use 0..9"),
    ([1, -1, 2], "target -1 is out of range"),
    ([1, 2], "target has 2 entries but there are 3 images"),
    (1.5, "class index"),
])
def test_bad_targets(fn, target, match):
    m = _tiny()
    with pytest.raises(ValueError, match=match):
        fn(m, _images(m), target)


def test_headless_model_has_nothing_to_explain():
    m = _tiny(num_classes=0)
    with pytest.raises(ValueError, match="no classification head"):
        grad_cam(m, _images(m))


# ---- Grad-CAM -------------------------------------------------------------------------------------------------
def test_grad_cam_range_mode_and_no_side_effects():
    m = _tiny()
    m.train()
    cam = grad_cam(m, _images(m), 2)
    assert cam.shape == (3, 4, 4) and float(cam.min()) >= 0 and float(cam.max()) <= 1
    assert m.training and all(p.grad is None for p in m.parameters())
    layer = grad_cam_layer(m)
    assert layer is m.blocks[-1].norm1 and not layer._forward_hooks and not layer._backward_hooks


class _Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_grad_cam_removes_its_hooks_on_error():
    m = _tiny()
    layer = grad_cam_layer(m, 0)
    with pytest.raises(ValueError, match="out of range"):  # fails after the forward pass
        grad_cam(m, _images(m), target=99, block=0)
    assert not layer._forward_hooks and not layer._backward_hooks
    m.blocks[1].mlp = _Boom()  # fails inside the forward pass
    m.train()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(m, _images(m), block=0)
    assert not layer._forward_hooks and not layer._backward_hooks and m.training


@pytest.mark.parametrize("block", [2, -3, 1.0, True])
def test_grad_cam_bad_block(block):
    with pytest.raises(ValueError, match=r"block must be an int in \[-2, 2\)"):
        grad_cam(_tiny(), _images(_tiny()), block=block)


def _package_grad_cam(model, layer, transform, x, targets):
    """pytorch-grad-cam's GradCAM (the maps it returns are resized to the image and scaled to [0, 1])."""
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with pgc.GradCAM(model, [layer], reshape_transform=transform) as cam:
        out = cam(x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return torch.from_numpy(out)  # (B, H, W)


def _upsampled(cam, size):
    """Ours resized the package's way (bilinear, pixel centres) and min-max scaled again, as it does."""
    up = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]  # (B, H, W)
    lo = up.amin((1, 2), keepdim=True)
    return (up - lo) / (up.amax((1, 2), keepdim=True) - lo + 1e-7)


@pytest.mark.parametrize("block", [-1, 0])
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_grad_cam_equals_the_grad_cam_package(block, pool):
    m = randomize_(_tiny(pool=pool), seed=3).eval()  # large random weights: maps with real structure
    x = _images(m, 4)
    t = torch.tensor([1, 5, 9, 0])
    ours = grad_cam(m, x, t, block)
    assert float(ours.amax()) == pytest.approx(1.0)
    theirs = _package_grad_cam(m, grad_cam_layer(m, block), reshape_transform(m), x, t)
    assert_close(_upsampled(ours, x.shape[-2:]), theirs, atol=1e-5, rtol=0)


def test_reshape_transform_checks_tokens():
    m = _tiny()
    tokens = torch.arange(2 * 17 * 32, dtype=torch.float32).reshape(2, 17, 32)
    fmap = reshape_transform(m)(tokens)
    assert fmap.shape == (2, 32, 4, 4)
    assert_close(fmap[:, :, 1, 2], tokens[:, 1 + 1 * 4 + 2], atol=0, rtol=0)  # patch (row 1, col 2), no class token
    with pytest.raises(ValueError, match=r"expected \(B, N \+ 1, D\) = \(B, 17, D\) tokens"):
        reshape_transform(m)(torch.ones(2, 16, 32))


# ---- timm weights in our model ----------------------------------------------------------------------------------
def test_timm_weights_attention_and_grad_cam():
    timm = pytest.importorskip("timm")
    theirs = timm.models.vision_transformer.VisionTransformer(
        img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=48, depth=3, num_heads=4, mlp_ratio=2.0,
        global_pool="token")
    theirs = randomize_(theirs, seed=7).eval()
    cfg = ViTConfig.fashion_mnist_cpu(embed_dim=48, depth=3, patch_size=4, pos_embed="learned")  # timm's layout above
    ours = VisionTransformer(cfg).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    caught = []
    hooks = []
    for blk in theirs.blocks:
        blk.attn.fused_attn = False  # timm's explicit path: softmax(q k^T * scale), then attn_drop
        hooks.append(blk.attn.attn_drop.register_forward_hook(lambda _m, inp, _o: caught.append(inp[0].detach())))
    with torch.no_grad():
        theirs(x)
    for h in hooks:
        h.remove()
    mine = attention_maps(ours, x)
    assert len(mine) == 3
    for a, b in zip(mine, caught):
        assert_close(a, b, atol=1e-6, rtol=1e-5)
    t = torch.tensor([2, 8])
    cam = grad_cam(ours, x, t)  # ours, on timm's weights, against the package run on timm's own model
    pkg = _package_grad_cam(theirs, theirs.blocks[-1].norm1, reshape_transform(ours), x, t)
    assert_close(_upsampled(cam, (28, 28)), pkg, atol=1e-5, rtol=0)
    assert attention_rollout(mine).shape == grad_rollout(ours, x, t).shape == (2, 50, 50)
    assert mean_attention_distance(mine, 7, 4).shape == (3, 4)


# ---- Fig. 7 --------------------------------------------------------------------------------------------------------
def _brute_mean_pairwise(gh, gw, p):
    cells = [(r, c) for r in range(gh) for c in range(gw)]
    return sum(math.hypot((a - c) * p, (b - d) * p) for a, b in cells for c, d in cells) / len(cells) ** 2


@pytest.mark.parametrize("grid, patch, prefix", [(2, 4, 1), (3, 8, 0), (5, 4, 1), ((3, 5), 2, 0)])
def test_mean_attention_distance_identity_and_uniform(grid, patch, prefix):
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    n = gh * gw
    N = n + prefix
    eye = torch.eye(N).expand(2, 3, N, N)
    assert_close(mean_attention_distance([eye, eye], grid, patch), torch.zeros(2, 3), atol=1e-6, rtol=0)
    uniform = torch.full((2, 3, N, N), 1.0 / N)
    want = _brute_mean_pairwise(gh, gw, patch)
    assert_close(mean_attention_distance([uniform], grid, patch), torch.full((1, 3), want), atol=1e-4, rtol=1e-5)


def test_mean_attention_distance_by_hand():
    g, p = 3, 4
    to_first = torch.zeros(1, 2, 10, 10)
    to_first[..., 1] = 0.5  # every token looks at patch 0 (token 1) ...
    to_first[..., 0] = 0.5  # ... and at the class token, which does not count
    to_first[0, 1] = torch.eye(10)  # head 1 looks at itself only
    want = sum(math.hypot(r * p, c * p) for r in range(g) for c in range(g)) / 9
    assert_close(mean_attention_distance([to_first], g, p), torch.tensor([[want, 0.0]]), atol=1e-5, rtol=0)
    assert_close(patch_distances((1, 3), 2), torch.tensor([[0.0, 2, 4], [2, 0, 2], [4, 2, 0]], dtype=torch.float64),
                 atol=0, rtol=0)


@pytest.mark.parametrize("args, match", [
    (([torch.ones(1, 2, 17, 17)], 3, 8), r"N=17 tokens do not fit a \(3, 3\) grid"),
    (([torch.ones(1, 2, 17, 17)], 4, 0), "patch_size must be a positive int"),
    (([torch.ones(1, 2, 17, 17)], "4", 8), "grid_size must be a positive int"),
    (([], 4, 8), "non-empty list"),
])
def test_mean_attention_distance_errors(args, match):
    with pytest.raises(ValueError, match=match):
        mean_attention_distance(*args)


def test_fig7_shapes_for_a_model():
    m = _tiny(pos_embed="sincos2d", depth=3)
    A = attention_maps(m, _images(m))
    d = mean_attention_distance(A, m.config.grid_size, m.config.patch_size)
    assert d.shape == (3, 4) and float(d.min()) >= 0 and float(d.max()) <= patch_distances(4, 8).max()
    assert patch_embedding_components(m).shape == (28, 3, 8, 8)
    sim = position_similarity(m)
    assert sim.shape == (4, 4, 4, 4)
    assert_close(sim, pos_embed_similarity(m.pos_embed[:, 1:]), atol=0, rtol=0)
    assert_close(torch.einsum("ijij->ij", sim), torch.ones(4, 4), atol=1e-6, rtol=0)


def test_patch_embedding_components_match_scikit_learn_pca():
    PCA = pytest.importorskip("sklearn.decomposition").PCA
    m = _tiny()
    comps, var = patch_embedding_components(m, k=10, return_variance=True)
    w = m.patch_embed.proj.weight.detach().reshape(32, -1).double().numpy()
    pca = PCA(n_components=10, svd_solver="full").fit(w)
    theirs = torch.from_numpy(pca.components_).float()  # (10, C*P*P)
    flat = comps.reshape(10, -1)
    sign = (flat * theirs).sum(1, keepdim=True).sign()  # either sign is a principal direction
    assert_close(flat, theirs * sign, atol=1e-4, rtol=0)
    assert_close(var, torch.from_numpy(pca.explained_variance_ratio_).float(), atol=1e-5, rtol=0)
    assert_close(flat @ flat.T, torch.eye(10), atol=1e-5, rtol=0)


def test_patch_embedding_components_too_many():
    m = VisionTransformer(ViTConfig.fashion_mnist_cpu(patch_size=4))  # 1x4x4 filters: fewer values than 28
    with pytest.raises(ValueError, match=r"1x4x4 = 16 values, so at most 16 components; got k=28"):
        patch_embedding_components(m)
    assert patch_embedding_components(m, k=16).shape == (16, 1, 4, 4)


# ---- the planted object ---------------------------------------------------------------------------------------------
PLANT_P, PLANT_GRID = 4, 5  # 20x20 grey images, 25 patches: a guess hits 4% of the time
SHAPES = torch.tensor([
    [[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]],  # vertical bar
    [[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]],  # horizontal bar
    [[1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1]],  # cross
    [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]],  # ring
], dtype=torch.float32)


def planted_batch(n, generator, noise=0.5):
    """n noisy images with one shape drawn into one random patch: (images, class = shape, patch index)."""
    g, p = PLANT_GRID, PLANT_P
    y = torch.randint(len(SHAPES), (n,), generator=generator)
    where = torch.randint(g * g, (n,), generator=generator)
    tiles = torch.zeros(n, g * g, p, p)
    tiles[torch.arange(n), where] = 2.0 * SHAPES[y]
    x = tiles.reshape(n, g, g, p, p).permute(0, 1, 3, 2, 4).reshape(n, 1, g * p, g * p)  # (B, 1, H, W)
    return x + noise * torch.randn(x.shape, generator=generator), y, where


def train_planted(seed=0, steps=200, pos_embed="learned"):
    """A 2-block ViT trained on planted shapes: 200 steps of 64 images, 2-4 s on one CPU thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # also when run as a script: the measured rates come from one thread
    try:
        torch.manual_seed(seed)
        cfg = ViTConfig(img_size=PLANT_GRID * PLANT_P, patch_size=PLANT_P, in_chans=1, num_classes=len(SHAPES),
                        embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0, pos_embed=pos_embed)
        model = VisionTransformer(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        g = torch.Generator().manual_seed(1000 + seed)
        for _ in range(steps):
            x, y, _ = planted_batch(64, g)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def planted_hit_rates(model, n=256, seed=7):
    """Share of held-out images whose map peaks on the patch holding the shape, per method, and the accuracy.

    A hit needs the shape's patch to be the map's one strict maximum: a flat map, or a tie for the
    top, points nowhere (a tie broken by position would be a guess).
    """
    x, y, where = planted_batch(n, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    maps = {name: relevance_map(name, model, x, y) for name in METHODS if name != "random"}
    rates = {}
    for name, m in maps.items():
        flat = m.flatten(1)  # (B, gh*gw)
        top = flat.amax(1, keepdim=True)  # (B, 1)
        hit = (flat.gather(1, where[:, None]) == top)[:, 0] & ((flat == top).sum(1) == 1)
        rates[name] = hit.float().mean().item()
    rates["grad-cam all zero"] = (maps["grad-cam"].flatten(1).amax(1) == 0).float().mean().item()
    return rates, acc


@pytest.fixture(scope="module")
def planted():
    return train_planted(seed=0)


# Hit rates measured over training seeds 0-4 (learned positions, 256 held-out images, accuracy 1.000 on every
# seed): ``VIT_LESSONS_MODE=ci .venv/bin/python tests/test_explain.py``. Every floor below holds on every seed
# with room to spare; a guess hits 0.04.
PLANTED_SEEDS_0_4 = {  # method: (lowest, highest) over the five seeds
    "attention": (0.633, 1.000), "rollout": (1.000, 1.000), "grad-rollout": (0.965, 1.000),
    "chefer": (0.965, 1.000), "grad-cam": (0.023, 0.227), "gradient-x-input": (0.965, 1.000),
    "integrated-gradients": (0.965, 1.000), "occlusion": (0.965, 1.000),
}
PLANTED_FLOORS = {"attention": 0.5, "rollout": 0.9, "grad-rollout": 0.9, "chefer": 0.9, "gradient-x-input": 0.9,
                  "integrated-gradients": 0.9, "occlusion": 0.9}


def test_planted_object(planted):
    """Every method but Grad-CAM finds the planted shape; Grad-CAM on the last block finds it rarely.

    Hit rate = share of 256 held-out images whose map peaks, alone, on the patch holding the shape
    (25 patches: a guess hits 0.04). Over training seeds 0-4 (``PLANTED_SEEDS_0_4``) rollout,
    grad-rollout, Chefer's rule, gradient x input, integrated gradients and occlusion hit 0.965-1.000;
    the last block's attention alone 0.633-1.000; Grad-CAM 0.023-0.227, at chance on some seeds, so
    no floor above chance would hold for every seed: the test bounds it from above instead, a
    measured limit of Grad-CAM on a small ViT. With fixed sin-cos positions the model learns less
    reliably in 200 steps (accuracy 0.74-1.00) and every method drops with it.

    Between 0% and 48% of the Grad-CAM maps are all zero (seeds 0-4): no patch scores above zero
    before the ReLU. A likely reading: Grad-CAM scores a patch by how its token lines up with the
    gradient-averaged channel weights; the class token reads the shape's token, but nothing in
    training constrains how the unread background tokens line up with those weights, so the map
    peaks on the shape only sometimes.
    """
    rates, acc = planted_hit_rates(planted)
    assert acc >= 0.95
    for name, floor in PLANTED_FLOORS.items():
        assert rates[name] >= floor, (name, rates[name])
    assert rates["grad-cam"] <= 0.5  # highest over seeds 0-4: 0.227


def test_grad_cam_package_parity_on_the_trained_model(planted):
    x, y, _ = planted_batch(8, torch.Generator().manual_seed(3))
    ours = grad_cam(planted, x, y)
    theirs = _package_grad_cam(planted, grad_cam_layer(planted), reshape_transform(planted), x, y)
    assert_close(_upsampled(ours, x.shape[-2:]), theirs, atol=1e-5, rtol=0)


if __name__ == "__main__":
    for pe in ("learned", "sincos2d"):
        for s in range(5):
            r, a = planted_hit_rates(train_planted(seed=s, pos_embed=pe))
            print(f"pos_embed={pe} seed={s} accuracy={a:.3f} " + " ".join(f"{k}={v:.3f}" for k, v in r.items()),
                  flush=True)
