import pytest

from vit_lessons import ViTConfig
from vit_lessons.config import PRESETS


def test_defaults_are_vit_b_16():
    c = ViTConfig()
    assert (c.embed_dim, c.depth, c.num_heads, c.patch_size, c.img_size) == (768, 12, 12, 16, 224)
    assert c == ViTConfig.vit_b_16()


def test_derived_sizes():
    c = ViTConfig.vit_b_16()
    assert c.grid_size == 14 and c.num_patches == 196 and c.num_tokens == 197
    assert c.head_dim == 64 and c.mlp_hidden_dim == 3072
    no_cls = ViTConfig.fashion_mnist_cpu(class_token=False, pool="mean")
    assert no_cls.num_tokens == ViTConfig.fashion_mnist_cpu().num_patches


@pytest.mark.parametrize("name", PRESETS)
def test_presets_build_and_roundtrip(name):
    c = ViTConfig.preset(name)
    assert ViTConfig.from_dict(c.to_dict()) == c


def test_paper_table1():
    # Dosovitskiy et al. 2021, Table 1: layers, hidden D, MLP size, heads
    for cfg, row in [(ViTConfig.vit_b_16(), (12, 768, 3072, 12)), (ViTConfig.vit_l_16(), (24, 1024, 4096, 16)),
                     (ViTConfig.vit_h_14(), (32, 1280, 5120, 16))]:
        assert (cfg.depth, cfg.embed_dim, cfg.mlp_hidden_dim, cfg.num_heads) == row


@pytest.mark.parametrize("kw, match", [
    (dict(img_size=30, patch_size=4), r"img_size 30 is not divisible by patch_size 4: use img_size 28 or 32"),
    (dict(embed_dim=100, num_heads=12), r"embed_dim 100 is not divisible by num_heads 12.*num_heads in"),
    (dict(pool="max"), r"pool must be one of \('cls', 'mean'\)"),
    (dict(pos_embed="rope"), r"pos_embed must be one of"),
    (dict(pool="cls", class_token=False), r"pool='cls' needs class_token=True"),
    (dict(depth=0), r"depth must be a positive int"),
    (dict(num_classes=-1), r"num_classes must be an int >= 0"),
    (dict(drop_rate=1.5), r"drop_rate must be in \[0, 1\)"),
])
def test_bad_config_messages(kw, match):
    with pytest.raises(ValueError, match=match):
        ViTConfig(**kw)


def test_unknown_preset_and_fields():
    with pytest.raises(ValueError, match="unknown preset 'vit_z'.*choose one of"):
        ViTConfig.preset("vit_z")
    with pytest.raises(ValueError, match=r"unknown ViTConfig fields \['hidden_size'\]"):
        ViTConfig.from_dict({"hidden_size": 48})


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_also_a_classmethod(name):
    method = getattr(ViTConfig, name)
    assert method() == ViTConfig.preset(name) and method().name == name
    assert method.__doc__.startswith(PRESETS[name].about)
    changed = method(num_classes=7, name="mine")  # any field, the name included, can be changed
    assert (changed.num_classes, changed.name) == (7, "mine")
    assert changed.replace(num_classes=ViTConfig.preset(name).num_classes) == ViTConfig.preset(name)
