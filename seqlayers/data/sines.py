"""TimeGAN's sines: ``n`` series of ``length`` steps and ``features`` sine waves, each of its own
random frequency and phase, scaled to [0, 1].

Feature ``k`` of series ``i`` is ``(sin(f * t + p) + 1) / 2`` for ``t = 0 .. length - 1``, with
``f`` and ``p`` drawn uniformly from ``[0, 0.1)`` for every series and feature (Yoon et al.'s
``sine_data_generation``: 10 000 series of 24 steps and 5 features in their experiments).
"""
from __future__ import annotations

import numpy as np


def sines(n: int = 10000, length: int = 24, features: int = 5, seed: int = 0) -> np.ndarray:
    """``(n, length, features)`` float32 sine series in [0, 1] (see the module docstring).

    Args:
        n: number of series.
        length: steps per series (``T``).
        features: sine waves per series (``F``).
        seed: seeds numpy's generator for the frequencies and phases.

    Shape:
        returns ``(n, T, F)``.
    """
    for name, v in (("n", n), ("length", length), ("features", features)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"sines: {name} must be a positive integer, got {v!r}.")
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0, 0.1, size=(n, 1, features))
    phase = rng.uniform(0, 0.1, size=(n, 1, features))
    t = np.arange(length, dtype=np.float64)[None, :, None]  # (1, T, 1)
    return ((np.sin(freq * t + phase) + 1.0) / 2.0).astype(np.float32)


__all__ = ["sines"]
