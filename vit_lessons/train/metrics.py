"""How good a model is: test loss and accuracy over fixed batches, and confusion matrices.

Built in notebooks/06_training.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..data import normalize_batch

__all__ = ["evaluate", "autocast", "confusion_matrix", "format_confusion"]


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean, std, batch_size: int = 1000,
             amp: bool = False) -> dict:
    """Test loss, accuracy and predictions of ``model`` on uint8 ``images``; always the same batches, in order."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    total_loss, preds = 0.0, []
    for i in range(0, len(labels), batch_size):
        x = normalize_batch(images[i:i + batch_size].to(dev), mean, std)  # (b, C, H, W) float
        y = labels[i:i + batch_size].to(dev)
        with autocast(dev, amp):
            logits = model(x)  # (b, classes)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
    model.train(was_training)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
    correct = int((pred == labels.cpu()).sum())
    n = max(len(labels), 1)
    return {"loss": total_loss / n, "acc": correct / n, "correct": correct, "n": len(labels), "pred": pred}


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when asked; a no-op context elsewhere (CPU bf16 is slower than fp32 here)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) counts; row = true class, column = predicted class."""
    idx = target.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes**2).view(num_classes, num_classes)


def format_confusion(cm: torch.Tensor, classes) -> str:
    """The confusion matrix as aligned text, with per-class accuracy at the end of each row."""
    names = [str(c)[:11] for c in classes]
    w = max(6, max(len(n) for n in names) + 1)
    cw = max(5, len(str(int(cm.max()))) + 1)
    head = " " * w + "".join(f"{i:>{cw}}" for i in range(len(names))) + "   acc"
    lines = ["true \\ predicted", head]
    for i, n in enumerate(names):
        row = cm[i]
        acc = row[i].item() / max(row.sum().item(), 1)
        lines.append(f"{n:<{w}}" + "".join(f"{int(v):>{cw}}" for v in row) + f"  {acc:5.1%}")
    lines.append("columns: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)))
    return "\n".join(lines)
