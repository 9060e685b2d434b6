"""The recipe: the table of named recipes, and the checks every ingredient carries."""

import dataclasses

import pytest

from vit_lessons.config import ViTConfig
from vit_lessons.data import DATASETS
from vit_lessons.train import RECIPES, Recipe, default_setup, tintn_setup


def test_presets_for_each_dataset_fit_the_data():
    for name, info in DATASETS.items():
        cfg, recipe = default_setup(name)
        assert (cfg.img_size, cfg.in_chans, cfg.num_classes) == (info.img_size, info.in_chans, info.num_classes)
    cfg, r = tintn_setup()
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_hidden_dim, cfg.patch_size) == (48, 4, 4, 192, 4)
    assert (r.lr, r.weight_decay, r.schedule, r.label_smoothing, r.crop_pad, r.flip) == (1e-2, 1e-2, "constant",
                                                                                          0.0, 0, False)
    fm, _ = default_setup("fashion-mnist")
    assert fm.name == "fashion_mnist_cpu" and fm.patch_size in (4, 7)  # pure ViT: conv patch embedding only


def test_the_table_names_its_recipes_and_their_datasets():
    # one course recipe per dataset, the seed recipe, fine-tuning recipes named "<dataset>-finetune", the hybrid,
    # and lesson 11's masked-autoencoder pretraining
    assert set(RECIPES) == set(DATASETS) | {"tintn", "cifar10-finetune", "fashion-mnist-hybrid", "fashion-mnist-mae"}
    mae_cfg, mae = RECIPES["fashion-mnist-mae"].setup()
    assert mae_cfg == ViTConfig.preset("fashion_mnist_cpu") and mae.pretrain == "mae" and mae.beta2 == 0.95
    hybrid, _ = RECIPES["fashion-mnist-hybrid"].setup()
    assert hybrid == ViTConfig.preset("fashion_mnist_hybrid") and hybrid.stem == (16, 32)
    assert all(r.dataset in DATASETS for r in RECIPES.values())
    assert RECIPES["cifar10-finetune"].dataset == "cifar10" and RECIPES["cifar10-finetune"].recipe.init_from
    # tintn's model, written out field by field as its repository has it: the table builds exactly this
    tintn = ViTConfig(name="tintn_fmnist", img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=48,
                      depth=4, num_heads=4, mlp_ratio=4.0, fused_attn=False)
    assert tintn_setup()[0].to_dict() == tintn.to_dict()
    cfg, r = default_setup("digits", epochs=3, flip=True)
    assert r.epochs == 3 and r.flip and RECIPES["digits"].recipe.epochs == 15  # changes never touch the table
    with pytest.raises(ValueError, match="unknown dataset 'tintn'"):
        default_setup("tintn")


@pytest.mark.parametrize("changes, message", [
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(lr=-1e-3), "lr must be a positive number, got -0.001"),
    (dict(warmup=1.0), r"warmup must be a number in \[0, 1\), got 1.0"),
    (dict(erase=1.5), r"erase must be a probability in \[0, 1\], got 1.5"),
    (dict(crop_pad=-1), "crop_pad must be 0 or a positive integer, got -1"),
    (dict(init="xavier"), "init must be 'timm' or 'mimetic', got 'xavier'"),
    (dict(schedule="step"), "schedule must be 'cosine' or 'constant', got 'step'"),
    (dict(epochs=0), r"nothing to train: epochs=0 and time_budget=0.0; give a positive number of epochs "
                     r"\(--epochs N\) or a time budget in seconds \(--time-budget SECONDS\)"),
])
def test_bad_ingredients_name_the_field_and_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**changes)
    Recipe(epochs=0, time_budget=5.0)  # a time budget instead of epochs is fine


def test_every_ingredient_says_what_its_flag_does():
    for f in dataclasses.fields(Recipe):
        assert f.metadata["help"], f.name
        assert f.type in ("int", "float", "bool", "str"), f.name  # the types the command line can parse
    assert Recipe.from_dict({**Recipe().to_dict(), "not_a_field": 1}) == Recipe()
