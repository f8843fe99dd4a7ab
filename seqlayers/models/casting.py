"""Inputs cast to the dtype a model's ``Input`` declares, as Keras's models cast them.

A float ``Input`` (the default) takes bool and integer arrays as float32; an integer one takes
floats as int64. An input read only by ``Embedding`` layers keeps (or gets) integer ids: Keras casts
them to float32 at the input and back to integers in the ``Embedding``; kept as int64 here, ids above
2**24 stay exact.
"""
from __future__ import annotations

import torch

from ..layers.base import get_mask, set_mask
from ..layers.embedding import Embedding


def wanted_dtype(declared: torch.dtype | None, readers: list) -> torch.dtype:
    """float32 or int64 for an input of ``declared`` dtype (None: float32) read by ``readers``."""
    ids = bool(readers) and all(isinstance(layer, Embedding) for layer in readers)
    if ids or (declared is not None and not declared.is_floating_point and declared != torch.bool):
        return torch.int64
    return torch.float32


def cast_input(t, want: torch.dtype):
    """``t`` as ``want`` when Keras would cast it; floats of another width and ids of another integer
    width pass unchanged (a float16 input, int32 ids), as does anything that is not a tensor."""
    if not isinstance(t, torch.Tensor) or t.dtype == want:
        return t
    if t.dtype != torch.bool and t.is_floating_point() == want.is_floating_point:
        return t
    out = t.to(want)
    m = get_mask(t)
    if m is not None:
        set_mask(out, m)
    return out


__all__ = ["cast_input", "wanted_dtype"]
