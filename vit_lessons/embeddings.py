"""Class token and position embeddings: learned, 1-D sin-cos, 2-D sin-cos; resizing a grid.

Built in notebooks/02_embeddings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["sincos_1d", "sincos_2d", "resize_pos_embed", "pos_embed_similarity"]


def sincos_1d(num_positions: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(num_positions, dim) sin-cos table of "Attention is all you need": sin on the first half, cos on the second."""
    if dim % 2:
        raise ValueError(f"sin-cos embeddings need an even dim, got {dim}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (num_positions, 1)
    omega = 1.0 / temperature ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))  # (D/2,)
    angles = pos * omega[None]  # (num_positions, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (num_positions, D)


def sincos_2d(grid_size: int | tuple[int, int], dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(gh*gw, dim) 2-D sin-cos: half the dims encode the row, half the column (MoCo v3 / MAE style)."""
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if dim % 4:
        raise ValueError(f"2-D sin-cos embeddings need dim divisible by 4, got {dim}")
    rows = sincos_1d(gh, dim // 2, temperature)  # (gh, D/2)
    cols = sincos_1d(gw, dim // 2, temperature)  # (gw, D/2)
    emb = torch.cat([rows[:, None, :].expand(gh, gw, -1), cols[None, :, :].expand(gh, gw, -1)], dim=-1)  # (gh, gw, D)
    return emb.reshape(gh * gw, dim)  # (N, D), row-major like the patches


def resize_pos_embed(pos_embed: torch.Tensor, new_grid: int | tuple[int, int], num_prefix_tokens: int = 1,
                     mode: str = "bicubic", antialias: bool = True) -> torch.Tensor:
    """Interpolate (1, prefix + N, D) position embeddings (N = gh*gw patches) to a new grid, prefix kept as it is.

    Fine-tuning at a higher resolution gives more patches; the paper (Sec. 3.2) interpolates
    the pre-trained embeddings in 2-D by their place in the image. Same result as timm's
    ``resample_abs_pos_embed`` with the same mode.
    """
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must be (1, N, D), got shape {tuple(pos_embed.shape)}")
    nh, nw = (new_grid, new_grid) if isinstance(new_grid, int) else new_grid
    n_old = pos_embed.shape[1] - num_prefix_tokens
    old = int(math.isqrt(n_old))
    if old * old != n_old:
        raise ValueError(f"{n_old} patch embeddings are not a square grid (num_prefix_tokens={num_prefix_tokens}?)")
    if (old, old) == (nh, nw):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    grid = grid.reshape(1, old, old, dim).permute(0, 3, 1, 2)  # (1, D, gh, gw)
    dtype = grid.dtype
    grid = F.interpolate(grid.float(), size=(nh, nw), mode=mode, antialias=antialias, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, nh * nw, dim).to(dtype)  # (1, N', D): the new grid's N' patches
    return torch.cat([prefix, grid], dim=1)


def pos_embed_similarity(pos_embed: torch.Tensor, grid_size: int | None = None) -> torch.Tensor:
    """(gh, gw, gh, gw) cosine similarity of each patch's embedding with every other (paper Fig. 7, centre).

    ``pos_embed`` is (N, D) or (1, N, D) of patch positions only (drop the class token first).
    """
    pe = pos_embed.detach().float().reshape(-1, pos_embed.shape[-1])  # (N, D)
    n = pe.shape[0]
    g = grid_size or int(math.isqrt(n))
    if g * g != n:
        raise ValueError(f"{n} embeddings are not a {g}x{g} grid; drop the class token (pos_embed[:, 1:])")
    pe = F.normalize(pe, dim=-1)
    return (pe @ pe.T).reshape(g, g, g, g)
