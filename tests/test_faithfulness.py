"""vit_lessons.faithfulness and vit_lessons.relevance: the perturbation curves, their area, random tie-breaking,
every relevance method through one interface, Chefer's rule against grad-rollout, the Captum methods."""

import pytest
import torch
from conftest import randomize_
from test_explain import PLANT_GRID, planted_batch, train_planted
from torch.testing import assert_close

from vit_lessons import VisionTransformer, ViTConfig
from vit_lessons.explain import _rollout, grad_rollout, pooled_row
from vit_lessons.faithfulness import bootstrap_ci, curve_auc, fill_value, perturbation_curve, removal_order
from vit_lessons.relevance import (
    METHODS,
    _chefer_rule,
    chefer_relevance,
    gradient_x_input,
    integrated_gradients,
    occlusion,
    relevance_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return randomize_(VisionTransformer(ViTConfig.tiny(**kw)), seed=seed).eval()  # large weights: peaked outputs


def _images(n=6, seed=1, size=32, chans=3):
    return torch.randn(n, chans, size, size, generator=torch.Generator().manual_seed(seed))


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- the curve ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["most-first", "least-first"])
@pytest.mark.parametrize("fill", ["mean", "zero", 0.7])
def test_column_0_is_the_unperturbed_probability(order, fill):
    m, x = _model(), _images()
    c = perturbation_curve(m, x, torch.rand(6, 4, 4, generator=_gen()), order=order, fill=fill,
                           mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25), generator=_gen())
    assert c.shape == (6, 17) and bool(((c >= 0) & (c <= 1)).all())
    with torch.no_grad():
        p = m(x).softmax(-1)
    assert_close(c[:, 0], p.max(-1).values, atol=1e-6, rtol=1e-5)  # target None: the predicted class
    t = torch.tensor([3, 1, 4, 1, 5, 9])
    c = perturbation_curve(m, x, torch.rand(6, 16, generator=_gen()), t, order, fill, mean=(0.5,), std=(0.2,))
    assert_close(c[:, 0], p.gather(1, t[:, None])[:, 0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fill, value", [("mean", 0.0), ("zero", -0.5 / 0.25), (1.5, 1.5)])
def test_every_patch_removed_is_the_same_image_whatever_the_order(fill, value):
    m, x = _model(), _images()
    last = [perturbation_curve(m, x, rel, order=order, fill=fill, mean=0.5, std=0.25, generator=_gen(s))[:, -1]
            for s, rel in enumerate([torch.rand(6, 16, generator=_gen(5)), torch.zeros(6, 16)])
            for order in ("most-first", "least-first")]
    for c in last[1:]:
        assert_close(c, last[0], atol=1e-6, rtol=0)
    with torch.no_grad():
        pred = m(x).argmax(-1)
        blank = m(torch.full_like(x, value)).softmax(-1).gather(1, pred[:, None])[:, 0]  # the fill, everywhere
    assert_close(last[0], blank, atol=1e-6, rtol=1e-5)


def test_one_step_removes_exactly_the_top_patch():
    m, x = _model(), _images(3)
    rel = torch.zeros(3, 4, 4)
    rel[:, 2, 1] = 5.0  # patch (row 2, col 1): pixels 16..24 down, 8..16 across
    c = perturbation_curve(m, x, rel, fill=0.0, generator=_gen())
    covered = x.clone()
    covered[:, :, 16:24, 8:16] = 0.0
    with torch.no_grad():
        pred = m(x).argmax(-1)
        want = m(covered).softmax(-1).gather(1, pred[:, None])[:, 0]
    assert_close(c[:, 1], want, atol=1e-6, rtol=1e-5)


def test_batch_size_does_not_change_the_curve():
    m, x, rel = _model(), _images(7), torch.rand(7, 16, generator=_gen(2))
    whole = perturbation_curve(m, x, rel, generator=_gen(), batch_size=None)
    assert_close(perturbation_curve(m, x, rel, generator=_gen(), batch_size=3), whole, atol=1e-6, rtol=1e-5)


# ---- ties ---------------------------------------------------------------------------------------------------
def test_ties_are_broken_at_random_not_by_position():
    flat = torch.zeros(2000, 16)
    first = removal_order(flat, generator=_gen(0))[:, 0]
    counts = torch.bincount(first, minlength=16).float()
    assert float(counts.min()) > 2000 / 16 * 0.6 and float(counts.max()) < 2000 / 16 * 1.4  # ~uniform, not patch 0
    assert torch.equal(removal_order(flat, generator=_gen(0)), removal_order(flat, generator=_gen(0)))  # seeded
    assert not torch.equal(removal_order(flat, generator=_gen(0)), removal_order(flat, generator=_gen(1)))
    two = torch.zeros(500, 16)
    two[:, [5, 9]] = 1.0  # two tied leaders: always removed first, each first about half the time
    o = removal_order(two, generator=_gen(3))
    assert torch.equal(o[:, :2].sort(dim=1).values, torch.tensor([5, 9]).expand(500, 2))
    assert 150 < int((o[:, 0] == 5).sum()) < 350
    assert torch.equal(removal_order(two, "least-first", generator=_gen(3))[:, 14:].sort(dim=1).values,
                       torch.tensor([5, 9]).expand(500, 2))


def test_distinct_scores_are_removed_in_score_order():
    r = torch.randn(8, 16, generator=_gen(4))
    assert torch.equal(removal_order(r, "most-first", _gen()), r.argsort(dim=1, descending=True))
    assert torch.equal(removal_order(r, "least-first", _gen()), r.argsort(dim=1))


# ---- area and intervals ---------------------------------------------------------------------------------------
def test_curve_auc_by_hand():
    assert_close(curve_auc(torch.ones(3, 17)), torch.ones(3), atol=1e-6, rtol=0)
    drop = torch.zeros(17)
    drop[0] = 1.0
    assert float(curve_auc(drop)) == pytest.approx(1 / 32)
    assert float(curve_auc(torch.linspace(1, 0, 17))) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2 points"):
        curve_auc(torch.ones(3, 1))


def test_bootstrap_ci():
    v = torch.randn(500, generator=_gen(6)) + 3
    mean, lo, hi = bootstrap_ci(v, generator=_gen(0))
    assert lo < mean < hi and mean == pytest.approx(float(v.mean()))
    assert hi - lo == pytest.approx(2 * 1.96 * float(v.std()) / 500**0.5, rel=0.2)  # ~ the normal interval
    assert bootstrap_ci(v, generator=_gen(0)) == (mean, lo, hi)
    assert bootstrap_ci(torch.full((10,), 0.25)) == pytest.approx((0.25, 0.25, 0.25))


# ---- errors -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rel, kwargs, match", [
    (torch.zeros(6, 16, 1), {}, r"\(B, gh, gw\) = \(6, 4, 4\) or \(B, N\) = \(6, 16\), got \(6, 16, 1\)"),
    (torch.zeros(5, 16), {}, r"one value per patch .* got \(5, 16\)"),
    (torch.zeros(6, 17), {}, "to_patch_grid"),
    (torch.full((6, 16), float("nan")), {}, "NaN or infinite"),
    (torch.zeros(6, 16), dict(fill="black"), r"fill must be one of \('mean', 'zero'\) or a number"),
    (torch.zeros(6, 16), dict(fill="zero"), "pass the mean and std the images were normalised with"),
    (torch.zeros(6, 16), dict(order="random"), r"order must be one of \('most-first', 'least-first'\)"),
    (torch.zeros(6, 16), dict(target=10), "out of range for a model with 10 classes"),
])
def test_bad_input(rel, kwargs, match):
    with pytest.raises(ValueError, match=match):
        perturbation_curve(_model(), _images(), rel, **kwargs)


def test_fill_values():
    assert_close(fill_value("zero", 3, (0.5, 0.25, 0.0), (0.5, 0.25, 1.0)), torch.tensor([-1.0, -1.0, 0.0]))
    assert_close(fill_value("zero", 1, 0.2860, 0.3530), torch.tensor([-0.2860 / 0.3530]))
    assert_close(fill_value("mean", 2), torch.zeros(2))
    with pytest.raises(ValueError, match="1 or 3 values"):
        fill_value("zero", 3, (0.5, 0.5), (1.0, 1.0))


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'lrp': use one of random, attention"):
        relevance_map("lrp", _model(), _images())


# ---- the methods ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kw", [{}, dict(pool="mean"), dict(pool="mean", class_token=False)])
def test_every_method_gives_one_finite_value_per_patch(method, kw):
    m = _model(**kw)
    m.train()
    r = relevance_map(method, m, _images(3), target=[1, 2, 3])
    assert r.shape == (3, 4, 4) and r.dtype == torch.float32 and bool(torch.isfinite(r).all())
    assert m.training and all(p.grad is None for p in m.parameters())  # mode restored, no parameter gradients


def test_chefer_rule_by_hand_and_how_it_differs_from_grad_rollout():
    g = _gen(7)
    c1, c2 = torch.rand(2, 1, 5, 5, generator=g)  # two blocks' positive gradient x attention, one image
    eye = torch.eye(5)
    assert_close(_chefer_rule(torch.stack([c1, c2])), (eye + c2) @ (eye + c1), atol=1e-6, rtol=1e-6)
    # one block: grad-rollout's renormalised rows are Chefer's rows scaled, so the same ranking of patches
    one_c, one_g = _chefer_rule(c1[None])[0, 0], _rollout(c1[None], 0.0, 1)[0, 0]
    assert_close(one_c / one_c.sum(), one_g, atol=1e-6, rtol=1e-5)
    # more blocks: renormalising the inner blocks reweights the paths, and the rankings differ
    cams = torch.rand(3, 200, 17, 17, generator=g) ** 4  # (L, B, N + 1, N + 1), peaked like real attention
    ch = _chefer_rule(cams)[:, 0, 1:].argsort(dim=1)
    gr = _rollout(cams, 0.0, 1)[:, 0, 1:].argsort(dim=1)
    assert (ch != gr).any(dim=1).float().mean() > 0.2


def test_chefer_and_grad_rollout_on_a_model():
    m, x = _model(depth=3), _images(4)
    ch, gr = chefer_relevance(m, x, 2), grad_rollout(m, x, 2)
    assert ch.shape == gr.shape == (4, 17, 17)
    assert_close(torch.diagonal(ch, dim1=1, dim2=2) >= 1, torch.ones(4, 17, dtype=torch.bool))  # I + ... >= I
    a, b = pooled_row(ch, m)[:, 1:], pooled_row(gr, m)[:, 1:]
    assert not torch.allclose(a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True), atol=1e-4)  # not proportional


def test_gradient_x_input_equals_captum():
    captum = pytest.importorskip("captum.attr")
    m, x, t = _model(), _images(4), torch.tensor([0, 3, 3, 7])
    theirs = captum.InputXGradient(m).attribute(x.clone().requires_grad_(True), target=t).abs()  # (B, C, H, W)
    want = theirs.reshape(4, 3, 4, 8, 4, 8).sum(dim=(1, 3, 5))  # (B, gh, gw)
    assert_close(gradient_x_input(m, x, t), want, atol=1e-5, rtol=1e-4)


def test_captum_occlusion_is_the_logit_drop_of_each_patch():
    pytest.importorskip("captum")
    m, x, t = _model(), _images(3), torch.tensor([4, 4, 8])
    occ = occlusion(m, x, t)
    assert occ.shape == (3, 4, 4)
    with torch.no_grad():
        base = m(x).gather(1, t[:, None])[:, 0]
        covered = x.clone()
        covered[:, :, 8:16, 24:32] = 0.0  # patch (row 1, col 3)
        drop = base - m(covered).gather(1, t[:, None])[:, 0]
    assert_close(occ[:, 1, 3], drop, atol=1e-5, rtol=1e-4)
    assert_close(occlusion(m, x, t, perturbations_per_eval=1), occ, atol=1e-5, rtol=1e-4)


def test_captum_integrated_gradients_shape_and_completeness():
    pytest.importorskip("captum")
    m, x, t = _model(seed=1), _images(3) * 0.3, torch.tensor([2, 5, 2])
    ig = integrated_gradients(m, x, t, steps=64)
    assert ig.shape == (3, 4, 4)
    with torch.no_grad():
        change = m(x).gather(1, t[:, None])[:, 0] - m(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    assert_close(ig.sum(dim=(1, 2)), change, atol=0.05 * float(change.abs().max()), rtol=0)


# ---- a planted object -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    return train_planted(seed=0)


def test_random_relevance_gives_deletion_equal_to_insertion_on_average(planted):
    x, y, _ = planted_batch(400, _gen(12))
    flat = torch.zeros(400, PLANT_GRID * PLANT_GRID)  # every patch tied: both orders are random orders
    dele = curve_auc(perturbation_curve(planted, x, flat, y, order="most-first", generator=_gen(0)))
    ins = curve_auc(perturbation_curve(planted, x, flat, y, order="least-first", generator=_gen(1)))
    d = ins - dele
    assert abs(float(d.mean())) < 4 * float(d.std()) / 400**0.5  # within 4 standard errors of 0
    assert float(d.abs().mean()) > 0.1  # yet image by image the two random orders differ a lot


def test_removing_the_planted_objects_patch_first_collapses_the_probability(planted):
    x, y, where = planted_batch(256, _gen(11))
    n = PLANT_GRID * PLANT_GRID
    on_shape = torch.zeros(256, n)
    on_shape[torch.arange(256), where] = 1.0  # the shape's patch first, the rest in random order
    dele = perturbation_curve(planted, x, on_shape, y, generator=_gen())
    ins = perturbation_curve(planted, x, on_shape, y, order="least-first", generator=_gen())
    rand = perturbation_curve(planted, x, torch.zeros(256, n), y, generator=_gen())
    assert float(dele[:, 0].mean()) > 0.9  # the model is sure of the shape ...
    assert float(dele[:, 1].mean()) < 0.4  # ... and one removed patch later, it is not
    assert float(ins[:, :n].min(dim=1).values.mean()) > 0.8  # with the shape kept to the end, it stays sure
    assert float(curve_auc(dele).mean()) < float(curve_auc(rand).mean()) - 0.3 < float(curve_auc(ins).mean()) - 0.6


def test_every_relevance_map_and_the_deletion_test_work_on_the_paper_hybrid():
    """Lesson 07's methods need only tokens, attention and a head: the hybrid (a conv stem first) has them."""
    from vit_lessons.relevance import METHODS, relevance_map

    torch.manual_seed(0)
    model = VisionTransformer(ViTConfig.fashion_mnist_cpu(stem=(4, 8), depth=2)).eval()
    x = torch.randn(3, 1, 28, 28)
    for name in METHODS:
        r = relevance_map(name, model, x)
        assert r.shape == (3, 4, 4) and torch.isfinite(r).all(), name
    curve = perturbation_curve(model, x, relevance_map("grad-rollout", model, x))
    assert curve.shape == (3, 17)
