"""The small CNN of lesson 09: shapes, configs, checks, and training/evaluating it through the course's tools."""

import pytest
import torch

from vit_lessons.cnn import CNN_PRESETS, CNNConfig, SmallCNN, build_model, config_from_dict
from vit_lessons.config import ViTConfig
from vit_lessons.model import VisionTransformer
from vit_lessons.train import Recipe, Trainer, load_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list(CNN_PRESETS))
def test_presets_map_images_to_logits(name):
    m = SmallCNN(CNNConfig.preset(name))
    assert m(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_channels_last_is_the_same_function():
    cfg = CNNConfig.preset("cnn_small")
    a, b = SmallCNN(cfg), SmallCNN(cfg.replace(channels_last=False))
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=1e-4, atol=1e-5)


def test_config_round_trip_and_dispatch():
    cfg = CNNConfig.preset("cnn_gap", num_classes=7)
    d = cfg.to_dict()
    assert d["arch"] == "cnn" and config_from_dict(d) == cfg
    assert isinstance(build_model(cfg), SmallCNN)
    vit = ViTConfig.tiny()
    assert config_from_dict(vit.to_dict()) == vit and isinstance(build_model(vit), VisionTransformer)
    with pytest.raises(TypeError, match="ViTConfig or a CNNConfig"):
        build_model({"arch": "cnn"})


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="too small to halve 3 times"):
        CNNConfig(img_size=4, channels=(8, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        CNNConfig(kernel_size=4)
    with pytest.raises(ValueError, match="pool must be"):
        CNNConfig(pool="max")
    with pytest.raises(ValueError, match="unknown CNN preset"):
        CNNConfig.preset("resnet")
    with pytest.raises(ValueError, match=r"expects \(B, 1, 28, 28\)"):
        SmallCNN()(torch.randn(2, 3, 28, 28))


def test_trainer_trains_a_cnn_and_eval_loads_it(tmp_path, digits):
    cfg = CNNConfig(img_size=8, in_chans=1, num_classes=10, channels=(8, 16), hidden=32)
    tr = Trainer(cfg, Recipe(epochs=3, batch_size=32, crop_pad=0, flip=False), digits, tmp_path / "cnn",
                 seed=0, progress=False)
    hist = tr.fit()
    assert hist[-1]["test_acc"] > 0.8  # a CNN learns the 8x8 digits in three epochs
    model, ck = load_model(tmp_path / "cnn" / "last.pt")
    assert isinstance(model, SmallCNN) and ck["model_config"]["arch"] == "cnn"
    from vit_lessons.train import evaluate
    res = evaluate(model, digits.test_x, digits.test_y, digits.info.mean, digits.info.std)
    assert res["correct"] == hist[-1]["test_correct"]
