"""Evaluation, autocast and confusion matrices."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.config import ViTConfig
from vit_lessons.data import DATASETS
from vit_lessons.model import VisionTransformer
from vit_lessons.train import autocast, confusion_matrix, evaluate, format_confusion


def test_autocast_only_on_cuda():
    ac = autocast(torch.device("cpu"), True)
    assert not ac._enabled  # CPU: fp32 always
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available" on a CPU machine
        g = autocast(torch.device("cuda"), True)
    assert g.device == "cuda" and g.fast_dtype == torch.bfloat16
    assert not autocast(torch.device("cuda"), False)._enabled


def test_confusion_matrix_and_text():
    cm = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    text = format_confusion(cm, ["a", "b", "c"])
    assert "50.0%" in text and "true \\ predicted" in text


def test_eval_on_tiny_imagedata_matches_manual_loop():
    cfg = ViTConfig.tiny(img_size=8, patch_size=4, in_chans=1, num_classes=3)
    m = VisionTransformer(cfg).eval()
    x = torch.randint(0, 256, (7, 1, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 3, (7,))
    info = DATASETS["digits"]
    res = evaluate(m, x, y, info.mean, info.std, batch_size=3)
    with torch.no_grad():
        logits = m((x.float() / 255 - info.mean[0]) / info.std[0])
    assert res["correct"] == int((logits.argmax(1) == y).sum())
    assert res["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    torch.testing.assert_close(res["pred"], logits.argmax(1), atol=0, rtol=0)
    assert res["n"] == 7
    m.train()
    evaluate(m, x, y, info.mean, info.std)
    assert m.training  # evaluation gives the model back in the mode it found it
