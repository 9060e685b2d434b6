"""Self-checks for lesson 08's exercises: a frozen backbone, fine-tuning only the last blocks, patch filters for
bigger patches, and a logistic-regression probe predicted and then measured against the lesson's table.

Used in notebooks/08_pretrained_weights.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..config import ViTConfig
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, judge_prediction, randomize_

__all__ = ["check_freeze_backbone", "check_train_last_blocks", "check_bigger_patches", "check_logistic_probe",
           "probe_features", "table_probe_acc"]


def table_probe_acc() -> float:
    """The lesson's table: the linear probe's median test accuracy at 28 px with 50 labels per class."""
    import json

    from ..assets import asset_path

    summary = json.loads(asset_path("results/transfer_digits/summary.json").read_text())
    return next(r["median_acc"] for r in summary["results"]
                if (r["size"], r["per_class"], r["method"]) == (28, 50, "linear probe"))


def _model(seed: int = 8, **changes) -> VisionTransformer:
    """A tiny ViT with random (not initial) weights, so nothing passes by zeros or ones."""
    return randomize_(VisionTransformer(ViTConfig.tiny(**changes)).eval(), seed)


def _trainable(model) -> list[str]:
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


@exercise("08.1", "Freeze the backbone (warm-up)", answer="my_freeze_backbone", hints=(
    "Walk over model.named_parameters() and switch gradients off (p.requires_grad_(False)) for every parameter "
    "whose name does not start with 'head.'; the head's stay on.",
    "for name, p in model.named_parameters(): p.requires_grad_(name.startswith('head.'))"))
def check_freeze_backbone(freeze_backbone) -> bool | None:
    """Exercise 08.1 · Freeze the backbone (warm-up): ``freeze_backbone(model)`` leaves only the head trainable (a
    linear probe).

    Used in notebooks/08_pretrained_weights.
    """
    model = _model(pos_embed="learned")
    freeze_backbone(model)
    trainable = _trainable(model)
    if not trainable:
        raise ExerciseError("nothing trains any more: the head must keep requires_grad=True")
    if trainable == sorted(n for n, _ in model.named_parameters()):
        raise ExerciseError("every parameter still trains: set requires_grad to False for all but the head")
    if trainable != ["head.bias", "head.weight"]:
        wrong = [n for n in trainable if not n.startswith("head.")][:3]
        missing = [n for n in ("head.weight", "head.bias") if n not in trainable]
        raise ExerciseError(f"still training: {wrong}; frozen but should train: {missing}. A linear probe trains "
                            "the head only (cls_token and pos_embed are parameters too)")
    return "only head.weight and head.bias train"


def _last_blocks_ref(model, k: int) -> list[str]:
    first = len(model.blocks) - k  # blocks[first:] train; blocks[-k:] would be every block when k = 0
    keep = ("head.", "norm.") + tuple(f"blocks.{i}." for i in range(first, len(model.blocks)))
    return sorted(n for n, _ in model.named_parameters() if n.startswith(keep))


@exercise("08.2", "Fine-tune only the last k blocks", answer="my_train_last_blocks", hints=(
    "Between a linear probe (k = 0) and full fine-tuning sits this: the blocks nearest the head adapt to the new "
    "task, the early ones keep their general features. The blocks are model.blocks[0] ... model.blocks[L - 1]; "
    "the last k are the ones with index L - k or more, and the final norm and the head come after them. Set "
    "requires_grad on every parameter, True or False, so that calling it again with another k works.",
    "L = len(model.blocks); keep = ('head.', 'norm.') + tuple(f'blocks.{i}.' for i in range(L - k, L)); "
    "for name, p in model.named_parameters(): p.requires_grad_(name.startswith(keep))"))
def check_train_last_blocks(train_last_blocks) -> bool | None:
    """Exercise 08.2 · Fine-tune only the last k blocks: ``train_last_blocks(model, k)`` leaves the last ``k`` blocks,
    the final norm and the head trainable and freezes the rest (the embeddings and the earlier blocks).

    Used in notebooks/08_pretrained_weights.
    """
    depth = 4
    for k in (1, 2, 0, depth):
        model = _model(depth=depth, pos_embed="learned")
        train_last_blocks(model, k)
        got, want = _trainable(model), _last_blocks_ref(model, k)
        if got == want:
            continue
        where = f"with k = {k} of {depth} blocks"
        blocks = sorted({int(n.split(".")[1]) for n in got if n.startswith("blocks.")})
        if k == 0 and blocks == list(range(depth)):
            raise ExerciseError(f"{where} every block trains: model.blocks[-0:] is the whole list (-0 is 0). "
                                "Count from the front: model.blocks[len(model.blocks) - k:]")
        if k and blocks == list(range(k)) and k < depth:
            raise ExerciseError(f"{where} blocks {blocks} train: those are the first k, nearest the pixels; the "
                                "last ones, nearest the head, are the ones to adapt")
        if not any(n.startswith("head.") for n in got):
            raise ExerciseError(f"{where} the head is frozen: it is the one part that is new for the task, it "
                                "must train")
        if not any(n.startswith("norm.") for n in got):
            raise ExerciseError(f"{where} the final LayerNorm (norm.weight, norm.bias) is frozen: it sits between "
                                "the last block and the head, so it trains with them")
        early = [n for n in got if n.split(".")[0] in ("cls_token", "pos_embed", "patch_embed")]
        if early:
            raise ExerciseError(f"{where} {early[:3]} train: the class token, the position embeddings and the "
                                "patch embedding come before the first block; they stay frozen")
        raise ExerciseError(f"{where} these train: {got[:6]}{' ...' if len(got) > 6 else ''}; expected the "
                            f"parameters of blocks {list(range(depth - k, depth))}, norm and head")
    # called again on the same model with another k: what was frozen before must train now
    model = _model(depth=depth, pos_embed="learned")
    train_last_blocks(model, 1)
    train_last_blocks(model, 3)
    if _trainable(model) != _last_blocks_ref(model, 3):
        raise ExerciseError("k = 1 and then k = 3 on the same model left blocks 1 and 2 frozen: set requires_grad to "
                            "True or False on every parameter, not only False on some")
    return "the last k blocks, norm and head train for k = 0, 1, 2 and 4; the embeddings stay frozen"


def _bigger_ref(weight: torch.Tensor, factor: int) -> torch.Tensor:
    return weight.repeat_interleave(factor, -1).repeat_interleave(factor, -2) / factor**2  # (D, C, fP, fP)


@exercise("08.3", "Bigger patches, same tokens", answer="my_bigger_patches", hints=(
    "The same idea as the grey-to-RGB filters of §8.4, in space instead of channels. Upsampling an image by f "
    "with nearest neighbours turns every pixel into an f x f block; a patch of f·P pixels of the big image is the "
    "P x P patch of the small one, each pixel repeated f x f times. Give every filter weight to the f x f block "
    "it now covers, and think about what summing f² equal responses does.",
    "return weight.repeat_interleave(factor, -1).repeat_interleave(factor, -2) / factor**2"))
def check_bigger_patches(bigger_patches) -> bool | None:
    """Exercise 08.3 · Bigger patches, same tokens: ``bigger_patches(weight, factor)``: (D, C, P, P) -> (D, C, fP, fP)
    patch filters that give an image upsampled ``factor`` times (nearest) the tokens the original filters gave the
    original image. Used in notebooks/08_pretrained_weights.
    """
    g = torch.Generator().manual_seed(83)
    for factor in (2, 3):
        w = torch.randn(6, 2, 3, 3, generator=g)  # (D, C, P, P)
        got = bigger_patches(w.clone(), factor)
        if got is None:
            raise ExerciseError("return the new filters")
        got = torch.as_tensor(got)
        want = _bigger_ref(w, factor)
        if tuple(got.shape) == (6, 2, 3, 3):
            raise ExerciseError("the filters still have P x P pixels; patches of factor·P pixels need factor·P x "
                                "factor·P filters")
        expect_close(got, want, f"the filters for {factor}x bigger patches", atol=1e-6, rtol=1e-5, hints=[
            (want * factor**2, f"each of the {factor}x{factor} copies holds the whole weight, so the token comes out "
                               f"{factor ** 2} times too large: divide by factor² = {factor ** 2}"),
            (want * factor, f"dividing by factor = {factor} is not enough: a pixel became factor x factor = "
                            f"{factor ** 2} pixels, divide by factor²"),
            (w.repeat(1, 1, factor, factor) / factor**2, "repeat tiles the whole filter side by side; each weight "
                                                         "must cover its own block: repeat_interleave along the last "
                                                         "two dimensions"),
            (F.interpolate(w, scale_factor=factor, mode="bilinear") / factor**2,
             "bilinear interpolation blends neighbouring weights; a nearest-upsampled pixel is an exact f x f copy, "
             "so each weight is copied exactly (repeat_interleave)")])
        x = torch.rand(2, 2, 6, 6, generator=g)  # (B, C, H, W)
        big = x.repeat_interleave(factor, -1).repeat_interleave(factor, -2)  # nearest-upsampled
        expect_close(F.conv2d(big, got, stride=3 * factor), F.conv2d(x, w, stride=3), "the tokens of the bigger "
                     "image", atol=1e-5, rtol=1e-5)
    return "an image upsampled 2x or 3x, cut into 2x or 3x bigger patches, gives exactly the tokens it gave before"


@functools.lru_cache(maxsize=1)
def _digit_features() -> tuple[torch.Tensor, ...]:
    """The course backbone's features of 50 training digits per class (seed 0) and of the 359 test digits."""
    from ..assets import asset_path
    from ..bench.transfer import labelled_subset, split_digits
    from ..train import load_model

    backbone = load_model(asset_path("checkpoints/fashion_mnist_vit.pt"))[0].eval()
    _, test = split_digits()
    sub = labelled_subset(test, 50, seed=0)  # the labelled digits of the table's 50-per-class row, seed 0
    info = sub.info
    return (probe_features(backbone, sub.train_x, info.mean, info.std), sub.train_y,
            probe_features(backbone, sub.test_x, info.mean, info.std), sub.test_y)


def probe_features(model: VisionTransformer, images: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, D) frozen features of uint8 digits: normalised as in training, resized to the model's input size,
    the normalised class token (what the head reads). Used in notebooks/08_pretrained_weights."""
    from ..data.augment import normalize_batch
    from ..transfer import resize_batch

    x = resize_batch(normalize_batch(images, mean, std), model.config.img_size)  # (B, C, 28, 28)
    with torch.no_grad():
        return model.forward_head(model.forward_features(x), pre_logits=True)  # (B, D)


def _logistic_ref(train_f, train_y, test_f, test_y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train_f.numpy(), train_y.numpy())
    return float(clf.score(test_f.numpy(), test_y.numpy()))


@exercise("08.4", "A logistic-regression probe, predicted then measured", answer="my_logistic_probe", hints=(
    "Fit on the training features only, score on the test features only: from sklearn.pipeline import "
    "make_pipeline; StandardScaler puts every feature on the same scale, LogisticRegression(max_iter=2000) is the "
    "linear classifier. .score returns the accuracy as a fraction.",
    "clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train_feats.numpy(), "
    "train_y.numpy()); return clf.score(test_feats.numpy(), test_y.numpy())"))
def check_logistic_probe(logistic_probe) -> bool | None:
    """Exercise 08.4 · A logistic-regression probe, predicted then measured: ``logistic_probe(train_feats, train_y,
    test_feats, test_y)`` -> test accuracy (a fraction) of a logistic
    regression fitted on the training features. The learner's ``predicted_probe_acc`` is then compared with the
    probe on the course backbone's digit features. Used in notebooks/08_pretrained_weights.
    """
    g = torch.Generator().manual_seed(84)
    w_train, w_other = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    train_f, test_f = torch.randn(240, 8, generator=g), torch.randn(120, 8, generator=g)
    train_y = (train_f @ w_train).argmax(1)
    for name, test_y in (("same rule", (test_f @ w_train).argmax(1)), ("another rule", (test_f @ w_other).argmax(1))):
        got = logistic_probe(train_f.clone(), train_y.clone(), test_f.clone(), test_y.clone())
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ExerciseError(f"return the test accuracy as a number, got {type(got).__name__}")
        if 1 < got <= 100:
            raise ExerciseError(f"got {got:g}: return a fraction between 0 and 1, not a percentage")
        want = _logistic_ref(train_f, train_y, test_f, test_y)
        if abs(got - want) <= 0.03:
            continue
        if name == "another rule" and got > 0.8:
            raise ExerciseError(f"the test labels here follow another rule than the training labels, so an honest "
                                f"probe scores about {want:.0%}; {got:.0%} means it saw the test labels or scored "
                                "the training features: fit on train, score on test")
        raise ExerciseError(f"on crafted features ({name}) got accuracy {got:.3f}, a standardised logistic "
                            f"regression gets {want:.3f}")
    train_f, train_y, test_f, test_y = _digit_features()
    acc = logistic_probe(train_f.clone(), train_y.clone(), test_f.clone(), test_y.clone())
    acc = float(acc.item() if isinstance(acc, torch.Tensor) else acc)
    table = table_probe_acc()
    verdict = judge_prediction(
        logistic_probe, "predicted_probe_acc", acc, 0.05,
        f"the table's probe trains the same linear head by AdamW ({table:.1%}); the difference is how "
        "the head is fitted (a convex problem solved to the end on standardised features vs 300 noisy steps with "
        "augmentation), not what the backbone knows")
    return f"{acc:.1%} on the 359 test digits from 500 labelled ones (table's probe: {table:.1%}); {verdict}"
