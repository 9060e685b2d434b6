"""An image as a sequence of patches.

Shape legend: B batch, C channels, H W height width, P patch size,
N = HW / P^2 patches (the class token comes later, in embeddings: N + 1 tokens), D embed dim.

Built in notebooks/01_patches.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

__all__ = ["patchify", "unpatchify", "PatchGrid", "PatchEmbed", "ConvStem", "check_image_batch"]


def check_image_batch(x, *, channels: int | None = None, size: int | None = None, patch_size: int | None = None,
                      what: str = "images") -> None:
    """Raise a clear error unless ``x`` is a float (B, C, H, W) tensor that fits."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}; "
                        "convert with torch.as_tensor(...) or a torchvision ToTensor transform")
    if x.ndim != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"{what} must have 4 dims (B, C, H, W), got shape {tuple(x.shape)}{hint}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{what} must be floating point, got {x.dtype}; "
                        "convert with x.float() / 255 or a ToTensor transform")
    _, c, h, w = x.shape
    if channels is not None and c != channels:
        raise ValueError(f"{what} have {c} channels but the model expects in_chans={channels}; "
                         + ("repeat grey images to RGB with x.expand(-1, 3, -1, -1)" if c == 1 and channels == 3
                            else "convert the images or build the model with in_chans=" + str(c)))
    if patch_size is not None and (h % patch_size or w % patch_size):
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size {patch_size}: "
                         f"resize or pad to a multiple of {patch_size}")
    if size is not None and (h, w) != (size, size):
        raise ValueError(f"{what} are {h}x{w} but the model was built for {size}x{size}: resize the "
                         f"images, or call model.set_img_size({h}) to interpolate the position embeddings")


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P*P*C): patches in row-major order, each flattened as (p1 p2 c)."""
    check_image_batch(x, patch_size=patch_size)
    return rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int, height: int | None = None) -> torch.Tensor:
    """(B, N, P*P*C) -> (B, C, H, W); the inverse of :func:`patchify` (square grid unless height given)."""
    if patches.ndim != 3:
        raise ValueError(f"patches must be (B, N, P*P*C), got shape {tuple(patches.shape)}")
    b, n, k = patches.shape
    if k != patch_size * patch_size * channels:
        raise ValueError(f"last dim {k} != patch_size**2 * channels = {patch_size**2 * channels}")
    gh = (height // patch_size) if height is not None else int(round(n**0.5))
    if gh <= 0 or n % gh:
        raise ValueError(f"{n} patches do not form a grid with {gh} rows; pass height=")
    gw = n // gh
    return rearrange(patches, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=gh, w=gw, p1=patch_size, p2=patch_size)


class PatchGrid(nn.Module):
    """What every patch embedding knows about its grid: image size, patch size, channels, patches per side.

    Shared by :class:`PatchEmbed` (and its hybrid form) and lesson 09's shifted patch tokenization.

    Built in notebooks/01_patches.
    """

    def __init__(self, img_size: int, patch_size: int, in_chans: int):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not divisible by patch_size {patch_size}")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2


class ConvStem(nn.Sequential):
    """A small CNN in front of the patch embedding: per width, a 3x3 conv (stride 1, no bias), BatchNorm, ReLU.

    (B, C, H, W) -> (B, widths[-1], H, W): the image keeps its size, so the patch grid is unchanged.

    Built in notebooks/09_small_data.
    """

    def __init__(self, in_chans: int, widths: tuple[int, ...]):
        layers, c = [], in_chans
        for w in widths:
            layers.append(nn.Sequential(nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                                        nn.ReLU(inplace=True)))
            c = w
        super().__init__(*layers)


class PatchEmbed(PatchGrid):
    """Cut an image into P x P patches and project each to D dims with one strided Conv2d.

    A Conv2d with kernel = stride = P is exactly "flatten each patch, multiply by a
    (P*P*C, D) matrix" (notebooks/01_patches proves it), and it is faster. With a ``stem``
    the patches are cut from a small CNN's feature map instead of the pixels: the paper's
    hybrid architecture (Sec. 3.1, notebooks/09_small_data).

    Args:
        img_size: side of the square input image.
        patch_size: side of a patch; must divide img_size.
        in_chans: input channels.
        embed_dim: D, the output width per patch.
        stem: widths of a :class:`ConvStem` run first; () for none (the plain ViT).

    Built in notebooks/01_patches.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768,
                 stem: tuple[int, ...] = ()):
        super().__init__(img_size, patch_size, in_chans)
        self.proj = nn.Conv2d(stem[-1] if stem else in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        if stem:  # registered after proj, so a stem-less model's parameters come in the same order as ever
            self.stem = ConvStem(in_chans, tuple(stem))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, D)."""
        if hasattr(self, "stem"):
            x = self.stem(x)  # (B, C', H, W): the CNN's feature map, same size
        x = self.proj(x)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), NCHW -> NLC
