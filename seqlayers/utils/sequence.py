"""Keras's array helpers for sequence data: ``pad_sequences`` and ``to_categorical`` (numpy in, numpy out)."""
from __future__ import annotations

import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0) -> np.ndarray:
    """Pad (and cut) a list of sequences to one length, as Keras's ``pad_sequences``.

    Args:
        sequences: a list of sequences; each a list of ids, or of equally shaped steps.
        maxlen: the length of every row; None: the longest sequence.
        dtype: of the result (``"int32"`` as Keras; ``"float32"`` for real-valued steps).
        padding: ``"pre"`` (Keras's default: the values go at the end, padding before) or ``"post"``.
        truncating: ``"pre"`` drops the first steps of a longer sequence, ``"post"`` the last ones.
        value: the padding value.

    Shape:
        returns ``(B, maxlen, *step_shape)``.

    For a model that masks its padding with ``Embedding(mask_zero=True)``, either side works; our
    fused recurrent kernels are fastest on ``padding="post"`` (right-padded) batches.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got {type(sequences).__name__}.")
    for what, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f'pad_sequences: {what} must be "pre" or "post", got {v!r}.')
    lengths, step_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences: sequences must be a list of sequences; item {i} is "
                             f"{type(s).__name__} {s!r}. Wrap a single sequence in a list: [seq].")
        lengths.append(len(s))
        if step_shape is None and len(s):
            step_shape = np.asarray(s).shape[1:]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(maxlen, bool) or int(maxlen) != maxlen or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative integer or None, got {maxlen!r}.")
    maxlen = int(maxlen)
    is_text = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.object_)
    if isinstance(value, str) and not is_text:
        raise ValueError(f"pad_sequences: dtype {dtype!r} cannot hold the string padding value {value!r}; "
                         f"pass dtype=object (or str).")
    out = np.full((len(lengths), maxlen) + tuple(step_shape or ()), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(step_shape or ()):
            raise ValueError(f"pad_sequences: the steps of sequence {i} have shape {kept.shape[1:]}, but the "
                             f"first non-empty sequence's steps have shape {tuple(step_shape or ())}; every step "
                             f"needs the same shape.")
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out


def to_categorical(x, num_classes=None) -> np.ndarray:
    """Class ids to one-hot rows, as Keras's ``to_categorical``: ``(*S,)`` (or ``(*S, 1)``) -> ``(*S, C)``.

    Args:
        x: integer class ids.
        num_classes: ``C``; None: ``max(x) + 1``.
    """
    x = np.asarray(x)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        if not np.all(np.equal(np.mod(x, 1), 0)):
            raise ValueError("to_categorical: x must hold integer class ids, got non-integer values.")
    x = x.astype("int64")
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = x.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(f"to_categorical: class ids must lie in [0, {num_classes}) (num_classes={num_classes}), "
                         f"got values from {flat.min()} to {flat.max()}.")
    out = np.zeros((flat.shape[0], num_classes))
    out[np.arange(flat.shape[0]), flat] = 1
    return out.reshape(shape + (num_classes,))


__all__ = ["pad_sequences", "to_categorical"]
