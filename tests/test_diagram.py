"""vit_lessons.diagram: the paper's Fig. 1 with shapes read from the config, never typed in."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vit_lessons import VisionTransformer, ViTConfig  # noqa: E402
from vit_lessons.diagram import BOXES, architecture_figure, architecture_shapes  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _texts(fig, prefix):
    """Text artists whose gid starts with ``prefix``, keyed by the rest of the gid."""
    return {t.get_gid().split(":", 1)[1]: t.get_text() for ax in fig.axes for t in ax.texts
            if (t.get_gid() or "").startswith(prefix)}


def _numbers(text):
    """The shape written after '=' on a box, e.g. '(B, 50, 96)'."""
    return text.rsplit(" = ", 1)[1]


@pytest.mark.parametrize("preset", ["fashion_mnist_cpu", "tiny", "vit_b_16"])
def test_shapes_on_the_figure_are_the_configs(preset):
    cfg = ViTConfig.preset(preset)
    N, D, T = cfg.num_patches, cfg.embed_dim, cfg.num_patches + 1
    shapes = _texts(architecture_figure(cfg), "shape:")
    assert set(shapes) == set(BOXES) | {"input"}
    assert _numbers(shapes["input"]) == f"(B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size})"
    assert _numbers(shapes["patches"]) == f"(B, {N}, {cfg.patch_size ** 2 * cfg.in_chans})"
    assert _numbers(shapes["patch_embed"]) == f"(B, {N}, {D})"
    for k in ("cls_token", "pos_embed", "blocks", "norm", "norm1", "attn", "norm2", "mlp"):
        assert _numbers(shapes[k]) == f"(B, {T}, {D})", k
    assert _numbers(shapes["pool"]) == f"(B, {D})"
    assert _numbers(shapes["head"]) == f"(B, {cfg.num_classes})"
    extra = _texts(plt.gcf(), "extra:")
    assert _numbers(extra["attn"]) == f"(B, {cfg.num_heads}, {T}, {T})"
    assert _numbers(extra["mlp"]) == f"(B, {T}, {cfg.mlp_hidden_dim})"


def test_shapes_match_the_model_it_draws():
    """The numbers on the boxes are the shapes the real model produces."""
    cfg = ViTConfig.tiny()
    model = VisionTransformer(cfg).eval()
    x = torch.zeros(2, cfg.in_chans, cfg.img_size, cfg.img_size)
    shapes = {k: _numbers(v).replace("B", "2") for k, v in _texts(architecture_figure(cfg), "shape:").items()}
    with torch.no_grad():
        tokens = model.embed(x)
        feats = model.forward_features(x)
        assert shapes["patch_embed"] == str(tuple(model.patch_embed(x).shape))
        assert shapes["pos_embed"] == str(tuple(tokens.shape))
        assert shapes["norm"] == str(tuple(feats.shape))
        assert shapes["pool"] == str(tuple(model.pool(feats).shape))
        assert shapes["head"] == str(tuple(model(x).shape))


def test_legend_and_title_name_the_sizes():
    cfg = ViTConfig.fashion_mnist_cpu()  # the course's model: 7x7 patches of 28x28 images
    fig = architecture_figure(cfg)
    text = next(t.get_text() for t in fig.axes[0].texts if t.get_gid() == "legend")
    assert "N = 16 patches" in text and "N + 1 = 17 tokens" in text and "D = 64" in text and "L = 6" in text
    assert f"{VisionTransformer(cfg).num_params:,} parameters" in fig._suptitle.get_text()


def test_without_class_token_the_tokens_are_the_patches():
    cfg = ViTConfig.tiny(class_token=False, pool="mean")
    shapes = _texts(architecture_figure(cfg), "shape:")
    assert shapes["blocks"] == f"(B, N, D) = (B, {cfg.num_patches}, {cfg.embed_dim})"
    assert "mean" in _texts(plt.gcf(), "title:")["pool"]


def test_labels_tag_boxes_and_unknown_names_are_refused():
    fig = architecture_figure(ViTConfig.tiny(), labels={"attn": "lesson 03", "patches": "lesson 01"})
    assert _texts(fig, "label:") == {"attn": "lesson 03", "patches": "lesson 01"}
    with pytest.raises(ValueError, match=r"unknown box names in labels: \['attention'\]; the boxes are"):
        architecture_figure(ViTConfig.tiny(), labels={"attention": "lesson 03"})


def test_image_is_drawn_and_checked():
    cfg = ViTConfig.fashion_mnist_cpu()
    fig = architecture_figure(cfg, image=torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert len(fig.axes) == 2 and fig.axes[1].images
    with pytest.raises(ValueError, match=r"image must be a \(C, H, W\) tensor of shape \(1, 28, 28\)"):
        architecture_figure(cfg, image=torch.rand(3, 32, 32))


def test_config_must_be_a_config():
    with pytest.raises(TypeError, match="config must be a ViTConfig"):
        architecture_shapes({"embed_dim": 96})


def test_the_hybrid_draws_its_conv_stem():
    cfg = ViTConfig.fashion_mnist_cpu(stem=(16, 32))
    box = architecture_shapes(cfg)["patches"]
    assert "conv stem 1→16→32" in box.title and box.shape == "(B, 16, 1568)"  # 7 * 7 * 32 values per patch
