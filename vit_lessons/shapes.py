"""Shape checks for the lessons, and (lesson 04) a hook-driven shape trace of any model.

Shape legend: B batch, C channels, H W height width, P patch size, N patches (N + 1 tokens
with the class token), D embed dim, h heads, d head dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import count_params

__all__ = ["check_shape"]


def check_shape(t: torch.Tensor, expected, name: str = "tensor") -> torch.Tensor:
    """Assert ``t.shape == expected`` (None in ``expected`` matches any size); returns ``t``.

    >>> check_shape(torch.zeros(2, 50, 64), (2, 50, None), "tokens").shape
    torch.Size([2, 50, 64])
    """
    got = tuple(t.shape)
    exp = tuple(expected)
    if len(got) != len(exp) or any(e is not None and g != e for g, e in zip(got, exp)):
        diff = ""
        if len(got) != len(exp):
            diff = f": {len(got)} dims instead of {len(exp)}"
        else:
            bad = [i for i, (g, e) in enumerate(zip(got, exp)) if e is not None and g != e]
            diff = ": dim " + ", ".join(f"{i} is {got[i]} not {exp[i]}" for i in bad)
        want = ", ".join("*" if e is None else str(e) for e in exp) + ("," if len(exp) == 1 else "")
        raise AssertionError(f"{name} has shape {got}, expected ({want}){diff}")
    return t


# ---- the shape trace (lesson 04) ------------------------------------------------------------------
__all__ += ["TraceRow", "ShapeTrace", "shape_trace"]


@dataclass
class TraceRow:
    """One module in a :class:`ShapeTrace`: where it sits, what it is, what it returned, what it owns."""

    name: str  # qualified name as in state_dict keys ("" is the model itself)
    type: str  # class name
    shape: str  # output shape(s), "-" when the module was not called
    params: int  # own parameters (plus all beneath it for a row where ``depth`` cut the tree)
    depth: int  # 0 for the model, 1 for its children, …
    collapsed: bool = False  # True when the row also counts the parameters of hidden submodules


class ShapeTrace:
    """The rows of :func:`shape_trace`, printable as a text table; ``total`` is every parameter."""

    def __init__(self, rows: list[TraceRow], total: int, input_shape: str):
        self.rows, self.total, self.input_shape = rows, total, input_shape

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()

    def table(self, indent: bool = True) -> str:
        """A plain-text table: module, type, output shape, parameters, then the total."""
        head = ("module", "type", "output shape", "params")
        body = [("input", "", self.input_shape, "")]
        for r in self.rows:
            label = r.name or "(model)"
            if indent and r.name:
                label = "  " * (r.depth - 1) + r.name.rsplit(".", 1)[-1] if r.depth > 1 else r.name
            body.append((label, r.type + (" …" if r.collapsed else ""), r.shape, f"{r.params:,}"))
        body.append(("total", "", "", f"{self.total:,}"))
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(4)]

        def fmt(row):
            return "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                              row[3].rjust(widths[3])]).rstrip()

        rule = "-" * len(fmt(tuple("-" * w for w in widths)))
        return "\n".join([fmt(head), rule, *map(fmt, body[:-1]), rule, fmt(body[-1])])


def _shape_str(out) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)):
        parts = [_shape_str(o) for o in out]
        if len(parts) > 3 and len(set(parts)) == 1:
            return f"{len(parts)} x {parts[0]}"
        return "[" + ", ".join(parts) + "]"
    return type(out).__name__ if out is not None else "None"


def shape_trace(model: torch.nn.Module, x, depth: int | None = None, **forward_kwargs) -> ShapeTrace:
    """Run ``model(x)`` once with forward hooks and list every module's output shape and parameters.

    Rows come in the order the modules are defined (``model.named_modules()``), named as in
    the state dict. ``depth`` hides modules nested deeper than that many levels; a row at the
    cut then counts the parameters of everything beneath it (marked "…" in the table), so the
    rows always add up to ``total``, which equals ``count_params(model)``.
    Mode (train/eval) is left as it is; the forward runs under ``torch.no_grad()``.

    >>> from vit_lessons import ViTConfig, VisionTransformer
    >>> t = shape_trace(VisionTransformer(ViTConfig.tiny()), torch.zeros(2, 3, 32, 32), depth=1)
    >>> t.rows[1].name, t.rows[1].shape
    ('patch_embed', '(2, 16, 32)')

    Built in notebooks/04_encoder_block.
    """
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be None or >= 0, got {depth}")
    named = list(model.named_modules())
    outputs: dict[str, list] = {}
    handles = []

    def hook_for(name):
        def hook(_module, _inputs, output):
            outputs.setdefault(name, []).append(_shape_str(output))
        return hook

    try:
        for name, module in named:
            handles.append(module.register_forward_hook(hook_for(name)))
        with torch.no_grad():
            model(x, **forward_kwargs)
    finally:
        for h in handles:
            h.remove()

    rows = []
    for name, module in named:
        level = 0 if not name else name.count(".") + 1
        if depth is not None and level > depth:
            continue
        own = sum(p.numel() for p in module.parameters(recurse=False))
        collapsed = depth is not None and level == depth and any(True for _ in module.children())
        params = count_params(module) if collapsed else own
        calls = outputs.get(name)
        if not calls:
            shape = "-"
        elif len(set(calls)) == 1:
            shape = calls[0] + (f" (x{len(calls)} calls)" if len(calls) > 1 else "")
        else:
            shape = " | ".join(calls)
        rows.append(TraceRow(name, type(module).__name__, shape, params, level, collapsed))
    total = count_params(model)
    if sum(r.params for r in rows) != total:  # shared parameters counted twice
        raise RuntimeError("parameters are shared between modules; the rows count them more than once")
    return ShapeTrace(rows, total, _shape_str(x))
