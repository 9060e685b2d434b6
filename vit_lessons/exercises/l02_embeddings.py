"""Self-checks for lesson 02's exercises: the class token, the 1-D sin-cos table, resizing a position grid.

Used in notebooks/02_embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..embeddings import sincos_1d as _sincos_1d
from ._common import ExerciseError, exercise, expect_close, expect_float, expect_shape

__all__ = ["check_prepend_class_token", "check_sincos_1d", "check_resize_pos_embed"]


@exercise("02.1", "Prepend the class token", answer="my_prepend_class_token", hints=(
    "The class token is one (1, 1, D) parameter shared by the whole batch. Make B views of it (expand makes "
    "views, not copies, so the gradient still reaches the parameter), then join it to the patch tokens along "
    "the token dim, in front.",
    "return torch.cat([cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)"))
def check_prepend_class_token(prepend_class_token) -> bool | None:
    """Exercise 02.1 · Prepend the class token: ``prepend_class_token(tokens, cls)`` -> (B, N + 1, D).

    ``tokens`` is (B, N, D), ``cls`` a (1, 1, D) parameter that must come first and stay trainable.
    Used in notebooks/02_embeddings.
    """
    g = torch.Generator().manual_seed(6)
    b, n, d = 3, 4, 8
    tokens = torch.randn(b, n, d, generator=g)
    cls = nn.Parameter(torch.randn(1, 1, d, generator=g))
    got = prepend_class_token(tokens.clone(), cls)
    want = torch.cat([cls.detach().expand(b, -1, -1), tokens], dim=1)  # (B, N + 1, D)
    expect_shape(got, (b, n + 1, d), "tokens with class token", {
        (b, n, d): "added the class token to every patch instead of putting it in front: concatenate along "
                   "the token dim, torch.cat([cls, x], dim=1)",
        (1, n + 1, d): "only one image came back: expand the class token to the batch first, cls.expand(B, -1, -1)",
        (b, n, d + d): "concatenated along the feature dim; the class token is a new token: dim=1",
        (b + 1, n, d): "concatenated along the batch dim; the class token is a new token: dim=1"})
    expect_close(got, want, "tokens with class token", atol=1e-6, hints=[
        (torch.cat([tokens, cls.detach().expand(b, -1, -1)], dim=1),
         "the class token was appended at the end; it goes first, at index 0 (the model reads x[:, 0])")])
    if not got.requires_grad:
        raise ExerciseError("the values are right but no gradient reaches the class token (used .data, .detach() "
                            "or a copy?); concatenate the parameter itself so it can be learned")
    got.sum().backward()
    if cls.grad is None or not torch.allclose(cls.grad, torch.full_like(cls, float(b))):
        raise ExerciseError("the gradient of the class token is wrong: every image should use the same "
                            "parameter, e.g. cls.expand(B, -1, -1)")
    return "class token prepended at index 0, shared by the batch, trainable"


@exercise("02.2", "The 1-D sin-cos table", answer="my_sincos_1d", hints=(
    "Build a column of positions 0 … num_positions-1, shape (N, 1), and a row of the D/2 frequencies "
    "omega_i = 1 / 10000**(i / (D/2)); their product broadcasts to the (N, D/2) table of angles. Sines of "
    "all angles first, then cosines.",
    "angles = torch.arange(num_positions)[:, None] / 10000 ** (torch.arange(dim // 2) / (dim // 2)); "
    "return torch.cat([angles.sin(), angles.cos()], dim=1)"))
def check_sincos_1d(sincos_1d) -> bool | None:
    """Exercise 02.2 · The 1-D sin-cos table: ``sincos_1d(num_positions, dim)`` -> (num_positions, dim).

    Sines of all D/2 frequencies, then their cosines. Used in notebooks/02_embeddings.
    """
    for n, d in ((12, 16), (5, 8)):
        got = sincos_1d(n, d)
        want = _sincos_1d(n, d)
        what = f"sincos_1d({n}, {d})"
        expect_shape(got, (n, d), what, {(d, n): "transposed: one row per position, (num_positions, dim)",
                                         (n, d // 2): "only half the dims: sines fill the first half, "
                                                      "cosines the second"})
        expect_float(got, what)
        pos = torch.arange(n, dtype=torch.float64)[:, None]  # (num_positions, 1)
        i = torch.arange(d // 2, dtype=torch.float64)  # (D/2,)
        ang = pos / 10000 ** (i / (d // 2))  # (num_positions, D/2)
        expect_close(got, want, what, atol=1e-5, hints=[
            (torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(n, d).float(),
             "sines and cosines are interleaved (sin, cos, sin, cos…, the original Transformer layout); this "
             "course puts all sines first, then all cosines: torch.cat([sin, cos], dim=1)"),
            (torch.cat([ang.cos(), ang.sin()], dim=1).float(), "cosines first; put the sines first"),
            (torch.cat([(pos / 10000 ** (i / d)).sin(), (pos / 10000 ** (i / d)).cos()], 1).float(),
             "the frequencies are off: the exponent is i / (D/2) for i = 0 … D/2-1, you divided by D"),
            (_sincos_1d(n + 1, d)[1:], "positions start at 1; they start at 0 (torch.arange(num_positions))"),
            (torch.cat([(pos * 10000 ** (i / (d // 2))).sin(), (pos * 10000 ** (i / (d // 2))).cos()], 1).float(),
             "the frequencies grow instead of shrink: omega_i = 1 / 10000**(i / (D/2))")])
    return "the 1-D sin-cos position table, sines first"


@exercise("02.3", "Resize a position grid", answer="my_resize_pos_embed", hints=(
    "Set the class token's row aside. The other g*g rows are a g x g image with D channels, and F.interpolate "
    "wants it as (1, D, g, g). After interpolating, go back to (1, new*new, D) and put the class token in front.",
    "D = pos_embed.shape[-1]; g = int((pos_embed.shape[1] - 1) ** 0.5); "
    "grid = pos_embed[:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2); "
    "grid = F.interpolate(grid, size=(new_grid, new_grid), mode='bicubic', align_corners=False); "
    "return torch.cat([pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, D)], dim=1)"))
def check_resize_pos_embed(resize_pos_embed) -> bool | None:
    """Exercise 02.3 · Resize a position grid: ``resize_pos_embed(pos_embed, new_grid)`` -> (1, 1 + new_grid**2, D).

    ``pos_embed`` is (1, 1 + g*g, D), class token first; the grid is resized bicubically.
    Used in notebooks/02_embeddings.
    """
    g, new, d = 4, 6, 8
    gen = torch.Generator().manual_seed(7)
    pe = torch.randn(1, 1 + g * g, d, generator=gen)
    got = resize_pos_embed(pe.clone(), new)

    def grid_resize(grid, **kw):  # grid: (1, D, g, g)
        if kw["mode"] != "nearest":
            kw.setdefault("align_corners", False)
        out = F.interpolate(grid, size=(new, new), **kw)  # (1, D, new, new)
        return out.permute(0, 2, 3, 1).reshape(1, new * new, d)  # (1, new*new, D)

    cls, grid = pe[:, :1], pe[:, 1:].reshape(1, g, g, d).permute(0, 3, 1, 2)  # (1, 1, D), (1, D, g, g)
    want = torch.cat([cls, grid_resize(grid, mode="bicubic")], dim=1)  # (1, 1 + new*new, D)
    want_aa = torch.cat([cls, grid_resize(grid, mode="bicubic", antialias=True)], dim=1)
    expect_shape(got, (1, 1 + new * new, d), "resized pos_embed", {
        (1, new * new, d): "the class token's embedding is missing: split it off before interpolating "
                           "(pos_embed[:, :1]) and concatenate it back in front",
        (1, d, new, new): "still in image layout (1, D, g, g): permute back, flatten to (1, new*new, D) "
                           "and put the class token in front",
        (1, new, new, d): "flatten the (new, new) grid into new*new tokens and put the class token back in front"})
    if torch.allclose(got.detach().float(), want_aa, atol=1e-5):
        return "position grid resized (bicubic, with antialias=True as timm does)"
    expect_close(got, want, "resized pos_embed", atol=1e-5, hints=[
        (torch.cat([cls, grid_resize(pe[:, 1:].reshape(1, d, g, g), mode="bicubic")], dim=1),
         "reshaped the (1, g*g, D) grid straight to (1, D, g, g), which scrambles the embeddings: reshape to "
         "(1, g, g, D) and permute(0, 3, 1, 2) so D becomes the channel dim"),
        (torch.cat([cls, grid_resize(grid.transpose(2, 3), mode="bicubic")], dim=1),
         "rows and columns are swapped: keep the grid (1, D, rows, cols) in the same order going back"),
        (torch.cat([cls, grid_resize(grid, mode="bilinear")], dim=1),
         "this is bilinear interpolation; use mode='bicubic' (the paper's code and timm do)"),
        (torch.cat([cls, grid_resize(grid, mode="nearest")], dim=1),
         "this is nearest-neighbour resizing; use mode='bicubic'"),
        (torch.cat([cls, grid_resize(grid, mode="bicubic", align_corners=True)], dim=1),
         "align_corners=True stretches the grid differently; use align_corners=False (timm's default)")])
    return "position grid resized (bicubic), class token kept in front"


__all__ += ["check_sincos_2d"]


@exercise("02.4", "2-D sin-cos from the 1-D table", answer="my_sincos_2d", hints=(
    "A patch at (row r, column c) gets two 1-D codes of width D/2 each: the code of r, then the code of c. "
    "Build the two 1-D tables with your (or the package's) sincos_1d, give every grid cell its row's code and "
    "its column's code, and flatten the grid row by row, like the patches.",
    "rows, cols = sincos_1d(grid_h, dim // 2), sincos_1d(grid_w, dim // 2); "
    "return torch.cat([rows[:, None].expand(-1, grid_w, -1), cols[None].expand(grid_h, -1, -1)], -1)"
    ".reshape(grid_h * grid_w, dim)"))
def check_sincos_2d(sincos_2d) -> bool | None:
    """Exercise 02.4 · 2-D sin-cos from the 1-D table: ``sincos_2d(grid_h, grid_w, dim)`` -> (grid_h*grid_w, dim).

    Row code in the first half of the dims, column code in the second, cells row-major.
    Used in notebooks/02_embeddings.
    """
    gh, gw, d = 3, 5, 16  # not square, so rows and columns cannot be confused unnoticed
    got = sincos_2d(gh, gw, d)
    what = f"sincos_2d({gh}, {gw}, {d})"
    expect_shape(got, (gh * gw, d), what, {
        (gh, gw, d): "still a grid: flatten it row by row to (grid_h * grid_w, dim)",
        (gh * gw, 2 * d): "each half is a 1-D code of width dim/2, not dim: call sincos_1d(..., dim // 2)"})
    expect_float(got, what)
    r, c = _sincos_1d(gh, d // 2), _sincos_1d(gw, d // 2)  # (gh, D/2), (gw, D/2)
    want = torch.cat([r[:, None].expand(gh, gw, -1), c[None].expand(gh, gw, -1)], -1).reshape(gh * gw, d)
    expect_close(got, want, what, atol=1e-6, hints=[
        (torch.cat([c[None].expand(gh, gw, -1), r[:, None].expand(gh, gw, -1)], -1).reshape(gh * gw, d),
         "the column code comes first; put the row code in the first half of the dims"),
        (torch.cat([r[:, None].expand(gh, gw, -1), c[None].expand(gh, gw, -1)], -1).transpose(0, 1).reshape(-1, d),
         "cells are numbered column by column; number them row by row, like the patches"),
        (torch.stack([r[:, None].expand(gh, gw, -1), c[None].expand(gh, gw, -1)], -1).reshape(gh * gw, d),
         "row and column dims are interleaved; concatenate the two codes (torch.cat), row code first"),
        (torch.cat([_sincos_1d(gh * gw, d // 2)[:, :], _sincos_1d(gh * gw, d // 2)], -1),
         "this codes the token index k twice; the row is k // grid_w and the column k % grid_w")])
    return "2-D sin-cos table built from two 1-D codes, row-major"
