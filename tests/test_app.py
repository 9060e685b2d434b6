"""The attention explorer: reading uploads, predictions and maps, the faithfulness ranking in its help text, the
/predict and /explain APIs through gradio_client against a real server, and the page end to end in headless
Chromium driven by Playwright.

The browser test can also save the page as assets/app_screenshot.png (see assets/README.md):
    VIT_LESSONS_APP_SCREENSHOT=assets/app_screenshot.png pytest -q tests/test_app.py -k chromium
"""

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vit_lessons.app_input import InputError, prepare, read_upload
from vit_lessons.app_logic import (
    class_attention,
    gallery_examples,
    grad_cam_map,
    load_explorer,
    predict,
    relevance,
    render_overlay,
    rollout_map,
)
from vit_lessons.app_ranking import CHEAP, RESULTS, Faithfulness, faithfulness, offered_methods
from vit_lessons.assets import asset_path
from vit_lessons.config import ViTConfig
from vit_lessons.data import DATASETS, ImageData, load_digits
from vit_lessons.explain import attention_rollout
from vit_lessons.relevance import relevance_map
from vit_lessons.train import Recipe, Trainer

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "assets" / "checkpoints" / "fashion_mnist_vit.pt"
LEARNED = ROOT / "assets" / "checkpoints" / "fashion_mnist_vit_learned_pos.pt"
COMMITTED_RESULTS = ROOT / "assets" / RESULTS  # written by `python -m vit_lessons bench explain`
# made-up deletion areas, unlike any real run's order: gradient x input is the best cheap map here
MADE_UP = {"assets/checkpoints/fashion_mnist_vit.pt": {
               "random": 0.5, "attention": 0.40, "rollout": 0.45, "grad-rollout": 0.42, "chefer": 0.43,
               "grad-cam": 0.47, "gradient-x-input": 0.31, "integrated-gradients": 0.35, "occlusion": 0.33},
           "assets/checkpoints/fashion_mnist_vit_learned_pos.pt": {
               "random": 0.611, "attention": 0.522, "rollout": 0.533, "grad-rollout": 0.544, "chefer": 0.555,
               "grad-cam": 0.511, "gradient-x-input": 0.566, "integrated-gradients": 0.577, "occlusion": 0.588}}
CHROMIUM = Path(os.environ.get("VIT_LESSONS_CHROMIUM", "/usr/bin/chromium"))  # the system browser, never a download
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# every picture loaded and no gradio event pending (pending panels are drawn faded)
IDLE = ("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0) && Array.from("
        "document.querySelectorAll('[data-testid=status-tracker]')).every(e => e.classList.contains('hide'))")
# what the committed checkpoint reads (checked against it below): the three values read_upload needs
FASHION = {"img_size": 28, "in_chans": 1, "dataset": "fashion-mnist"}
TIMEOUT_MS = 60_000  # upper bound for one page event on a busy 2-core CI machine; normally well under a second


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest's: the model is tiny, one thread is enough


@pytest.fixture(scope="module")
def ex():
    return load_explorer(CKPT)


@pytest.fixture(scope="module")
def examples(ex):
    found = gallery_examples(ex)
    if not found:
        pytest.skip("Fashion-MNIST is not on this machine (python -m vit_lessons data fetches it)")
    return found


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height grey pixels but holds almost no data: decoding it would be the attack."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _write_results(path: Path, areas=MADE_UP) -> Path:
    """A summary.json in the format `python -m vit_lessons bench explain` writes, with the given deletion areas."""
    def area(v, base):
        a = {"mean": v, "lo": v - 0.012, "hi": v + 0.013}
        return a if base is None else a | {"minus_random": {"mean": v - base, "lo": v - base - 0.02,
                                                            "hi": v - base + 0.02}}
    rows = [{"checkpoint": ck, "method": m, "images": 64,
             "deletion_mean": area(v, None if m == "random" else by_method["random"])}
            for ck, by_method in areas.items() for m, v in by_method.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": "explain", "images": 64, "fills": ["mean"], "date": "2001-02-03",
                                "results": rows}))
    return path


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    """The committed faithfulness results when there are some, else made-up ones in the same format."""
    if COMMITTED_RESULTS.is_file():
        return COMMITTED_RESULTS
    return _write_results(tmp_path_factory.mktemp("results") / "summary.json")


def _ranking(path: Path, checkpoint: str) -> list[tuple[str, float]]:
    """(method, deletion area with mean fill) for one checkpoint of a results file, lowest first, random apart."""
    rows = json.loads(path.read_text())["results"]
    return sorted(((r["method"], r["deletion_mean"]["mean"]) for r in rows
                   if r["checkpoint"] == checkpoint and r["method"] != "random"), key=lambda mv: mv[1])


def _assert_help_states(text: str, path: Path, checkpoint: str):
    """The help text gives the file's deletion areas for ``checkpoint`` in rank order, and the random baseline."""
    rows = json.loads(path.read_text())["results"]
    where = [text.index(f"| {i} | {m} | {v:.3f} [") for i, (m, v) in enumerate(_ranking(path, checkpoint), 1)]
    assert where == sorted(where) and len(where) >= 2
    random = next(r["deletion_mean"]["mean"] for r in rows if r["checkpoint"] == checkpoint and r["method"] == "random")
    assert f"**Random order** (the baseline a map must beat): deletion area {random:.3f} [" in text


def _normalised(ex, img):
    return ((img.float() / 255 - torch.tensor(ex.mean).view(-1, 1, 1)) / torch.tensor(ex.std).view(-1, 1, 1))[None]


# ---- loading checkpoints ----------------------------------------------------------------------------------
def test_explorer_reads_model_classes_and_normalisation_from_the_checkpoint(ex):
    info = DATASETS["fashion-mnist"]
    assert ex.classes == list(info.classes) and (ex.mean, ex.std) == (info.mean, info.std)
    assert ex.model.config.img_size == 28 and not ex.model.training
    assert FASHION == {"img_size": ex.model.config.img_size, "in_chans": ex.model.config.in_chans,
                       "dataset": ex.dataset}  # what the upload tests below give read_upload
    assert ex.record == json.loads(CKPT.with_suffix(".json").read_text())  # the record beside the weights


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist.*experiments/<name>/last.pt"):
        load_explorer(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_explorer(tmp_path)
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_explorer(tmp_path / "notes.pt")


def _trained(tmp_path, cfg, data) -> Path:
    recipe = Recipe(epochs=1, batch_size=32, lr=1e-3, warmup=0.0, crop_pad=0, flip=False, erase=0.0)
    Trainer(cfg, recipe, data, tmp_path, seed=0, progress=False).fit()
    return tmp_path / "last.pt"


def test_any_trainer_checkpoint_works_mean_pooling_on_digits(tmp_path):
    """A checkpoint the trainer writes for another dataset and another pooling: no class token at all."""
    cfg = ViTConfig.digits_cpu(embed_dim=16, depth=2, num_heads=2, pool="mean", class_token=False)
    ex = load_explorer(_trained(tmp_path, cfg, load_digits()))
    assert ex.classes == [str(i) for i in range(10)] and ex.model.num_prefix_tokens == 0
    g = cfg.img_size // cfg.patch_size
    img, label, _ = gallery_examples(ex)[0]
    assert img.shape == (1, 8, 8) and img.dtype == torch.uint8
    heat, vmax, own = class_attention(ex, img, 2, 2)
    assert heat.shape == (g, g) and own is None and float(heat.max()) <= vmax
    _, attns = ex.model(_normalised(ex, img), return_attention=True)
    torch.testing.assert_close(heat.flatten(), attns[1][0, 1].mean(dim=0), atol=1e-6, rtol=1e-5)  # patches' mean
    roll, own = rollout_map(ex, img)
    assert own is None
    torch.testing.assert_close(roll.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)  # no prefix token keeps a share


def test_checkpoint_trained_on_upsampled_images_gets_gallery_images_at_its_size(tmp_path):
    """Digits upsampled 8 -> 16 pixels for a 16-pixel model (lesson 08 fine-tunes like this): the gallery follows."""
    d = load_digits()
    up = lambda x: torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")  # noqa: E731
    data = ImageData(d.info, up(d.train_x[:64]), d.train_y[:64], up(d.test_x), d.test_y, source="digits x2")
    cfg = ViTConfig.digits_cpu(img_size=16, patch_size=4, embed_dim=16, depth=1, num_heads=2)
    ex = load_explorer(_trained(tmp_path, cfg, data))
    img, label, index = gallery_examples(ex)[0]
    assert img.shape == (1, 16, 16) and label == int(d.test_y[index])
    same = torch.corrcoef(torch.stack([img.flatten().float(), up(d.test_x[index][None]).flatten().float()]))[0, 1]
    assert same > 0.9  # the same digit, resized smoothly instead of by repeating pixels
    assert len(predict(ex, img)) == 5


def test_any_trainer_checkpoint_works_colour_model_without_its_dataset(tmp_path):
    """A 3-channel CIFAR-10-style checkpoint with one block: grey uploads become three channels, no gallery offline,
    and the page still builds."""
    g = torch.Generator().manual_seed(0)
    data = ImageData(DATASETS["cifar10"], torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.arange(64) % 10, torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.arange(20) % 10, source="random")
    cfg = ViTConfig(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=16, depth=1, num_heads=2)
    ex = load_explorer(_trained(tmp_path, cfg, data))
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((20, 20), 60, np.uint8)).save(path)
    img, notes = read_upload(path, img_size=32, in_chans=3, dataset="cifar10")
    assert img.shape == (3, 32, 32) and any("three colour channels" in n for n in notes)
    torch.testing.assert_close(img.float(), torch.full((3, 32, 32), 60.0), atol=0, rtol=0)
    assert len(predict(ex, img)) == 5 and grad_cam_map(ex, img, 3).shape == (4, 4)
    assert gallery_examples(ex) == []  # CIFAR-10 is not on this machine: the page offers uploads only
    if importlib.util.find_spec("gradio") is not None:
        from vit_lessons.app import build_app

        kinds = {type(b).__name__ for b in build_app(tmp_path / "last.pt").blocks.values()}
        assert "Gallery" not in kinds and {"File", "Label", "Slider", "Number"} <= kinds  # one block: no slider


# ---- reading uploads ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"this is a text file, not a picture", "is not an image the explorer can read"),
    ("empty.png", b"", "is empty"),
    ("bomb.png", _png_header(100_000, 100_000), "too large to decode"),
    ("wide.png", _png_header(10_000, 6_000), "10000x6000 pixels (60 megapixels)"),
])
def test_unusable_uploads_get_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_upload(path, **FASHION)


def test_truncated_and_oversized_files_get_a_message(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="cannot be decoded.*truncated or corrupt"):
        read_upload(tmp_path / "cut.png", **FASHION)
    (tmp_path / "big.png").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match=r"big.png is 0.0 MB; the explorer reads files up to 0 MB"):
        read_upload(tmp_path / "big.png", **FASHION, max_bytes=1000)
    with pytest.raises(InputError, match="No image yet"):
        read_upload(None, **FASHION)
    with pytest.raises(InputError, match="gone.png is no longer on the server"):
        read_upload(tmp_path / "gone.png", **FASHION)


@pytest.mark.parametrize("wrong, message", [
    ({"img_size": 0}, "img_size=0: give the model's input side"),
    ({"img_size": 28.0}, "img_size=28.0: give the model's input side"),
    ({"in_chans": 2}, r"in_chans=2: the explorer reads grey \(1\) or colour \(3\)"),
    ({"dataset": ""}, "dataset='': give the name of the dataset"),
])
def test_a_wrong_model_description_is_the_callers_error_not_the_uploads(wrong, message):
    photo = ROOT / "assets" / "chelsea_224.jpg"
    with pytest.raises(ValueError, match=message) as e:
        read_upload(photo, **FASHION | wrong)
    assert not isinstance(e.value, InputError)  # the page would blame the picture
    with pytest.raises(ValueError, match=message):
        prepare(Image.open(photo), **FASHION | wrong)


def test_a_test_image_round_trips_unchanged(tmp_path, ex, examples):
    img, _, _ = examples[0]
    Image.fromarray(img[0].numpy()).save(tmp_path / "x.png")
    got, notes = read_upload(tmp_path / "x.png", **FASHION)
    assert notes == []
    torch.testing.assert_close(got, img, atol=0, rtol=0)


def test_colour_photo_becomes_grey_at_the_model_size():
    img, notes = read_upload(ROOT / "assets" / "chelsea_224.jpg", **FASHION)
    assert img.shape == (1, 28, 28) and img.dtype == torch.uint8
    assert any("Colour image converted to grey" in n for n in notes)
    assert any("Resized from 224x224 to the model's 28x28" in n for n in notes)
    rgb = np.asarray(Image.open(ROOT / "assets" / "chelsea_224.jpg").convert("L").resize((28, 28), Image.BILINEAR))
    if not any("inverted" in n for n in notes):  # the same picture, up to resampling and rounding
        assert np.abs(img[0].numpy().astype(int) - rgb.astype(int)).mean() < 8


def test_light_background_is_inverted_and_padded_to_a_square(tmp_path):
    a = np.full((30, 60), 250, np.uint8)
    a[10:20, 25:35] = 0  # a dark square on white, twice as wide as tall
    Image.fromarray(a).save(tmp_path / "wide.png")
    img, notes = read_upload(tmp_path / "wide.png", **FASHION)
    assert any("inverted" in n for n in notes) and any("60x30" in n and "square" in n for n in notes)
    x = img[0].float()
    assert x[14, 14] > 200 and x[0, 0] < 10 and x[27, 27] < 10  # light object on black, like Fashion-MNIST


def test_transparency_16_bit_and_animation_are_converted_and_said(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3], rgba[5:20, 5:20, 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    img, notes = read_upload(tmp_path / "alpha.png", **FASHION)
    assert any("Transparent parts were filled with black" in n for n in notes)
    assert img[0, 10, 10] == 200 and img[0, 0, 0] == 0

    Image.fromarray(np.full((28, 28), 257 * 100, np.uint16)).save(tmp_path / "deep.png")
    img, notes = read_upload(tmp_path / "deep.png", **FASHION)
    assert any("16-bit" in n for n in notes) and int(img.float().mean().round()) == 100

    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (30, 90)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img, notes = read_upload(tmp_path / "anim.gif", **FASHION)
    assert any("has 2 frames; the first one is used" in n for n in notes) and int(img.float().mean()) == 30


# ---- predictions and maps ---------------------------------------------------------------------------------------
def test_top5_are_the_models_softmax(ex, examples):
    img, label, _ = examples[0]
    top = predict(ex, img)
    with torch.no_grad():
        probs = ex.model(_normalised(ex, img)).softmax(-1)[0]
    assert list(top) == [ex.classes[i] for i in probs.topk(5).indices]
    torch.testing.assert_close(torch.tensor(list(top.values())), probs.topk(5).values, atol=1e-6, rtol=1e-5)
    assert next(iter(top)) == ex.classes[label]  # this example is one the model gets right


def test_class_attention_and_rollout_are_the_class_tokens_rows(ex, examples):
    img = examples[3][0]
    with torch.no_grad():
        _, attns = ex.model(_normalised(ex, img), return_attention=True)  # depth x (1, h, N, N)
    heat, vmax, own = class_attention(ex, img, 2, 3)
    torch.testing.assert_close(heat.flatten(), attns[1][0, 2, 0, 1:], atol=1e-6, rtol=1e-5)
    assert own == pytest.approx(float(attns[1][0, 2, 0, 0]), abs=1e-6)
    assert vmax == pytest.approx(float(attns[1][0, :, 0, 1:].max()), abs=1e-6)
    roll, own = rollout_map(ex, img)
    row = attention_rollout(attns)[0, 0]
    torch.testing.assert_close(roll.flatten(), row[1:], atol=1e-6, rtol=1e-5)
    assert own == pytest.approx(float(row[0]), abs=1e-6)
    with pytest.raises(InputError, match=r"layer must be 1..6 and head 1..4, got layer 7"):
        class_attention(ex, img, 7, 1)


def test_overlay_is_an_rgb_picture(ex, examples):
    img = examples[0][0]
    cam = grad_cam_map(ex, img, 0)
    assert cam.shape == (4, 4) and float(cam.min()) >= 0 and float(cam.max()) <= 1
    pic = render_overlay(img, cam, 7, "Grad-CAM", "Grad-CAM (1 = strongest)")
    assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3 and pic.std() > 10


def test_relevance_maps_are_the_relevance_modules(ex, examples):
    img = examples[9][0]
    for method in ("grad-rollout", "occlusion"):
        torch.testing.assert_close(relevance(ex, img, method),
                                   relevance_map(method, ex.model, _normalised(ex, img))[0], atol=1e-6, rtol=1e-5)
    with pytest.raises(InputError, match="unknown map 'random'"):
        relevance(ex, img, "random")


# ---- the faithfulness ranking in the help text -------------------------------------------------------------
def test_help_ranks_the_maps_as_the_results_file_does(tmp_path, ex):
    pytest.importorskip("gradio")
    from vit_lessons.app_ranking import help_text as _help

    path = _write_results(tmp_path / "summary.json")
    found = faithfulness(ex, path)
    assert isinstance(found, Faithfulness) and found.images == 64
    offered = offered_methods(found)
    assert offered == ["gradient-x-input", "occlusion", "integrated-gradients", "grad-rollout"]  # best first
    text = _help(ex, found, offered)
    _assert_help_states(text, path, "assets/checkpoints/fashion_mnist_vit.pt")
    assert "0.511" not in text and "0.611" not in text  # nothing of the other checkpoint
    learned = load_explorer(LEARNED)
    _assert_help_states(_help(learned, faithfulness(learned, path), []), path,
                        "assets/checkpoints/fashion_mnist_vit_learned_pos.pt")
    # grad-cam is the best cheap map there, and has a panel of its own
    assert offered_methods(faithfulness(learned, path)) == ["grad-rollout", "integrated-gradients", "occlusion"]


def test_help_reads_the_results_through_asset_path(tmp_path, monkeypatch, ex):
    """The committed results if there are any, else a file in a temporary asset cache, found the same way."""
    pytest.importorskip("gradio")
    from vit_lessons.app_ranking import help_text as _help

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if not COMMITTED_RESULTS.is_file():
        _write_results(tmp_path / "vit_lessons" / "assets" / RESULTS)
    path = asset_path(RESULTS)
    found = faithfulness(ex)
    assert isinstance(found, Faithfulness) and found.source == path
    offered = offered_methods(found)
    best_cheap = _ranking(path, "assets/checkpoints/fashion_mnist_vit.pt")
    best_cheap = next(m for m, _ in best_cheap if m in CHEAP)
    assert "grad-rollout" in offered and (best_cheap in offered or best_cheap in ("rollout", "grad-cam"))
    _assert_help_states(_help(ex, found, offered), path, "assets/checkpoints/fashion_mnist_vit.pt")


def test_help_says_when_the_ranking_is_not_available(tmp_path, ex):
    pytest.importorskip("gradio")
    from vit_lessons.app_ranking import help_text as _help

    path = _write_results(tmp_path / "summary.json")
    missing = faithfulness(ex, tmp_path / "none.json")
    assert missing == f"there is no results file {tmp_path / 'none.json'}"
    (tmp_path / "broken.json").write_text("{")
    assert faithfulness(ex, tmp_path / "broken.json").startswith("the results file could not be read")
    other = tmp_path / "other" / CKPT.name  # the right name, other weights: not the benchmarked checkpoint
    other.parent.mkdir()
    shutil.copy(LEARNED, other)
    assert faithfulness(load_explorer(other), path) == "the results in summary.json do not include this checkpoint " \
                                                       "(with mean fill)"
    shutil.copy(CKPT, tmp_path / CKPT.name)  # the same bytes elsewhere (an exported Space): the same checkpoint
    assert isinstance(faithfulness(load_explorer(tmp_path / CKPT.name), path), Faithfulness)
    for why in (missing, faithfulness(load_explorer(other), path)):
        text = _help(ex, why, offered_methods(why))
        assert "The faithfulness ranking is not available for `fashion_mnist_vit.pt`" in text
        assert "`python -m vit_lessons bench explain` produces it" in text and "| 1 |" not in text
    assert offered_methods(missing) == ["grad-rollout", "integrated-gradients", "occlusion"]


def test_no_figure_is_typed_into_the_apps_text():
    """Accuracies and rankings come from the checkpoint and the results file, never from the source."""
    for name in ("app.py", "app_logic.py", "app_input.py", "app_panels.py"):
        source = (ROOT / "vit_lessons" / name).read_text()
        assert "89%" not in source and "89.2" not in source and "runs/<name>" not in source
        assert re.findall(r"(?<![\d.])\d+(?:\.\d+)?%", source) == [], name  # format specs like {p:.1%} pass
    source = (ROOT / "vit_lessons" / "app.py").read_text()
    assert "trust none" not in source and "agrees with occlusion" not in source


# ---- the command line ---------------------------------------------------------------------------------------------
def _args(**kw):
    from vit_lessons.app import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args([f"--{k}={v}" for k, v in kw.items()])


def test_cli_defaults_and_bad_checkpoint_stop_before_serving(tmp_path, capsys):
    pytest.importorskip("gradio")
    from vit_lessons.app import run

    a = _args()
    assert (a.checkpoint, a.host, a.port, a.share) == (None, "127.0.0.1", 7860, False)
    assert run(_args(checkpoint=tmp_path / "missing.pt")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "missing.pt does not exist" in err
    assert run(_args(port=70000)) == 2
    assert "--port 70000 is not a port number" in capsys.readouterr().err


# ---- a real server -------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(results_file):
    pytest.importorskip("gradio")
    from vit_lessons.app import build_app, serve

    demo = build_app(CKPT, results=results_file)
    port = _free_port()
    serve(demo, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def text_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("a text file with a picture's name")
    return path


def _call(server, img, tmp_path, api_name):
    """The server's answer for one gallery image, through gradio_client as a user's program would ask."""
    gradio_client = pytest.importorskip("gradio_client")
    Image.fromarray(img[0].numpy()).save(tmp_path / "example.png")
    client = gradio_client.Client(server, verbose=False)
    return client, client.predict(gradio_client.handle_file(tmp_path / "example.png"), api_name=api_name)


def test_predict_endpoint_through_gradio_client(server, ex, examples, tmp_path, text_png):
    gradio_client = pytest.importorskip("gradio_client")
    img, label, _ = examples[0]
    client, got = _call(server, img, tmp_path, "/predict")
    want = predict(ex, img)
    assert got["label"] == next(iter(want)) == ex.classes[label]
    assert [c["label"] for c in got["confidences"]] == list(want)
    np.testing.assert_allclose([c["confidence"] for c in got["confidences"]], list(want.values()), atol=1e-6)
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.png is not an image the explorer can read"):
        client.predict(gradio_client.handle_file(text_png), api_name="/predict")


def test_explain_endpoint_gives_grad_rollout_and_the_ranking(server, results_file, ex, examples, tmp_path):
    img, label, _ = examples[9]
    _, got = _call(server, img, tmp_path, "/explain")
    assert got["class"] == next(iter(predict(ex, img))) == ex.classes[label]
    assert {"rollout", "grad-rollout"} <= set(got["maps"]) and "random" not in got["maps"]
    x = _normalised(ex, img)
    for method in got["maps"]:
        want = rollout_map(ex, img)[0] if method == "rollout" else relevance_map(method, ex.model, x)[0]
        torch.testing.assert_close(torch.tensor(got["maps"][method]), want, atol=1e-5, rtol=1e-4)
    ranking = dict(_ranking(results_file, "assets/checkpoints/fashion_mnist_vit.pt"))
    assert got["deletion_area"] == {m: pytest.approx(ranking[m]) for m in got["maps"]}
    rows = json.loads(results_file.read_text())["results"]
    assert got["random_deletion_area"] == pytest.approx(next(
        r["deletion_mean"]["mean"] for r in rows if r["checkpoint"].endswith(CKPT.name) and r["method"] == "random"))


def test_page_in_headless_chromium(server, results_file, ex, examples, text_png):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium; or set VIT_LESSONS_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install playwright; its browser download is not needed)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # page events wait on the server, which a busy machine slows

    k = 9  # the first ankle boot: classified right, and a Grad-CAM that is not 0 everywhere (see the screenshot)
    img, label, index = examples[k]
    want = next(iter(predict(ex, img)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            page.locator("#gallery button.thumbnail-item").nth(k).click()
            message = page.locator("#message")
            expect(message).to_contain_text(f"Test image #{index}")
            expect(message).to_contain_text(f"labelled {ex.classes[label]}")
            top = page.locator("#top5 h2")
            expect(top).to_have_text(want)
            for panel in ("#seen", "#attention", "#rollout", "#relevance", "#gradcam"):
                expect(page.locator(f"{panel} img")).to_be_visible()
            expect(page.locator("#method")).to_contain_text("grad-rollout")
            expect(page.locator("#help")).to_contain_text("Which map finds what the model uses?")
            expect(page.locator("#help table tr")).to_have_count(1 + len(_ranking(results_file, str(CKPT.relative_to(
                ROOT)))))
            if os.environ.get("VIT_LESSONS_APP_SCREENSHOT"):  # the page as a learner sees it after one click
                page.wait_for_function(IDLE)
                shot = Path(os.environ["VIT_LESSONS_APP_SCREENSHOT"])
                page.screenshot(path=shot.with_name(f".{shot.name}.tmp.png"), full_page=True)
                os.replace(shot.with_name(f".{shot.name}.tmp.png"), shot)  # never a half-written screenshot
            head1 = page.locator("#attention img").get_attribute("src")  # gradio names files by their content
            page.locator("#head input[type=number]").fill("3")
            page.locator("#head input[type=number]").press("Enter")
            expect(page.locator("#attention img")).not_to_have_attribute("src", head1)  # head 3 looks elsewhere
            page.locator("#head input[type=number]").fill("1")
            page.locator("#head input[type=number]").press("Enter")
            expect(page.locator("#attention img")).to_have_attribute("src", head1)  # the same picture again
            first = page.locator("#relevance img").get_attribute("src")
            page.locator("#method label").nth(1).click()  # the second map on the list: another picture
            expect(page.locator("#relevance img")).not_to_have_attribute("src", first)

            page.locator("#upload input[type=file]").set_input_files(str(text_png))
            expect(message).to_contain_text("notes.png is not an image the explorer can read")
            expect(page.locator("#top5 h2")).to_have_count(0)  # the previous prediction is gone with the image
            assert "Traceback" not in page.content()
        finally:
            browser.close()
