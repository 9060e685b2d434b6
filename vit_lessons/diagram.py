"""The paper's Fig. 1 drawn in code: the ViT's boxes with the tensor shapes of a given config.

Every shape on the figure is computed from the :class:`ViTConfig` it is given, so the picture
of the course model and the model itself cannot disagree.

Built in notebooks/00_setup_and_data; labelled box by box in notebooks/05_vision_transformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .config import ViTConfig
from .model import VisionTransformer, count_params
from .viz import to_display

__all__ = ["BOXES", "architecture_shapes", "architecture_figure"]

# Box keys (timm's module names where there is one) in the order the data flows through them.
BOXES = ("patches", "patch_embed", "cls_token", "pos_embed", "blocks", "norm", "pool", "head",
         "norm1", "attn", "norm2", "mlp")


@dataclass(frozen=True)
class _Box:
    title: str  # what the box does
    symbols: str  # its output shape in the legend's letters
    shape: str  # the same shape in numbers, from the config
    extra: str = ""  # an inner shape worth seeing (attention weights, MLP hidden layer), letters = numbers


def _fmt(*dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def architecture_shapes(config: ViTConfig) -> dict[str, _Box]:
    """Each box of the figure (keys as in :data:`BOXES`): its title and output shape, in letters and numbers.

    Built in notebooks/00_setup_and_data.
    """
    if not isinstance(config, ViTConfig):
        raise TypeError(f"config must be a ViTConfig, got {type(config).__name__}; "
                        "build one with ViTConfig(...) or a preset such as ViTConfig.fashion_mnist_cpu()")
    c = config
    C, P, D, h, d = c.in_chans, c.patch_size, c.embed_dim, c.num_heads, c.head_dim
    N = c.num_patches
    prefix = int(c.class_token) + int(c.distilled)
    T = N + prefix  # tokens the encoder sees
    tok = "N + 1" if prefix == 1 else ("N + 2" if prefix == 2 else "N")
    K = c.num_classes if c.num_classes > 0 else D
    pooled = "class token (row 0)" if c.pool == "cls" else "mean of the N patch tokens"
    if c.stem:  # the hybrid (paper Sec. 3.1): patches of a conv stem's feature map, C' channels
        widths = "→".join(map(str, (C, *c.stem)))
        patches = _Box(f"conv stem {widths} channels, then {c.grid_size}x{c.grid_size} patches of {P}x{P} of its "
                       "feature map, flatten", "(B, N, P²C')", _fmt("B", N, P * P * c.stem[-1]))
    else:
        patches = _Box(f"split into {c.grid_size}x{c.grid_size} patches of {P}x{P}, flatten", "(B, N, P²C)",
                       _fmt("B", N, P * P * C))
    boxes = {
        "patches": patches,
        "patch_embed": _Box("linear projection  patch_embed.proj", "(B, N, D)", _fmt("B", N, D)),
        "cls_token": (_Box("prepend class token  cls_token" + (" + dist_token" if c.distilled else ""),
                           f"(B, {tok}, D)", _fmt("B", T, D)) if prefix else
                      _Box("no class token", "(B, N, D)", _fmt("B", N, D))),
        "pos_embed": _Box(f"+ position embedding  pos_embed ({c.pos_embed})", f"(B, {tok}, D)", _fmt("B", T, D)),
        "blocks": _Box(f"Transformer encoder: L = {c.depth} blocks", f"(B, {tok}, D)", _fmt("B", T, D)),
        "norm": _Box("LayerNorm  norm", f"(B, {tok}, D)", _fmt("B", T, D)),
        "pool": _Box(f"take the {pooled}", "(B, D)", _fmt("B", D)),
        "head": (_Box(f"MLP head  head: {c.num_classes} classes", "(B, K)", _fmt("B", K)) if c.num_classes
                 else _Box("no head (num_classes=0): features", "(B, D)", _fmt("B", D))),
        "norm1": _Box("LayerNorm  norm1", f"(B, {tok}, D)", _fmt("B", T, D)),
        "attn": _Box(f"multi-head attention  attn: h = {h} heads of d = {d}", f"(B, {tok}, D)", _fmt("B", T, D),
                     f"weights (B, h, {tok}, {tok}) = {_fmt('B', h, T, T)}"),
        "norm2": _Box("LayerNorm  norm2", f"(B, {tok}, D)", _fmt("B", T, D)),
        "mlp": _Box(f"MLP  mlp: D → {c.mlp_hidden_dim} → D, GELU", f"(B, {tok}, D)", _fmt("B", T, D),
                    f"hidden (B, {tok}, {c.mlp_ratio:g}D) = {_fmt('B', T, c.mlp_hidden_dim)}"),
    }
    return boxes


def _draw_box(ax, key, box: _Box, x, y, w, h, color, label=None):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                fc=color, ec="0.25", lw=1.0, gid=f"box:{key}"))
    rows = (0.75, 0.45, 0.17) if box.extra else (0.66, 0.27)
    ax.text(x + w / 2, y + h * rows[0], box.title, ha="center", va="center", fontsize=8.5, gid=f"title:{key}")
    ax.text(x + w / 2, y + h * rows[1], f"{box.symbols} = {box.shape}", ha="center", va="center", fontsize=8,
            family="monospace", color="0.15", gid=f"shape:{key}")
    if box.extra:
        ax.text(x + w / 2, y + h * rows[2], box.extra, ha="center", va="center", fontsize=7.5, family="monospace",
                color="0.35", gid=f"extra:{key}")
    if label:
        ax.text(x + w + 0.06, y + h / 2, label, ha="left", va="center", fontsize=7.5, color="white",
                gid=f"label:{key}", bbox=dict(boxstyle="round,pad=0.25", fc="tab:purple", ec="none"))


def _arrow(ax, xy0, xy1, color="0.2"):
    ax.add_patch(FancyArrowPatch(xy0, xy1, arrowstyle="-|>", mutation_scale=10, lw=1.0, color=color,
                                 shrinkA=0, shrinkB=0))


def architecture_figure(config: ViTConfig, labels: dict[str, str] | None = None, image: torch.Tensor | None = None,
                        title: str | None = None):
    """The ViT as the paper's Fig. 1 draws it, each box carrying its output shape for ``config``.

    Args:
        config: the model to draw; every number on the figure comes from it.
        labels: optional tags per box, ``{"attn": "lesson 03", ...}``, keys from :data:`BOXES`
            (lesson 05 tags each box with the lesson that built it).
        image: an optional (C, H, W) image of the config's size, drawn with its patch grid at the input.
        title: figure title; by default the config's name and sizes.

    Left: the whole model, top to bottom. Right: one encoder block (pre-norm, with its two
    residual connections), repeated L times. Shapes are written in the shape legend's letters
    (N patches, N + 1 tokens) and in numbers. Returns the matplotlib Figure.

    Built in notebooks/00_setup_and_data; used in notebooks/05_vision_transformer.
    """
    boxes = architecture_shapes(config)
    labels = dict(labels or {})
    unknown = sorted(set(labels) - set(BOXES))
    if unknown:
        raise ValueError(f"unknown box names in labels: {unknown}; the boxes are {list(BOXES)}")
    c = config
    if image is not None:
        want = (c.in_chans, c.img_size, c.img_size)
        if not isinstance(image, torch.Tensor) or tuple(image.shape) != want:
            got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"image must be a (C, H, W) tensor of shape {want} for this config, got {got}")

    fig, ax = plt.subplots(figsize=(12.5, 8.2))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(0.4, 10.4)
    ax.axis("off")

    # ---- left column: the whole model ----
    lx, lw, bh, gap = 2.2, 4.4, 0.72, 0.34
    order = ["patches", "patch_embed", "cls_token", "pos_embed", "blocks", "norm", "pool", "head"]
    colors = {"patches": "#eeeeee", "patch_embed": "#fde2c8", "cls_token": "#f9d3e0", "pos_embed": "#d9ecd0",
              "blocks": "#d6e4f5", "norm": "#fff4c2", "pool": "#eeeeee", "head": "#f6d5d5",
              "norm1": "#fff4c2", "attn": "#c6f0e8", "norm2": "#fff4c2", "mlp": "#d6e4f5"}
    top = 9.0
    ys = {}
    for i, k in enumerate(order):
        y = top - i * (bh + gap)
        ys[k] = y
        _draw_box(ax, k, boxes[k], lx, y, lw, bh, colors[k], labels.get(k))
        if i:
            _arrow(ax, (lx + lw / 2, ys[order[i - 1]]), (lx + lw / 2, y + bh))
    # the input image above the first box
    inp = f"input image (B, C, H, W) = {_fmt('B', c.in_chans, c.img_size, c.img_size)}"
    ax.text(lx + lw / 2, top + bh + 0.62, inp, ha="center", va="center", fontsize=8.5, family="monospace",
            gid="shape:input")
    _arrow(ax, (lx + lw / 2, top + bh + 0.45), (lx + lw / 2, top + bh))
    if image is not None:
        iax = fig.add_axes((0.015, 0.69, 0.14, 0.21))
        g, P = c.grid_size, c.patch_size
        grey = image.shape[0] == 1
        iax.imshow(to_display(image), cmap="gray_r" if grey else None, extent=(0, c.img_size, c.img_size, 0))
        for k in range(g + 1):
            iax.axvline(k * P, color="tab:red", lw=0.6)
            iax.axhline(k * P, color="tab:red", lw=0.6)
        iax.set_xticks([])
        iax.set_yticks([])
        iax.set_title(f"{g}x{g} = {c.num_patches} patches", fontsize=8)
    ax.text(lx + lw / 2, ys["head"] - 0.4, "class scores (logits)", ha="center", va="center", fontsize=8.5)
    _arrow(ax, (lx + lw / 2, ys["head"]), (lx + lw / 2, ys["head"] - 0.25))

    # ---- right column: one encoder block, repeated L times, laid out top to bottom ----
    rx, rw = 7.75, 3.85
    cx = rx + rw / 2
    frame_top = ys["cls_token"] + bh + 0.75
    cursor = frame_top - 0.75  # top of the next box
    top, bottom, plus = {}, {}, {}
    for a, b in (("norm1", "attn"), ("norm2", "mlp")):
        for k in (a, b):
            hk = bh + (0.3 if boxes[k].extra else 0.0)
            top[k], bottom[k] = cursor, cursor - hk
            _draw_box(ax, k, boxes[k], rx, bottom[k], rw, hk, colors[k], labels.get(k))
            cursor = bottom[k] - 0.32
        _arrow(ax, (cx, bottom[a]), (cx, top[b]))
        plus[b] = bottom[b] - 0.32  # the residual sum sits under its branch
        _arrow(ax, (cx, bottom[b]), (cx, plus[b] + 0.13))
        ax.add_patch(plt.Circle((cx, plus[b]), 0.13, fc="white", ec="0.2", lw=1.0))
        ax.text(cx, plus[b], "+", ha="center", va="center", fontsize=10)
        cursor = plus[b] - 0.45
    frame_bot = plus["mlp"] - 0.5
    _arrow(ax, (cx, plus["attn"] - 0.13), (cx, top["norm2"]))
    _arrow(ax, (cx, frame_top - 0.42), (cx, top["norm1"]))
    _arrow(ax, (cx, plus["mlp"] - 0.13), (cx, frame_bot + 0.08))
    ax.add_patch(FancyBboxPatch((rx - 0.45, frame_bot), rw + 0.9, frame_top - frame_bot,
                                boxstyle="round,pad=0.02,rounding_size=0.2", fc="#f4f8fd", ec="#5b7fb0", lw=1.2,
                                ls="--", zorder=0, gid="box:block_frame"))
    ax.text(rx - 0.3, frame_top - 0.22, f"encoder block  blocks.i  (× L = {c.depth})", fontsize=9,
            fontweight="bold", color="#2b4c7e", va="center")
    # residual (skip) connections: from the block's input around each branch into its +
    skip_x = rx - 0.25
    for start_y, b in ((top["norm1"] + 0.18, "attn"), (plus["attn"] - 0.2, "mlp")):
        ax.plot([cx, skip_x, skip_x], [start_y, start_y, plus[b]], color="#2b4c7e", lw=1.0)
        _arrow(ax, (skip_x, plus[b]), (cx - 0.13, plus[b]), color="#2b4c7e")
    ax.text(skip_x - 0.08, (top["norm1"] + plus["attn"]) / 2, "residual", rotation=90, fontsize=7.5,
            color="#2b4c7e", ha="right", va="center")
    ax.text(skip_x - 0.08, (plus["attn"] + plus["mlp"]) / 2, "residual", rotation=90, fontsize=7.5,
            color="#2b4c7e", ha="right", va="center")
    # tie the encoder box on the left to its detail on the right
    tie_from = lx + lw + (0.8 if labels.get("blocks") else 0.0)  # start after the box's label
    ax.annotate("", xy=(rx - 0.45, (frame_top + frame_bot) / 2), xytext=(tie_from, ys["blocks"] + bh / 2),
                arrowprops=dict(arrowstyle="-", ls=":", color="#5b7fb0", lw=1.2))

    legend = (f"N = {c.num_patches} patches ({c.grid_size}x{c.grid_size} of P = {c.patch_size} px), "
              f"{'N + 1 = ' if c.num_tokens == c.num_patches + 1 else ''}{c.num_tokens} tokens, "
              f"D = {c.embed_dim}, h = {c.num_heads}, d = D / h = {c.head_dim}, L = {c.depth}, "
              f"C = {c.in_chans}, K = {c.num_classes} classes;  B = batch size")
    ax.text(6.25, 0.75, legend, ha="center", va="center", fontsize=8.5, gid="legend")
    with torch.device("meta"):  # parameters without memory: the title's count is exact even for ViT-H
        n_params = count_params(VisionTransformer(c))
    fig.suptitle(title or f"The Vision Transformer (paper's Fig. 1) for {c.name}: {n_params:,} parameters",
                 fontsize=11.5, y=0.985)
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.95)
    return fig

