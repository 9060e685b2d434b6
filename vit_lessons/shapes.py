"""Shape checks for the lessons, and (lesson 04) a hook-driven shape trace of any model.

Shape legend: B batch, C channels, H W height width, P patch size, N tokens, D embed dim,
h heads, d head dim.
"""

from __future__ import annotations

import torch

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
        raise AssertionError(f"{name} has shape {got}, expected {tuple('*' if e is None else e for e in exp)}{diff}")
    return t
