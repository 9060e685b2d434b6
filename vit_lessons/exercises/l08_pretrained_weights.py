"""Self-checks for lesson 08's exercises: a new head, a frozen backbone, grey filters for colour images,
the features a linear probe reads.

Used in notebooks/08_pretrained_weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ViTConfig
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, randomize_

__all__ = ["check_new_head", "check_freeze_backbone", "check_grey_to_rgb", "check_probe_features"]


def _model(seed: int = 8, **changes) -> VisionTransformer:
    """A tiny ViT with random (not initial) weights, so nothing passes by zeros or ones."""
    return randomize_(VisionTransformer(ViTConfig.tiny(**changes)).eval(), seed)


@exercise("08.1", "A new head", answer="my_new_head", hints=(
    "The head is the last Linear layer, model.head, from D = model.config.embed_dim features to the classes. "
    "Put a fresh nn.Linear(D, num_classes) in its place and leave every other weight alone.",
    "model.head = nn.Linear(model.config.embed_dim, num_classes); return model"))
def check_new_head(new_head) -> bool | None:
    """Exercise 08.1 · A new head: ``new_head(model, num_classes)`` -> the model with a fresh K-class head.

    Used in notebooks/08_pretrained_weights.
    """
    model = _model()
    keep = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    old = model.head.weight.detach().clone()
    out = new_head(model, 7)
    if out is None:
        raise ExerciseError("return the model (with its new head)")
    x = torch.randn(2, 3, 32, 32)  # (B, C, H, W)
    logits = out(x)
    if logits.shape != (2, 7):
        raise ExerciseError(f"the model gives logits of shape {tuple(logits.shape)}, expected (2, 7): the head "
                            "must map the D = embed_dim features to num_classes outputs")
    if not isinstance(out.head, nn.Linear):
        raise ExerciseError(f"the head should be one nn.Linear, got {type(out.head).__name__}")
    k = out.head.weight.shape[0]
    if out.head.weight.shape[1] == old.shape[1] and torch.equal(out.head.weight.detach(), old[:k]):
        raise ExerciseError("the new head starts with the old head's weights; a new task needs a freshly "
                            "initialised head")
    for k, v in keep.items():
        if not torch.equal(out.state_dict()[k], v):
            raise ExerciseError(f"{k} changed: only the head is new, the backbone's weights stay as they were")
    return "a fresh (D, K) head on an untouched backbone: (B, 7) logits"


def _freeze_ref(model):
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("head."))


@exercise("08.2", "Freeze the backbone", answer="my_freeze_backbone", hints=(
    "Walk over model.named_parameters() and switch gradients off (p.requires_grad_(False)) for every parameter "
    "whose name does not start with 'head.'; the head's stay on.",
    "for name, p in model.named_parameters(): p.requires_grad_(name.startswith('head.'))"))
def check_freeze_backbone(freeze_backbone) -> bool | None:
    """Exercise 08.2 · Freeze the backbone: ``freeze_backbone(model)`` leaves only the head trainable (a linear probe).

    Used in notebooks/08_pretrained_weights.
    """
    model = _model()
    freeze_backbone(model)
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    if not trainable:
        raise ExerciseError("nothing trains any more: the head must keep requires_grad=True")
    if trainable == sorted(n for n, _ in model.named_parameters()):
        raise ExerciseError("every parameter still trains: set requires_grad to False for all but the head")
    if trainable != ["head.bias", "head.weight"]:
        wrong = [n for n in trainable if not n.startswith("head.")][:3]
        missing = [n for n in ("head.weight", "head.bias") if n not in trainable]
        raise ExerciseError(f"still training: {wrong}; frozen but should train: {missing}. A linear probe trains "
                            "the head only (cls_token and pos_embed are parameters too)")
    # and the consequence: one optimiser step moves the head only
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.arange(4)).backward()
    opt.step()
    changed = sorted(k for k, v in model.state_dict().items() if not torch.equal(v, before[k]))
    if changed != ["head.bias", "head.weight"]:
        raise ExerciseError(f"after a step these changed: {changed}; only the head should")
    return "only head.weight and head.bias train; one step leaves the backbone as it was"


@exercise("08.3", "Grey filters for colour images", answer="my_grey_to_rgb", hints=(
    "A colour image whose three channels are the same grey picture should give the same tokens as the grey "
    "picture did. The patch filter has one input channel, (D, 1, P, P); copy it into 3 channels and think about "
    "what summing three equal responses does.",
    "return weight.repeat(1, 3, 1, 1) / 3"))
def check_grey_to_rgb(grey_to_rgb) -> bool | None:
    """Exercise 08.3 · Grey filters for colour images: ``grey_to_rgb(weight)``: (D, 1, P, P) -> (D, 3, P, P).

    A grey backbone then reads RGB images, giving a grey image copied into R, G and B the tokens the
    grey image gave. Used in notebooks/08_pretrained_weights.
    """
    g = torch.Generator().manual_seed(83)
    w = torch.randn(6, 1, 4, 4, generator=g)  # (D, 1, P, P)
    got = torch.as_tensor(grey_to_rgb(w.clone()))
    if got.shape != (6, 3, 4, 4):
        raise ExerciseError(f"got shape {tuple(got.shape)}, expected (6, 3, 4, 4): repeat along dim 1, the input "
                            "channels (the filter is (D, C, P, P))")
    want = w.repeat(1, 3, 1, 1) / 3
    expect_close(got, want, "the colour filters", atol=1e-6, rtol=1e-6, hints=[
        (w.repeat(1, 3, 1, 1), "each channel holds the whole grey filter, so a grey image copied into R, G, B "
                               "gives 3x the response: divide by 3"),
        (w.repeat(1, 3, 1, 1) * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1),
         "luminance weights are right for colour -> grey images, but here the three channels hold the same grey "
         "picture: split the filter equally, 1/3 each")])
    x = torch.rand(2, 1, 8, 8, generator=g)  # (B, 1, H, W)
    grey = nn.functional.conv2d(x, w, stride=4)  # (B, D, 2, 2)
    rgb = nn.functional.conv2d(x.expand(-1, 3, -1, -1), got, stride=4)  # (B, D, 2, 2)
    expect_close(rgb, grey, "the patch embeddings of a grey image copied into RGB", atol=1e-5, rtol=1e-5)
    return "the grey filter split equally over R, G, B: a grey photo gives exactly the tokens it gave before"


@exercise("08.4", "The features a linear probe reads", answer="my_probe_features", hints=(
    "A linear probe is a logistic regression on the backbone's features: everything the model computes up to, "
    "but not including, the head. Run the tokens through model.forward_features (embedding, blocks, final norm) "
    "and take the class token.",
    "return model.forward_features(images)[:, 0]"))
def check_probe_features(probe_features) -> bool | None:
    """Exercise 08.4 · The features a linear probe reads: ``probe_features(model, images)`` -> (B, D).

    Used in notebooks/08_pretrained_weights.
    """
    model = _model()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(84))  # (B, C, H, W)
    with torch.no_grad():
        got = torch.as_tensor(probe_features(model, x.clone())).detach()
        want = model.forward_head(model.forward_features(x), pre_logits=True)  # (B, D)
        tokens = model.embed(x)
        for blk in model.blocks:
            tokens = blk(tokens)  # (B, N + 1, D) before the final norm
        logits = model(x)  # (B, K)
        hints = [(tokens[:, 0], "that is the class token before the final LayerNorm, model.norm; the head reads "
                                "the normalised one"),
                 (model.forward_features(x)[:, 1:].mean(1), "that is the mean of the patch tokens; this model "
                                                            "pools with the class token (config.pool = 'cls')")]
    if got.shape == logits.shape and torch.allclose(got, logits, atol=1e-5):
        raise ExerciseError("those are the logits (the head's output); the probe reads what goes into the head")
    expect_close(got, want, "the probe's features", atol=1e-5, rtol=1e-5, hints=hints)
    return "the normalised class token, (B, D): what the head, and so a linear probe, sees"
