"""Our model equals timm's and torchvision's with the same weights (random weights: no download)."""

import pytest
import torch
from conftest import randomize_
from torch.testing import assert_close

from vit_lessons import VisionTransformer, ViTConfig, count_params
from vit_lessons.pretrained import (
    config_from_timm,
    config_from_torchvision,
    convert_torchvision_state_dict,
    from_timm,
    from_torchvision,
)

timm = pytest.importorskip("timm")
tv_vit = pytest.importorskip("torchvision.models.vision_transformer")

# (img, patch, chans, classes, dim, depth, heads, mlp_ratio, qkv_bias)
TIMM_CONFIGS = [
    (32, 4, 3, 10, 48, 4, 4, 4.0, True),  # tintn's CIFAR seed model
    (28, 7, 1, 10, 64, 2, 8, 2.0, True),  # grey Fashion-MNIST
    (28, 4, 1, 10, 96, 3, 4, 2.0, False),  # no qkv bias
    (48, 16, 3, 1000, 72, 2, 6, 3.0, True),  # ImageNet head, odd mlp ratio
    (64, 8, 5, 7, 40, 1, 5, 1.5, True),  # 5 channels, head dim 8
]


def _timm_model(img, patch, chans, classes, dim, depth, heads, ratio, bias):
    return timm.models.vision_transformer.VisionTransformer(
        img_size=img, patch_size=patch, in_chans=chans, num_classes=classes, embed_dim=dim, depth=depth,
        num_heads=heads, mlp_ratio=ratio, qkv_bias=bias, global_pool="token", class_token=True)


@pytest.mark.parametrize("i, cfg", list(enumerate(TIMM_CONFIGS)))
@pytest.mark.parametrize("fused", [True, False])
def test_timm_parity(i, cfg, fused):
    theirs = randomize_(_timm_model(*cfg), seed=i).eval()
    img, patch, chans, classes, dim, depth, heads, ratio, bias = cfg
    ours = VisionTransformer(ViTConfig(img_size=img, patch_size=patch, in_chans=chans, num_classes=classes,
                                       embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=ratio, qkv_bias=bias,
                                       fused_attn=fused)).eval()
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)  # the same keys, in the same order
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    assert ours.num_params == count_params(theirs)
    ours.load_state_dict(sd, strict=True)
    x = torch.randn(3, chans, img, img, generator=torch.Generator().manual_seed(i))
    with torch.no_grad():
        assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
        assert_close(ours.forward_features(x), theirs.forward_features(x), atol=1e-5, rtol=1e-5)


def test_timm_vit_b_16_keys_and_count():
    with torch.device("meta"):
        theirs = timm.create_model("vit_base_patch16_224", pretrained=False)
        ours = VisionTransformer(ViTConfig.vit_b_16())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert ours.num_params == 86_567_656


def test_from_timm_instance():
    theirs = randomize_(_timm_model(*TIMM_CONFIGS[1]), seed=5).eval()
    ours = from_timm(theirs).eval()
    assert config_from_timm(theirs).patch_size == 7
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_from_timm_rejects_avg_pool():
    t = timm.models.vision_transformer.VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=1,
                                                         num_heads=4, global_pool="avg")
    with pytest.raises(ValueError, match="global_pool='avg'.*only class-token pooling"):
        from_timm(t)


TV_CONFIGS = [  # (image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, num_classes)
    (32, 4, 2, 4, 48, 192, 10),
    (64, 16, 3, 6, 96, 200, 1000),
    (28, 7, 1, 2, 32, 64, 5),
]


@pytest.mark.parametrize("i, cfg", list(enumerate(TV_CONFIGS)))
def test_torchvision_parity(i, cfg):
    img, patch, layers, heads, hidden, mlp, classes = cfg
    tv = tv_vit.VisionTransformer(img, patch, layers, heads, hidden, mlp, num_classes=classes)
    tv = randomize_(tv, seed=i).eval()
    ours = from_torchvision(tv).eval()
    assert config_from_torchvision(tv).mlp_hidden_dim == mlp
    assert ours.num_params == count_params(tv)
    x = torch.randn(2, 3, img, img, generator=torch.Generator().manual_seed(i))
    with torch.no_grad():
        assert_close(ours(x), tv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("builder, preset", [("vit_b_16", "vit_b_16"), ("vit_l_16", "vit_l_16")])
def test_torchvision_full_size_conversion(builder, preset):
    """The real vit_b_16 / vit_l_16 architectures convert key for key (meta tensors: no memory, no download)."""
    with torch.device("meta"):
        tv = getattr(tv_vit, builder)(weights=None)
        ours = VisionTransformer(ViTConfig.preset(preset))
    conv = convert_torchvision_state_dict(tv.state_dict())
    assert {k: v.shape for k, v in conv.items()} == {k: v.shape for k, v in ours.state_dict().items()}
    assert config_from_torchvision(tv) == ViTConfig.preset(preset)


def test_torchvision_vit_b_16_logits():
    """Full ViT-B/16, random weights, one image: same logits (about 1 s on a CPU)."""
    tv = tv_vit.vit_b_16(weights=None).eval()
    ours = from_torchvision(tv).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert_close(ours(x), tv(x), atol=1e-5, rtol=1e-5)


def test_convert_rejects_foreign_keys():
    with pytest.raises(ValueError, match="unexpected key 'features.0.weight'"):
        convert_torchvision_state_dict({"features.0.weight": torch.zeros(1)})


def test_from_torchvision_unknown_name():
    with pytest.raises(ValueError, match="unknown torchvision ViT 'vit_q_16'"):
        from_torchvision("vit_q_16")
