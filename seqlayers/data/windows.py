"""Cut a multivariate series into supervised (past window -> future window) samples.

    x, y = windows(series, lookback=96, horizon=24, targets="OT")
    # series (T, F) -> x (N, 96, F), y (N, 24) with N = (T - 96 - 24) // stride + 1

Sample ``i`` reads rows ``[i*stride, i*stride + lookback)`` as input and the ``horizon`` rows right
after them as output, so every window lies wholly inside the array (no padding, no leakage).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(array, lookback: int, horizon: int, stride: int = 1, targets=None,
            columns: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(inputs, outputs)`` windows of a ``(T, F)`` series.

    Args:
        array: ``(T, F)`` or ``(T,)`` array, or a DataFrame-like object with ``.to_numpy()`` (its
            ``.columns`` name the features).
        lookback: input steps per sample (``L``).
        horizon: output steps per sample (``H``).
        stride: steps between the starts of consecutive samples.
        targets: which features the outputs hold: ``None`` for all of them, one column (index or
            name) for ``(N, H)`` outputs, a list of columns for ``(N, H, K)``.
        columns: feature names of a plain array, so that ``targets`` may name them.

    Shape:
        inputs ``(N, L, F)``; outputs ``(N, H)`` for a single target, ``(N, H, K)`` for a list of K
        targets, ``(N, H, F)`` for ``targets=None``; ``N = (T - L - H) // stride + 1``.
    """
    if hasattr(array, "to_numpy"):
        if columns is None and hasattr(array, "columns"):
            columns = [str(c) for c in array.columns]
        array = array.to_numpy()
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"windows: expected a series of shape (time, features), got {array.shape}.")
    for name, value, low in (("lookback", lookback, 1), ("horizon", horizon, 1), ("stride", stride, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"windows: {name} must be an integer >= {low}, got {value!r}.")
    T, F = array.shape
    if T < lookback + horizon:
        raise ValueError(f"windows: the series has {T} rows, but one window needs lookback {lookback} + "
                         f"horizon {horizon} = {lookback + horizon} rows. Use a shorter lookback or "
                         f"horizon, or a longer series.")
    single = targets is not None and not isinstance(targets, (list, tuple))
    index = list(range(F)) if targets is None else _column_indices([targets] if single else targets, F, columns)
    n = (T - lookback - horizon) // stride + 1
    view = sliding_window_view(array, lookback + horizon, axis=0)[::stride][:n]  # (N, F, L + H)
    view = view.transpose(0, 2, 1)  # (N, L + H, F)
    x = np.ascontiguousarray(view[:, :lookback])  # (N, L, F)
    y = np.ascontiguousarray(view[:, lookback:][:, :, index])  # (N, H, K)
    return x, (y[:, :, 0] if single else y)


def _column_indices(targets, F: int, columns) -> list[int]:
    out = []
    for t in targets:
        if isinstance(t, str):
            if columns is None:
                raise ValueError(f"windows: target {t!r} is a name, but the series has no column names; pass "
                                 f"columns=[...] or give the target as an index.")
            if t not in columns:
                raise ValueError(f"windows: no column named {t!r}. Columns: {', '.join(columns)}.")
            out.append(list(columns).index(t))
        elif isinstance(t, (int, np.integer)) and -F <= t < F:
            out.append(int(t) % F)
        else:
            raise ValueError(f"windows: target {t!r} is not a column of a series with {F} features.")
    return out


def chronological_splits(n_rows: int, borders: Sequence[int], lookback: int) -> list[tuple[int, int]]:
    """Row ranges of consecutive splits, each later split starting ``lookback`` rows early.

    ``borders=(8640, 11520, 14400)`` with ``lookback=96`` gives ``[(0, 8640), (8544, 11520),
    (11424, 14400)]``: the first window of val/test predicts the first row of that split, as in the
    Informer / DLinear protocol for ETT.
    """
    if list(borders) != sorted(borders) or borders[-1] > n_rows:
        raise ValueError(f"chronological_splits: borders {list(borders)} must increase and end within the "
                         f"{n_rows} rows of the series.")
    out, start = [], 0
    for i, end in enumerate(borders):
        begin = start if i == 0 else max(0, start - lookback)
        out.append((begin, end))
        start = end
    return out
