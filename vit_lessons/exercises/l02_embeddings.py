"""Self-checks for lesson 02's exercises: the 1-D and 2-D sin-cos tables, a trained model moved to a new image size,
rotary position embeddings in 2-D.

Used in notebooks/02_embeddings.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ViTConfig
from ..embeddings import sincos_1d as _sincos_1d
from ..embeddings import sincos_2d
from ..model import VisionTransformer
from ._common import ExerciseError, exercise, expect_close, expect_float, expect_shape, randomize_

__all__ = ["check_sincos_1d", "check_sincos_2d", "check_at_new_size", "check_rope_2d"]


@exercise("02.1", "Warm-up: the 1-D sin-cos table", answer="my_sincos_1d", hints=(
    "Build a column of positions 0 … num_positions-1, shape (N, 1), and a row of the D/2 frequencies "
    "omega_i = 1 / 10000**(i / (D/2)); their product broadcasts to the (N, D/2) table of angles. Sines of "
    "all angles first, then cosines.",
    "angles = torch.arange(num_positions)[:, None] / 10000 ** (torch.arange(dim // 2) / (dim // 2)); "
    "return torch.cat([angles.sin(), angles.cos()], dim=1)"))
def check_sincos_1d(sincos_1d) -> bool | None:
    """Exercise 02.1 · Warm-up: the 1-D sin-cos table: ``sincos_1d(num_positions, dim)`` -> (num_positions, dim).

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


@exercise("02.2", "2-D sin-cos for a rectangular grid", answer="my_sincos_2d", hints=(
    "A patch at (row r, column c) gets two 1-D codes of width D/2 each: the code of r, then the code of c. "
    "Build the two 1-D tables with your (or the package's) sincos_1d, give every grid cell its row's code and "
    "its column's code, and flatten the grid row by row, like the patches.",
    "rows, cols = sincos_1d(grid_h, dim // 2), sincos_1d(grid_w, dim // 2); "
    "return torch.cat([rows[:, None].expand(-1, grid_w, -1), cols[None].expand(grid_h, -1, -1)], -1)"
    ".reshape(grid_h * grid_w, dim)"))
def check_sincos_2d(sincos_2d) -> bool | None:
    """Exercise 02.2 · 2-D sin-cos for a rectangular grid: ``sincos_2d(grid_h, grid_w, dim)`` -> (grid_h*grid_w, dim).

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


def _tiny(pos_embed: str) -> VisionTransformer:
    """A seeded 32 px model (P = 8, a 4 x 4 grid) whose every weight, class token and table is random."""
    model = VisionTransformer(ViTConfig.tiny(pos_embed=pos_embed)).eval()
    return randomize_(model, 21, scale=0.3, add=True)


def _resized_table(pe: torch.Tensor, grid: int, **kw) -> torch.Tensor:
    """(1, 1 + g*g, D) -> (1, 1 + grid**2, D): the patch rows interpolated (bicubic unless told), class row kept."""
    kw = {"mode": "bicubic", "align_corners": False, **kw}
    if kw["mode"] == "nearest":
        kw.pop("align_corners")
    if kw.get("antialias") and kw.get("align_corners"):
        kw.pop("antialias")
    g, d = math.isqrt(pe.shape[1] - 1), pe.shape[2]
    img = pe[:, 1:].reshape(1, g, g, d).permute(0, 3, 1, 2)  # (1, D, g, g)
    img = F.interpolate(img, size=(grid, grid), **kw)  # (1, D, grid, grid)
    return torch.cat([pe[:, :1], img.permute(0, 2, 3, 1).reshape(1, grid * grid, d)], dim=1)


@exercise("02.3", "A trained model at a new image size", answer="my_at_new_size", hints=(
    "Copy the model first (copy.deepcopy): the original must still read its old size. set_img_size(img_size) "
    "makes the copy accept the new size, but for a sin-cos model it rebuilds the table in new units. Then put "
    "the old table, interpolated to the new grid as in 2.6 (the class token's row kept), in its place.",
    "new = copy.deepcopy(model).set_img_size(img_size); grid = img_size // model.config.patch_size; "
    "table = resize_pos_embed(model.pos_embed.detach(), grid); "
    "new.pos_embed = nn.Parameter(table) if isinstance(new.pos_embed, nn.Parameter) else table; return new"))
def check_at_new_size(at_new_size) -> bool | None:
    """Exercise 02.3 · A trained model at a new image size: ``at_new_size(model, img_size)`` -> a model for images
    of ``img_size`` whose position table is the trained one interpolated to the new grid (bicubic), learned or
    sin-cos alike, and the model passed in unchanged. Used in notebooks/02_embeddings.
    """
    new_size, grid = 40, 5  # 32 px with 8 px patches (4 x 4) -> 40 px (5 x 5), as the course's 28 -> 35 px
    x = torch.randn(3, 3, new_size, new_size, generator=torch.Generator().manual_seed(22))
    for kind in ("learned", "sincos2d"):
        model = _tiny(kind)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        old_pe = model.pos_embed.detach().clone()  # (1, 1 + 16, D)
        got = at_new_size(model, new_size)
        what = f"the {kind} model at {new_size} px"
        if got is None or not isinstance(got, nn.Module):
            raise ExerciseError(f"return the model for {new_size} px images, got {type(got).__name__}")
        if got is model or model.config.img_size != 32 or any(
                not torch.equal(v, model.state_dict()[k]) for k, v in before.items()) or \
                not torch.equal(model.pos_embed, old_pe):
            raise ExerciseError("the model passed in was changed; work on a copy (copy.deepcopy(model)) so the "
                                "original still reads 32 px images")
        table = getattr(got, "pos_embed", None)
        if not isinstance(table, torch.Tensor):
            raise ExerciseError(f"{what} has no pos_embed table; return a VisionTransformer")
        table = table.detach()
        expect_shape(table, (1, 1 + grid * grid, old_pe.shape[2]), f"{what}: pos_embed", {
            tuple(old_pe.shape): f"still the 4 x 4 table: resize it to the {grid} x {grid} grid",
            (1, grid * grid, old_pe.shape[2]): "the class token's row is missing: keep pos_embed[:, :1] in front"})
        want = _resized_table(old_pe, grid, antialias=True)  # as 2.6, resize_pos_embed and timm do
        plain = _resized_table(old_pe, grid)  # without antialias torch's bicubic kernel differs slightly; fine too
        if torch.allclose(table, plain, atol=1e-5):
            want = plain
        rebuilt = torch.cat([torch.zeros(1, 1, old_pe.shape[2]), sincos_2d(grid, old_pe.shape[2])[None]], dim=1)
        for alt, msg in (
                (rebuilt, "this is the sin-cos table rebuilt for the new grid (what set_img_size does): it counts "
                          "positions in new patches, while the trained model learned them in old ones. "
                          "Interpolate the trained table instead, as for a learned one"),
                (_resized_table(old_pe, grid, mode="bilinear"), "this is bilinear interpolation; use "
                                                                "mode='bicubic', as 2.6 and timm do"),
                (_resized_table(old_pe, grid, mode="nearest"), "this is nearest-neighbour resizing; use "
                                                               "mode='bicubic'"),
                (_resized_table(old_pe, grid, align_corners=True), "align_corners=True stretches the grid "
                                                                   "differently; use align_corners=False")):
            if not torch.allclose(table, want, atol=1e-5) and torch.allclose(table, alt, atol=1e-5):
                raise ExerciseError(f"{what}: {msg}")
        if not torch.allclose(table[:, 0], old_pe[:, 0], atol=1e-6):
            raise ExerciseError(f"{what}: the class token's row changed; it has no place in the grid, keep it as "
                                "it is")
        expect_close(table, want, f"{what}: pos_embed", atol=1e-5)
        try:
            with torch.no_grad():
                out = got(x)  # (B, num_classes)
        except (ValueError, RuntimeError) as err:
            raise ExerciseError(f"{what} cannot read {new_size} px images ({str(err).split('.')[0]}); make it "
                                f"accept the new size, e.g. with set_img_size({new_size})") from None
        ref = copy.deepcopy(model).set_img_size(new_size)
        ref.pos_embed = nn.Parameter(want) if isinstance(ref.pos_embed, nn.Parameter) else want
        with torch.no_grad():
            expect_close(out, ref(x), f"{what}: logits", atol=1e-4)
    return "learned and sin-cos tables interpolated to the new grid, class token kept, the original model untouched"


def _rope(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, quarter=None, pairs: str = "halves",
          sign: float = 1.0) -> torch.Tensor:
    """2-D RoPE: the first half of the dims rotated by row angles, the second by column angles (or a mistake)."""
    d = x.shape[-1]
    q = d // 4

    def rotate(h, pos):  # h: (..., N, D/2), pos: (N,)
        omega = 10000.0 ** (-torch.arange(q, dtype=torch.float64) / (quarter or q))  # (D/4,)
        ang = pos.double()[:, None] * omega  # (N, D/4)
        cos, sin = ang.cos().to(h.dtype), (sign * ang.sin()).to(h.dtype)
        if pairs == "adjacent":
            a, b = h[..., 0::2], h[..., 1::2]
            return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)
        a, b = h[..., :q], h[..., q:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)

    return torch.cat([rotate(x[..., : d // 2], rows), rotate(x[..., d // 2:], cols)], -1)


@exercise("02.4", "Rotary position embeddings in 2-D", answer="my_rope_2d", hints=(
    "Position is not added: each pair of dims (a, b) is turned by an angle, a' = a cos θ - b sin θ and "
    "b' = a sin θ + b cos θ. The first half of the dims turns with the row, the second with the column. Within "
    "a half of width D/2, dim i pairs with dim i + D/4, and pair i turns by position · ω_i with "
    "ω_i = 10000^(-i/(D/4)): the same angles as a sin-cos table of width D/2 (2.3), sines first.",
    "def turn(h, pos): q = h.shape[-1] // 2; t = my_sincos_1d(int(pos.max()) + 1, 2 * q)[pos]; "
    "sin, cos = t[:, :q], t[:, q:]; a, b = h[..., :q], h[..., q:]; "
    "return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)  — then "
    "return torch.cat([turn(x[..., :D // 2], rows), turn(x[..., D // 2:], cols)], -1)"))
def check_rope_2d(rope_2d) -> bool | None:
    """Exercise 02.4 · Rotary position embeddings in 2-D: ``rope_2d(x, rows, cols)`` -> x rotated, same shape.

    ``x`` is (..., N, D) queries or keys, ``rows`` and ``cols`` (N,) the grid position of each token. The check
    compares with the reference and measures what RoPE is for: a query-key score depends only on the
    difference of their positions. Used in notebooks/02_embeddings.
    """
    g = torch.Generator().manual_seed(23)
    d, gh, gw = 16, 3, 4
    rows = torch.arange(gh).repeat_interleave(gw)  # (N,): row of each patch, row-major
    cols = torch.arange(gw).repeat(gh)  # (N,)
    x = torch.randn(2, 3, gh * gw, d, generator=g)  # (B, h, N, d)
    got = rope_2d(x.clone(), rows.clone(), cols.clone())
    expect_shape(got, tuple(x.shape), "rotated x")
    got = got.detach().to(x.dtype)
    want = _rope(x, rows, cols)
    if not torch.allclose(got, want, atol=1e-5):
        table = sincos_2d((gh, gw), d)  # (N, D): the additive 2-D code of 2.3
        for alt, msg in (
                (x + table, "a 2-D sin-cos code was added to x (2.3's way, which fixes absolute positions); RoPE "
                            "turns each pair of dims instead: a cos θ - b sin θ, a sin θ + b cos θ"),
                (_rope(x, rows, rows), "both halves turned with the row; the second half turns with the column"),
                (_rope(x, cols, rows), "rows and columns are swapped: the first half of the dims turns with the row"),
                (_rope(x, rows, cols, pairs="adjacent"), "pairs are adjacent dims (2i, 2i + 1), RoFormer's layout; "
                 "here dim i pairs with dim i + D/4 inside each half, the course's sines-first layout"),
                (_rope(x, rows, cols, sign=-1.0), "the pairs turn the other way (by -θ); use a cos θ - b sin θ, "
                                                  "a sin θ + b cos θ"),
                (_rope(x, rows, cols, quarter=d // 2), "the frequencies are off: within a half of width D/2 "
                                                       "they are 10000^(-i/(D/4)), the angles of a sin-cos table "
                                                       "of width D/2"),
                (_rope_1d(x, torch.arange(gh * gw)), "this is 1-D RoPE on the token index k; a patch's place "
                                                     "is two numbers, row k // W and column k % W")):
            if torch.allclose(got, alt, atol=1e-5):
                raise ExerciseError(msg)
        if not torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-4):
            raise ExerciseError("the vectors changed length; a rotation keeps every length (adding or scaling "
                                "does not): turn each pair of dims by an angle")
        raise ExerciseError(f"rotated x has the right shape and lengths but wrong values (largest difference "
                            f"{(got - want).abs().max().item():.3g})")
    # what RoPE is for, measured: the score of a query at p and a key at p' depends only on p - p'
    q, k = torch.randn(d, generator=g), torch.randn(d, generator=g)
    shifts = torch.tensor([[0, 0], [1, 2], [3, 5], [7, 4]])  # (S, 2): the same shift added to both positions
    pq, pk = torch.tensor([1, 3]), torch.tensor([2, 0])
    scores = []
    for s in shifts:
        a = rope_2d(q[None], (pq + s)[:1], (pq + s)[1:])  # (1, D): the query at position pq + s
        b = rope_2d(k[None], (pk + s)[:1], (pk + s)[1:])  # (1, D): the key at position pk + s
        scores.append((a * b).sum().item())
    spread = max(scores) - min(scores)
    if spread > 1e-4:
        raise ExerciseError(f"moving query and key by the same shift changed their score by {spread:.3g}; with "
                            "RoPE it depends only on the difference of their positions")
    return (f"a query at (1, 3) and a key at (2, 0) score {scores[0]:.4f} wherever both are moved, so attention "
            "sees only the offset (-1, 3)")


def _rope_1d(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """1-D RoPE over all D dims on one position per token (a typical mistake for images)."""
    q = x.shape[-1] // 2
    ang = pos.double()[:, None] * 10000.0 ** (-torch.arange(q, dtype=torch.float64) / q)  # (N, D/2)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    a, b = x[..., :q], x[..., q:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)
