"""The attention explorer's panels: the sentence that describes the loaded model, and each of the four
pictures the page shows for one image (the class token's attention, rollout, a relevance map,
Grad-CAM), titled and scaled. Plain functions of an :class:`~vit_lessons.app_logic.Explorer` and a
uint8 (C, H, W) image, without gradio; vit_lessons/app.py lays them out on the page.

Shows the maps built in notebooks/07_looking_inside.
"""

from __future__ import annotations

from .app_logic import Explorer, class_attention, grad_cam_map, predict, relevance, render_overlay, rollout_map
from .app_ranking import MAPS

__all__ = ["describe", "attention_panel", "rollout_panel", "grad_cam_panel", "relevance_panel"]


def describe(ex: Explorer) -> str:
    """One Markdown sentence about the loaded model: size, patches, pooling, dataset, recorded test accuracy."""
    cfg = ex.model.config
    g = cfg.img_size // cfg.patch_size
    colour = "grey" if cfg.in_chans == 1 else "colour"
    acc = ex.record.get("test_acc")
    acc = f", test accuracy {acc:.2%}" if isinstance(acc, float) else ""
    token = "a class token" if ex.model.num_prefix_tokens else "no class token (mean pooling)"
    blocks, heads = (f"{n} {w}{'s' if n != 1 else ''}" for n, w in ((cfg.depth, "block"), (cfg.num_heads, "head")))
    return (f"Model `{ex.checkpoint.name}`: {blocks} x {heads}, {cfg.patch_size}x"
            f"{cfg.patch_size}-pixel patches on {cfg.img_size}x{cfg.img_size} {colour} images ({g}x{g} = "
            f"{g * g} patches and {token}), trained on {ex.dataset}{acc}.")


def attention_panel(ex: Explorer, img, layer, head):
    """Layer ``layer``'s head ``head`` (from 1): where the class token looks, on the scale of the layer's heads."""
    layer, head = int(layer), int(head)
    heat, vmax, own = class_attention(ex, img, layer, head)
    who = "class token" if own is not None else "patches on average"
    kept = f", {own:.0%} on itself" if own is not None else ""
    n = ex.model.config.num_heads
    return render_overlay(img, heat, ex.model.config.patch_size, f"Attention, layer {layer}, head {head}\n"
                          f"{who} \u2192 patches{kept}", f"attention weight (shared by {n} heads)", vmax)


def rollout_panel(ex: Explorer, img):
    """Attention rollout over every layer, heads averaged."""
    roll, own = rollout_map(ex, img)
    kept = f" ({own:.0%} stays on class token)" if own is not None else ""
    return render_overlay(img, roll, ex.model.config.patch_size, "Attention rollout\n(all layers, heads averaged)",
                          f"rollout weight{kept}", float(roll.max()))


def grad_cam_panel(ex: Explorer, img, block):
    """Grad-CAM at block ``block`` (from 1) for the top class."""
    best = next(iter(predict(ex, img, k=1)))
    cam = grad_cam_map(ex, img, ex.classes.index(best), int(block))
    zero = "\n(0 everywhere: no patch raises it here)" if float(cam.max()) == 0 else ""
    return render_overlay(img, cam, ex.model.config.patch_size, f"Grad-CAM, block {int(block)}, class '{best}'{zero}",
                          "Grad-CAM (1 = strongest)", 1.0)


def relevance_panel(ex: Explorer, img, method):
    """The relevance map ``method`` (a key of app_ranking.MAPS) for the top class; negative patches shown as 0."""
    best = next(iter(predict(ex, img, k=1)))
    heat = relevance(ex, img, method)
    below = int((heat < 0).sum())
    below = f"\n({below} patch{'es' if below != 1 else ''} below 0, shown as 0)" if below else ""
    name, scale, _ = MAPS[method]
    return render_overlay(img, heat, ex.model.config.patch_size, f"{name}, class '{best}'{below}", scale,
                          max(float(heat.max()), 0.0))
