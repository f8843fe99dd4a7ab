"""``keras.backend``'s session-level functions; the backend is always torch.

There is no global graph or layer-name counter to reset (names are given per model), so
``clear_session`` only frees memory: Python's garbage and, on GPU, torch's cached blocks.
"""
from __future__ import annotations

import gc

import torch

from .training.losses import EPSILON


def backend() -> str:
    return "torch"


def floatx() -> str:
    """The float type of weights and float inputs: ``"float32"``."""
    return "float32"


def epsilon() -> float:
    """The fuzz factor of the losses (``1e-7``, as Keras)."""
    return EPSILON


def image_data_format() -> str:
    return "channels_last"


def clear_session(free_memory: bool = True) -> None:
    """Collect garbage and release torch's cached GPU memory (Keras also resets its name counters,
    which seqlayers does not have)."""
    if free_memory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


__all__ = ["backend", "clear_session", "epsilon", "floatx", "image_data_format"]
