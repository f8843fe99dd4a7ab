"""Masks of recurrent layers: checking them, spotting right padding, reversing within lengths.

A mask is ``(B, T)``, True at the steps that count. Most real masks are *right-padded*: sequence
``b`` has ``len_b`` valid steps followed by padding (``mask[b] == arange(T) < len_b``). Those keep
the fused kernels (see ``rnn_fused.py``); any other mask runs the exact step loop.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import fmt_shape, layer_label


def check_mask(layer, mask, B: int, T: int, device=None):
    """The mask as a bool ``(B, T)`` tensor on ``device`` (None stays None); a teaching error on a wrong shape."""
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):  # a list of masks (e.g. from several inputs): the first counts
        mask = next((m for m in mask if m is not None), None)
        if mask is None:
            return None
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{layer_label(layer)}: mask must be a tensor of shape (batch, time), "
                        f"got {type(mask).__name__}.")
    if mask.dim() == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if tuple(mask.shape) != (B, T):
        raise ValueError(
            f"{layer_label(layer)}: expected a mask of shape (batch, time) = ({B}, {T}) matching the input, "
            f"got {fmt_shape(mask.shape)}. The mask marks the valid time steps of each sequence; build it "
            f"from the same batch (e.g. x_ids != 0 for padded token ids)."
        )
    if device is not None and mask.device != device:
        mask = mask.to(device)
    return mask if mask.dtype == torch.bool else mask != 0


def right_padding(mask: torch.Tensor):
    """``(lengths, kind)`` for a ``(B, T)`` bool mask, with one device sync.

    kind is ``"full"`` (every step valid: no mask at all), ``"right"`` (``mask[b]`` is its first
    ``len_b`` steps) or ``"other"``.
    """
    B, T = mask.shape
    lengths = mask.sum(dim=1)  # (B,)
    steps = torch.arange(T, device=mask.device)
    right = (mask == (steps < lengths[:, None])).all()
    full = lengths.min() == T if B else torch.ones((), dtype=torch.bool)
    is_right, is_full = torch.stack([right, full]).tolist()  # the one sync
    return lengths, ("full" if is_full else "right" if is_right else "other")


def reverse_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """``(B, T)`` index that reverses each sequence within its own length, padding left in place.

    ``idx[b, t] = len_b - 1 - t`` for ``t < len_b``, else ``t`` (flax's ``flip_sequences``). The map
    is its own inverse, so the same index takes a reversed run back into time order.
    """
    steps = torch.arange(T, device=lengths.device)[None, :]  # (1, T)
    rev = lengths[:, None] - 1 - steps  # (B, T)
    return torch.where(rev >= 0, rev, steps)


def gather_steps(x: torch.Tensor, idx: torch.Tensor, zero: torch.Tensor | None = None) -> torch.Tensor:
    """``x[b, idx[b, t]]`` for ``x`` of shape ``(B, T, F)`` and ``idx`` of shape ``(B, T')``; where
    ``zero`` (``(B, T')`` bool, broadcastable) is True the row is zeros instead (``idx`` is then ignored).

    Whole feature rows are copied with one ``index_select`` on the flattened rows: on CPU several
    times faster than an element-wise ``gather`` with an expanded index, and than ``torch.where``
    over the result (a zero row is appended to the source instead). A time-major ``x`` (the
    ``(B, T, F)`` view of a contiguous ``(T, B, F)`` tensor, as the fused kernels return with
    ``batch_first``) is read in place, so the transpose costs no extra copy.
    """
    B, T, F = x.shape
    batch = torch.arange(B, device=idx.device)[:, None]  # (B, 1)
    if not x.is_contiguous() and x.transpose(0, 1).is_contiguous():
        source = x.transpose(0, 1).reshape(T * B, F)  # time-major storage: row of (b, t) is t * B + b
        rows = idx * B + batch
    else:
        source = x.reshape(B * T, F)
        rows = idx + batch * T
    if zero is not None:
        source = torch.cat([source, source.new_zeros(1, F)])  # row B*T: zeros
        rows = torch.where(zero, B * T, rows)
    return source.index_select(0, rows.reshape(-1)).reshape(B, idx.shape[1], F)
