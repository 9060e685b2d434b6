"""A linear probe: how much a frozen encoder's features already know, measured by the best linear classifier
on top of them (a logistic regression, fitted in full batch).

The encoder runs once over every image; the classifier is then fitted on the labelled training features
with an L2 penalty chosen on the validation features, and the test accuracy of the chosen one is reported.
For self-supervised encoders this is the standard first measurement (He et al. 2021, Sec. 4 and Table 1
report linear probing beside fine-tuning).

Built in notebooks/11_self_supervised.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .data import normalize_batch
from .model import VisionTransformer

__all__ = ["POOLS", "PENALTIES", "encoder_features", "fit_logistic", "linear_probe"]

POOLS = ("cls", "mean")  # the class token, or the mean of the patch tokens
PENALTIES = (1e-5, 1e-4, 1e-3, 1e-2)  # L2 weights the probe is chosen from, on validation


@torch.no_grad()
def encoder_features(encoder: VisionTransformer, images: torch.Tensor, mean, std, batch_size: int = 1000
                     ) -> dict[str, torch.Tensor]:
    """{'cls': (B, D), 'mean': (B, D)}: the encoder's normalised class token and mean patch token of uint8 images."""
    was = encoder.training
    encoder.eval()
    dev = next(encoder.parameters()).device
    out = {p: [] for p in POOLS}
    for i in range(0, len(images), batch_size):
        t = encoder.forward_features(normalize_batch(images[i:i + batch_size].to(dev), mean, std))  # (b, N + 1, D)
        out["cls"].append(t[:, 0].cpu())
        out["mean"].append(t[:, encoder.num_prefix_tokens:].mean(dim=1).cpu())
    encoder.train(was)
    return {p: torch.cat(v) for p, v in out.items()}


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, steps: int = 100) -> nn.Linear:
    """A logistic regression (B, D) -> K logits fitted with L-BFGS on all of ``x`` at once (mean cross-entropy +
    ``l2`` times the squared weights)."""
    torch.manual_seed(0)
    head = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=steps, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(x), y) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return head


def linear_probe(train: dict, train_y: torch.Tensor, val: dict, val_y: torch.Tensor, test: dict,
                 test_y: torch.Tensor, num_classes: int) -> dict:
    """The probe chosen on validation (pooling and L2 penalty) and its test accuracy.

    ``train``/``val``/``test`` are :func:`encoder_features` dicts; features are standardised with the training
    features' mean and spread (as a BatchNorm without affine weights before the classifier would).
    """
    best = None
    for pool in POOLS:
        mu, sd = train[pool].mean(0), train[pool].std(0) + 1e-6
        z = {k: (d[pool] - mu) / sd for k, d in (("train", train), ("val", val), ("test", test))}
        for l2 in PENALTIES:
            head = fit_logistic(z["train"], train_y, num_classes, l2)
            with torch.no_grad():
                val_acc = (head(z["val"]).argmax(1) == val_y).float().mean().item()
                if best is None or val_acc > best["val_acc"]:
                    test_acc = (head(z["test"]).argmax(1) == test_y).float().mean().item()
                    best = {"pool": pool, "l2": l2, "val_acc": val_acc, "test_acc": test_acc,
                            "train_acc": (head(z["train"]).argmax(1) == train_y).float().mean().item()}
    return best
