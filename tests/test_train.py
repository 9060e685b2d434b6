"""The trainer: schedule, batched augmentation, checkpoints, resume, evaluation, the committed checkpoint."""

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vit_lessons.config import ViTConfig
from vit_lessons.data import (
    DATASETS,
    ImageData,
    TensorBatches,
    batch_hflip,
    batch_random_crop,
    batch_random_erase,
    epoch_generator,
    load_digits,
)
from vit_lessons.train import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    Recipe,
    Trainer,
    _autocast,
    confusion_matrix,
    default_setup,
    evaluate,
    format_confusion,
    load_checkpoint,
    load_model,
    lr_at,
    save_checkpoint,
    tintn_setup,
)

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "assets" / "checkpoints" / "fashion_mnist_vit.pt"


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: tiny models gain nothing from more, and threads wait on each other on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def tiny_digits_setup(**recipe):
    cfg = ViTConfig.digits_cpu(embed_dim=32, depth=2, num_heads=2)
    base = dict(epochs=2, batch_size=32, lr=3e-3, warmup=0.1, crop_pad=1, flip=True, erase=0.3)
    base.update(recipe)
    return cfg, Recipe(**base)


# ---- schedule ----------------------------------------------------------------------------------
def test_lr_schedule_warmup_then_cosine_to_zero():
    r = Recipe(lr=1.0, warmup=0.1)
    assert lr_at(0.0, r) == 0.0
    assert lr_at(0.05, r) == pytest.approx(0.5)
    assert lr_at(0.1, r) == pytest.approx(1.0)
    assert lr_at(0.55, r) == pytest.approx(0.5)
    assert lr_at(1.0, r) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(2.0, r) == pytest.approx(0.0, abs=1e-12)  # past the budget: clamped
    c = Recipe(lr=1e-2, warmup=0.0, schedule="constant")
    assert lr_at(0.0, c) == lr_at(0.7, c) == 1e-2
    with pytest.raises(ValueError, match="schedule"):
        Recipe(schedule="step")


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


# ---- batched augmentation ------------------------------------------------------------------------
def test_batch_random_crop_equals_pad_then_slice():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8, generator=g)
    dy = torch.randint(0, 5, (5,), generator=g)
    dx = torch.randint(0, 5, (5,), generator=g)
    got = batch_random_crop(x, 2, dy, dx)
    for i in range(5):
        padded = F.pad(x[i], (2, 2, 2, 2))
        torch.testing.assert_close(got[i], padded[:, dy[i]:dy[i] + 6, dx[i]:dx[i] + 7], atol=0, rtol=0)


def test_batch_flip_and_erase():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.uint8).view(2, 1, 3, 4)
    f = batch_hflip(x, torch.tensor([True, False]))
    torch.testing.assert_close(f[0], x[0].flip(-1), atol=0, rtol=0)
    torch.testing.assert_close(f[1], x[1], atol=0, rtol=0)
    e = batch_random_erase(x, torch.tensor([[1, 1, 2, 2], [0, 0, 0, 4]]))
    assert (e[0, 0, 1:3, 1:3] == 0).all() and e[0].sum() < x[0].sum()
    torch.testing.assert_close(e[1], x[1], atol=0, rtol=0)  # height 0: untouched


def test_batches_depend_only_on_seed_and_epoch_and_shard_exactly():
    d = load_digits()
    kw = dict(batch_size=64, seed=3, crop_pad=1, flip=True, erase=0.5, mean=(0.3,), std=(0.4,))
    a = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1))
    b = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1))
    c = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(2))
    assert len(a) == len(d.train_y) // 64
    torch.testing.assert_close(a[5][0], b[5][0], atol=0, rtol=0)
    assert not torch.equal(a[0][1], c[0][1])  # another epoch, another order
    late = list(TensorBatches(d.train_x, d.train_y, **kw).epoch(1, start_step=5))
    torch.testing.assert_close(late[0][0], a[5][0], atol=0, rtol=0)  # resuming mid-epoch gives the same batch
    r0 = list(TensorBatches(d.train_x, d.train_y, rank=0, world_size=2, **kw).epoch(1))
    r1 = list(TensorBatches(d.train_x, d.train_y, rank=1, world_size=2, **kw).epoch(1))
    torch.testing.assert_close(torch.cat([r0[4][0], r1[4][0]]), a[4][0], atol=0, rtol=0)
    torch.testing.assert_close(torch.cat([r0[4][1], r1[4][1]]), a[4][1], atol=0, rtol=0)
    assert epoch_generator(3, 1).initial_seed() == epoch_generator(3, 1).initial_seed()
    with pytest.raises(ValueError, match="divisible"):
        TensorBatches(d.train_x, d.train_y, 63, world_size=2)


def test_autocast_only_on_cuda():
    ac = _autocast(torch.device("cpu"), True)
    assert not ac._enabled  # CPU: fp32 always
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available" on a CPU machine
        g = _autocast(torch.device("cuda"), True)
    assert g.device == "cuda" and g.fast_dtype == torch.bfloat16
    assert not _autocast(torch.device("cuda"), False)._enabled


def test_gpu_path_options_run_on_cpu(digits):
    """data_on_device and amp are GPU options; on a CPU they fall back and training still runs."""
    cfg, r = tiny_digits_setup(epochs=1, amp=True, data_on_device=True)
    t = Trainer(cfg, r, digits, None, device="cpu", progress=False)
    assert t.train_x.device.type == "cpu"
    h = t.fit()
    assert len(h) == 1 and math.isfinite(h[0]["train_loss"])


# ---- training, metrics, checkpoints ----------------------------------------------------------------
def test_trainer_learns_and_writes_the_run_folder(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=3, crop_pad=0, flip=False, erase=0.0, label_smoothing=0.0)
    t = Trainer(cfg, r, digits, tmp_path / "run", seed=0, progress=False, extra={"command": "test"})
    hist = t.fit()
    assert [h["epoch"] for h in hist] == [1.0, 2.0, 3.0]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["test_acc"] > 0.3  # chance is 0.1
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["best.pt", "config.json", "last.pt", "metrics.jsonl"]
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    assert conf["model"]["embed_dim"] == 32 and conf["recipe"]["epochs"] == 3 and conf["seed"] == 0
    assert "torch" in conf["versions"] and conf["command"] == "test"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["test_acc"] for s in lines] == [h["test_acc"] for h in hist]
    assert set(json.loads(lines[0])) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                                         "train_time", "wall_time"}


def test_checkpoint_round_trip_is_plain_and_atomic(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=1)
    t = Trainer(cfg, r, digits, tmp_path, progress=False)
    t.fit()
    ck = torch.load(tmp_path / "last.pt", weights_only=True)  # no pickled code needed
    assert ck["format"] == CHECKPOINT_FORMAT and ck["epoch"] == 1 and isinstance(ck["model_config"], dict)
    assert isinstance(ck["rng"]["torch"], torch.Tensor)
    assert {"model", "optimizer", "scheduler", "metrics", "recipe"} <= set(ck)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # temp files renamed away
    model, ck2 = load_model(tmp_path / "last.pt")
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, atol=0, rtol=0)
    res = evaluate(model, digits.test_x, digits.test_y, digits.info.mean, digits.info.std)
    assert res["correct"] == ck2["metrics"][-1]["test_correct"]
    save_checkpoint(tmp_path / "x.pt", {"format": CHECKPOINT_FORMAT, "model": {"w": torch.ones(2)}})
    assert load_checkpoint(tmp_path / "x.pt")["model"]["w"].sum() == 2


def test_bad_checkpoints_give_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"w": torch.ones(1)}, tmp_path / "raw.pt")
    with pytest.raises(CheckpointError, match="not a vit_lessons checkpoint"):
        load_checkpoint(tmp_path / "raw.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_in_process_matches_uninterrupted(tmp_path, digits):
    cfg, r = tiny_digits_setup(epochs=3)
    full = Trainer(cfg, r, digits, tmp_path / "full", seed=1, progress=False).fit()
    cut = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False)
    cut.done = lambda: cut.epoch >= 1  # stop after one epoch, as a crash would
    cut.fit()
    assert len(cut.history) == 1
    torch.manual_seed(1234)  # the global RNG is restored from the checkpoint, whatever it is now
    rest = Trainer(cfg, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).fit()
    assert [h["test_acc"] for h in rest] == [h["test_acc"] for h in full]
    assert [h["train_loss"] for h in rest] == [h["train_loss"] for h in full]
    other = cfg.replace(depth=3)
    with pytest.raises(CheckpointError, match="another configuration.*depth"):
        Trainer(other, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True)
    # the attention kernel is not part of the model: a run may resume with the other one
    kernel = cfg.replace(fused_attn=not cfg.fused_attn)
    assert Trainer(kernel, r, digits, tmp_path / "cut", seed=1, progress=False, resume=True).epoch == 3


def test_time_budget_stops_training(digits):
    cfg, r = tiny_digits_setup(time_budget=0.5, evals_per_epoch=2)
    t = Trainer(cfg, r, digits, None, progress=False)
    hist = t.fit()
    assert t.train_time >= 0.5 and hist[-1]["lr"] < r.lr  # the schedule ran down with the clock
    assert len({h["epoch"] for h in hist}) == len(hist)


def test_confusion_matrix_and_text():
    cm = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    text = format_confusion(cm, ["a", "b", "c"])
    assert "50.0%" in text and "true \\ predicted" in text


# ---- the committed checkpoint ------------------------------------------------------------------------------
def _fashion_mnist():
    from vit_lessons.data import DatasetNotFoundError, load_dataset

    try:
        return load_dataset("fashion-mnist", download=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not on this machine")


def test_committed_checkpoint_has_its_recorded_accuracy():
    if not CKPT.exists():
        pytest.skip("assets/checkpoints/fashion_mnist_vit.pt not written yet (bench fashion-mnist-10min)")
    data = _fashion_mnist()
    torch.load(CKPT, weights_only=True)  # plain containers only: loads without allow-listing anything
    model, ck = load_model(CKPT)
    rec = json.loads(CKPT.with_suffix(".json").read_text())
    assert ck["record"]["test_correct"] == rec["test_correct"]
    res = evaluate(model, data.test_x, data.test_y, data.info.mean, data.info.std)
    assert res["correct"] == rec["test_correct"]
    assert res["acc"] == pytest.approx(rec["test_acc"], abs=0)
    assert CKPT.stat().st_size < 5e6  # a few MB at most


def test_eval_on_tiny_imagedata_matches_manual_loop():
    cfg = ViTConfig.tiny(img_size=8, patch_size=4, in_chans=1, num_classes=3)
    from vit_lessons.model import VisionTransformer

    m = VisionTransformer(cfg).eval()
    x = torch.randint(0, 256, (7, 1, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 3, (7,))
    info = DATASETS["digits"]
    res = evaluate(m, x, y, info.mean, info.std, batch_size=3)
    with torch.no_grad():
        logits = m((x.float() / 255 - info.mean[0]) / info.std[0])
    assert res["correct"] == int((logits.argmax(1) == y).sum())
    assert res["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert isinstance(ImageData, type)


def test_mimetic_init_in_the_trainer_is_seeded_resumable_and_checked(tmp_path, digits):
    from vit_lessons.attention import mimetic_init_
    from vit_lessons.model import VisionTransformer

    cfg, r = tiny_digits_setup(epochs=2, init="mimetic")
    t = Trainer(cfg, r, digits, tmp_path / "m", seed=4, progress=False)
    torch.manual_seed(4)  # what the trainer does: seed, build the model, then re-initialise attention
    ref = mimetic_init_(VisionTransformer(cfg))
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(t.model.state_dict()[k], v, atol=0, rtol=0, msg=k)
    t.done = lambda: t.epoch >= 1
    t.fit()
    # a checkpoint written before `init` existed resumes as the timm-initialised run it was
    ck = torch.load(tmp_path / "m" / "last.pt", weights_only=True)
    old = {**ck, "recipe": {k: v for k, v in ck["recipe"].items() if k != "init"}}
    save_checkpoint(tmp_path / "old" / "last.pt", old)
    _, r_timm = tiny_digits_setup(epochs=2)
    Trainer(cfg, r_timm, digits, tmp_path / "old", seed=4, progress=False, resume=True)
    with pytest.raises(CheckpointError, match="init: 'timm' in the checkpoint vs 'mimetic' now"):
        Trainer(cfg, r, digits, tmp_path / "old", seed=4, progress=False, resume=True)
    with pytest.raises(ValueError, match="init must be 'timm' or 'mimetic'"):
        Recipe(init="xavier")
