"""Self-checks of lessons 03-05, both ways: the worked solution passes, each typical mistake
raises ExerciseError naming that mistake, and an unattempted stub prints "Not attempted"."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import load_solution as _load
from conftest import stub as _stub

from vit_lessons import ViTConfig
from vit_lessons import exercises as ex
from vit_lessons.exercises import ExerciseError


@pytest.fixture(scope="module")
def sol03():
    return _load("03_attention")


@pytest.fixture(scope="module")
def sol04():
    return _load("04_encoder_block")


@pytest.fixture(scope="module")
def sol05():
    return _load("05_vision_transformer")




CHECKS = ["check_scaled_dot_product", "check_split_heads", "check_merge_heads", "check_multi_head_attention",
          "check_layer_norm", "check_gelu", "check_pre_norm_block", "check_block_params",
          "check_vit_param_count", "check_mean_pool", "check_vit_forward"]


@pytest.mark.parametrize("name", CHECKS)
def test_unattempted_stub_prints_not_attempted(name, capsys):
    assert getattr(ex, name)(_stub) is False
    out = capsys.readouterr().out
    assert out.startswith("Not attempted yet"), out


def test_checks_are_exported():
    assert set(CHECKS) <= set(ex.__all__)


# ---- lesson 03 --------------------------------------------------------------------------------
def test_solutions_03_pass(sol03, capsys):
    assert ex.check_scaled_dot_product(sol03.my_attention) is True
    assert ex.check_split_heads(sol03.my_split_heads) is True
    assert ex.check_merge_heads(sol03.my_merge_heads) is True
    assert ex.check_multi_head_attention(sol03.my_multi_head_attention) is True
    assert capsys.readouterr().out.count("Correct:") == 4


def test_package_and_sdpa_pass_03():
    from vit_lessons.attention import scaled_dot_product_attention

    assert ex.check_scaled_dot_product(lambda q, k, v: scaled_dot_product_attention(q, k, v)[0])
    assert ex.check_scaled_dot_product(F.scaled_dot_product_attention)


def _sdpa(scale=None, dim=-1, transpose_w=False, transpose_s=False, softmax=True):
    def f(q, k, v):
        s = q @ k.transpose(-2, -1)
        s = s / (math.sqrt(q.shape[-1]) if scale is None else scale(q, v))
        if transpose_s:
            s = s.transpose(-2, -1)
        w = s.softmax(dim) if softmax else s
        if transpose_w:
            w = w.transpose(-2, -1)
        return w @ v
    return f


@pytest.mark.parametrize("fn, match", [
    (_sdpa(scale=lambda q, v: 1.0), "forgot the scale"),
    (_sdpa(scale=lambda q, v: q.shape[-1]), "divided by d"),
    (_sdpa(scale=lambda q, v: 1 / math.sqrt(q.shape[-1])), r"multiplied by sqrt\(d\)"),
    (_sdpa(scale=lambda q, v: math.sqrt(v.shape[-1])), "width of q and k"),
    (_sdpa(dim=-2), "softmax over the wrong dim"),
    (_sdpa(transpose_w=True), "weights are transposed"),
    (_sdpa(transpose_s=True), "scores are transposed"),
    (_sdpa(softmax=False), "forgot the softmax"),
    (lambda q, k, v: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1), "multiply the weights by v"),
    (lambda q, k, v: (_sdpa()(q, k, v), None), "return one tensor"),
    (lambda q, k, v: _sdpa()(q, k, v) + 0.1, "wrong values"),
])
def test_scaled_dot_product_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_scaled_dot_product(fn)


@pytest.mark.parametrize("fn, match", [
    (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), r"add \.transpose\(1, 2\)"),
    (lambda x, h: x.view(x.shape[0], h, x.shape[1], -1), "mixes tokens into the heads"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).permute(0, 3, 1, 2), "interleaved"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).permute(0, 2, 3, 1), "tokens and features are swapped"),
    (lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).transpose(1, 2), "slower-moving"),
])
def test_split_heads_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_split_heads(fn)


@pytest.mark.parametrize("fn, match", [
    (lambda x: x.reshape(x.shape[0], x.shape[2], -1), "reshaped without transposing"),
    (lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1), "interleaved across heads"),
    (lambda x: x.transpose(1, 2), "not concatenated yet"),
    (lambda x: x.reshape(x.shape[0], x.shape[1], -1), "merged the tokens with the features"),
])
def test_merge_heads_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_merge_heads(fn)


def _mha(scale="d", proj=True, bias=True, split="3hd", merge=True):
    def f(x, wq, bq, wp, bp, h):
        B, N, D = x.shape
        d = D // h
        qkv = F.linear(x, wq, bq if bias else None)
        if split == "3hd":
            q, k, v = qkv.view(B, N, 3, h, d).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = qkv.view(B, N, h, 3, d).permute(3, 0, 2, 1, 4)
        sc = {"d": math.sqrt(d), "D": math.sqrt(D), "none": 1.0}[scale]
        out = (q @ k.transpose(-2, -1) / sc).softmax(-1) @ v
        if not merge:
            return out
        out = out.transpose(1, 2).reshape(B, N, D)
        return F.linear(out, wp, bp) if proj else out
    return f


@pytest.mark.parametrize("fn, match", [
    (_mha(scale="D"), r"sqrt\(D\), the full width"),
    (_mha(scale="none"), "forgot the 1/sqrt"),
    (_mha(proj=False), "forgot the output projection"),
    (_mha(bias=False), "forgot the qkv bias"),
    (_mha(split="h3d"), r"\(h, 3, d\)"),
    (_mha(merge=False), "heads are not merged back"),
    (lambda x, wq, bq, wp, bp, h: F.linear(x, wq, bq), "qkv projection's output"),
])
def test_multi_head_attention_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_multi_head_attention(fn)


def test_multi_head_attention_package_passes():
    from vit_lessons.attention import Attention

    def via_package(x, wq, bq, wp, bp, h):
        a = Attention(x.shape[-1], h)
        with torch.no_grad():
            a.qkv.weight.copy_(wq)
            a.qkv.bias.copy_(bq)
            a.proj.weight.copy_(wp)
            a.proj.bias.copy_(bp)
        return a(x)

    assert ex.check_multi_head_attention(via_package)


# ---- lesson 04 --------------------------------------------------------------------------------
def test_solutions_04_pass(sol04, capsys):
    assert ex.check_layer_norm(sol04.my_layer_norm) is True
    assert ex.check_gelu(sol04.my_gelu) is True
    assert ex.check_pre_norm_block(sol04.my_block_forward) is True
    assert ex.check_block_params(sol04.my_block_params) is True
    assert capsys.readouterr().out.count("Correct:") == 4


def test_package_versions_pass_04():
    assert ex.check_layer_norm(lambda x, w, b, eps: F.layer_norm(x, (x.shape[-1],), w, b, eps))
    assert ex.check_gelu(F.gelu)
    assert ex.check_pre_norm_block(lambda blk, x: blk(x))


def _ln(unbiased=False, eps_where="inside", eps=None, affine="both", mean=True, dim=-1):
    def f(x, w, b, e):
        e = e if eps is None else eps
        mu = x.mean(dim, keepdim=True) if mean else 0
        var = x.var(dim, keepdim=True, unbiased=unbiased)
        y = (x - mu) / (torch.sqrt(var + e) if eps_where == "inside" else
                        torch.sqrt(var) + e if eps_where == "outside" else torch.sqrt(var))
        return y * w + b if affine == "both" else y * w if affine == "weight" else y
    return f


@pytest.mark.parametrize("fn, match", [
    (_ln(unbiased=True), "unbiased variance"),
    (_ln(eps_where="none"), "forgot eps"),
    (_ln(eps_where="outside"), "inside the square root"),
    (_ln(eps=1e-5), "PyTorch's default"),
    (_ln(affine="none"), "forgot the learned scale and shift"),
    (_ln(affine="weight"), "forgot the bias"),
    (_ln(mean=False), "subtract the mean"),
    (_ln(dim=0), "like BatchNorm"),
    (_ln(dim=-2), "over the tokens"),
    (lambda x, w, b, e: x.mean(-1, keepdim=True), "one number per token"),
])
def test_layer_norm_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_layer_norm(fn)


@pytest.mark.parametrize("fn, match", [
    (lambda x: F.gelu(x, approximate="tanh"), "tanh approximation"),
    (lambda x: x * torch.sigmoid(1.702 * x), "sigmoid approximation"),
    (lambda x: x * 0.5 * (1 + torch.erf(x)), r"divide by sqrt\(2\)"),
    (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), r"Phi\(x\) alone"),
    (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "factor 1/2"),
    (torch.relu, "ReLU"),
])
def test_gelu_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_gelu(fn)


def _post(b, x):
    x = b.norm1(x + b.attn(x))
    return b.norm2(x + b.mlp(x))


@pytest.mark.parametrize("fn, match", [
    (_post, "post-norm"),
    (lambda b, x: (lambda h: h + b.mlp(b.norm2(h)))(b.attn(b.norm1(x))), "residual around attention"),
    (lambda b, x: b.mlp(b.norm2(x + b.attn(b.norm1(x)))), "residual around the MLP"),
    (lambda b, x: (lambda y: y + b.mlp(b.norm2(y)))(b.norm1(x) + b.attn(b.norm1(x))), "normalised the residual"),
    (lambda b, x: (lambda h: h + b.mlp(b.norm1(h)))(x + b.attn(b.norm1(x))), "has its own norm2"),
    (lambda b, x: (lambda y: y + b.attn(b.norm1(y)))(x + b.mlp(b.norm2(x))), "MLP before attention"),
    (lambda b, x: x + b.attn(b.norm1(x)), "forgot the MLP"),
    (lambda b, x: x + b.attn(b.norm1(x)) + b.mlp(b.norm2(x)), "read the block's input"),
])
def test_pre_norm_block_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_pre_norm_block(fn)


def _bp(norms=2, qkv=3, proj=True, mlp_layers=2, biases=True, as_float=False):
    def f(dim, ratio=4.0):
        hid = int(dim * ratio)
        b = 1 if biases else 0
        n = norms * 2 * dim + qkv * (dim * dim + b * dim) + (dim * dim + b * dim if proj else 0)
        n += (dim * hid + b * hid) + ((hid * dim + b * dim) if mlp_layers == 2 else 0)
        return float(n) + 0.5 if as_float else n
    return f


@pytest.mark.parametrize("fn, match", [
    (_bp(norms=0), "forgot the two LayerNorms"),
    (_bp(norms=1), "counted one LayerNorm"),
    (_bp(biases=False), "forgot the biases"),
    (_bp(qkv=1), "counted the qkv projection as D x D"),
    (_bp(proj=False), "output projection"),
    (_bp(mlp_layers=1), "only one MLP layer"),
    (_bp(as_float=True), "should return an int"),
    (lambda dim, ratio=4.0: 12 * dim * dim + 13 * dim, r"block_params\(96, 2.0\)"),  # right only for ratio 4
])
def test_block_params_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_block_params(fn)


# ---- lesson 05 --------------------------------------------------------------------------------
def test_solutions_05_pass(sol05, capsys):
    assert ex.check_vit_param_count(sol05.my_vit_param_count) is True
    assert ex.check_mean_pool(sol05.my_mean_pool) is True
    assert ex.check_vit_forward(sol05.my_vit_forward) is True
    assert capsys.readouterr().out.count("Correct:") == 3


def test_package_versions_pass_05():
    from vit_lessons import VisionTransformer, count_params

    def build_and_count(cfg):
        with torch.device("meta"):
            return count_params(VisionTransformer(cfg))

    assert ex.check_vit_param_count(build_and_count)
    assert ex.check_vit_forward(lambda m, x: m(x))


def _count(sol05, delta):
    return lambda cfg: sol05.my_vit_param_count(cfg) - delta(cfg)


@pytest.mark.parametrize("delta, match", [
    (lambda c: c.embed_dim, "class token"),
    (lambda c: c.num_tokens * c.embed_dim, "position embeddings"),
    (lambda c: 2 * c.embed_dim, "final LayerNorm"),
    (lambda c: c.embed_dim * c.num_classes + c.num_classes, "classification head"),
    (lambda c: c.embed_dim * c.patch_size**2 * c.in_chans + c.embed_dim, "patch embedding"),
    (lambda c: 7, "short by 7"),
])
def test_vit_param_count_mistakes(sol05, delta, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_vit_param_count(_count(sol05, delta))


def test_vit_param_count_option_mistakes(sol05):
    def no_head_option(cfg):  # always counts a head, even for num_classes=0 -> wrong only there
        n = sol05.my_vit_param_count(cfg)
        return n + (cfg.embed_dim * 1000 + 1000 if cfg.num_classes == 0 else 0)

    with pytest.raises(ExerciseError, match="no head"):
        ex.check_vit_param_count(no_head_option)

    def always_cls(cfg):
        return sol05.my_vit_param_count(cfg.replace(class_token=True, pool="cls"))

    with pytest.raises(ExerciseError, match="class_token=False"):
        ex.check_vit_param_count(always_cls)

    def sincos_learned(cfg):
        return sol05.my_vit_param_count(cfg.replace(pos_embed="learned"))

    with pytest.raises(ExerciseError, match="fixed buffer"):
        ex.check_vit_param_count(sincos_learned)

    with pytest.raises(ExerciseError, match="should return an int"):
        ex.check_vit_param_count(lambda cfg: "86M")


@pytest.mark.parametrize("fn, match", [
    (lambda t: t.mean(1), "included the class token"),
    (lambda t: t[:, 0], "this is the class token"),
    (lambda t: t[:, :-1].mean(1), "dropped the last token"),
    (lambda t: t[:, 1:].sum(1), "summed instead of averaging"),
    (lambda t: t[:, 1:].sum(1) / t.shape[1], "N - 1 patch tokens"),
    (lambda t: t[:, 1:].mean(-1), "averaged over the features"),
    (lambda t: t.mean(-1), "averaged over the features"),
    (lambda t: t[:, 1:].mean(0), "averaged over the batch"),
    (lambda t: t[:, 1:].mean(1, keepdim=True), "without keepdim"),
])
def test_mean_pool_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_mean_pool(fn)


def test_mean_pool_matches_package():
    from vit_lessons import VisionTransformer

    m = VisionTransformer(ViTConfig.tiny(pool="mean"))
    assert ex.check_mean_pool(m.pool)


def _fwd(pos=True, norm=True, pool="cls", cls_first=True, head=True):
    def f(model, x):
        t = model.patch_embed(x)
        cls = model.cls_token.expand(x.shape[0], -1, -1)
        t = torch.cat([cls, t] if cls_first else [t, cls], dim=1)
        if pos:
            t = t + model.pos_embed
        for blk in model.blocks:
            t = blk(t)
        if norm:
            t = model.norm(t)
        if pool == "all":
            return model.head(t)
        t = t[:, 0] if pool == "cls" else t[:, 1:].mean(1) if pool == "mean" else t[:, -1]
        return model.head(t) if head else t
    return f


@pytest.mark.parametrize("fn, match", [
    (_fwd(pos=False), "forgot the position embeddings"),
    (_fwd(norm=False), "forgot the final LayerNorm"),
    (_fwd(pool="mean"), "mean of the patch tokens"),
    (_fwd(cls_first=False, pool="last"), "class token at the end"),
    (_fwd(cls_first=False), "class token at the end"),
    (_fwd(pool="all"), "applied to every token"),
    (_fwd(head=False), "apply model.head"),
])
def test_vit_forward_mistakes(fn, match):
    with pytest.raises(ExerciseError, match=match):
        ex.check_vit_forward(fn)


def test_checks_do_not_change_global_rng():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    ex.check_mean_pool(lambda t: t[:, 1:].mean(1))
    b = torch.rand(3)
    assert torch.equal(a, b)
