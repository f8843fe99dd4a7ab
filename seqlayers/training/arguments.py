"""Checks of the arguments of ``compile`` / ``fit`` / ``evaluate`` / ``predict`` that are not data.

Each check raises the library's teaching error (the argument, what it must be, what came in, the fix)
before training starts, instead of a raw error from deep inside the loop. The data itself (arrays,
their dtypes and lengths) is checked by ``data_adapter``.
"""
from __future__ import annotations

import math
import numbers

import torch

from .callbacks import Callback


def callback_list(callbacks, who: str) -> list:
    """``callbacks=`` as a list: one ``Callback`` is accepted as Keras 3 accepts it (``[cb]``)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, type) and issubclass(callbacks, Callback):
        raise TypeError(f"{who}: callbacks got the class {callbacks.__name__}, not an instance; create one, "
                        f"e.g. callbacks=[{callbacks.__name__}(...)].")
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"{who}: callbacks must be a list of Callback objects, got {type(callbacks).__name__}. "
                        f"Write callbacks=[EarlyStopping(...), ...].")
    for cb in callbacks:
        if isinstance(cb, type) and issubclass(cb, Callback):
            raise TypeError(f"{who}: callbacks holds the class {cb.__name__}, not an instance; create one, "
                            f"e.g. callbacks=[{cb.__name__}(...)].")
        if not isinstance(cb, Callback):
            raise TypeError(f"{who}: callbacks must be Callback objects (subclass seqlayers.callbacks.Callback), "
                            f"got {type(cb).__name__} {cb!r:.60}.")
    return list(callbacks)


def check_class_weight(class_weight) -> None:
    """``class_weight`` must be ``{class id: finite weight >= 0}``."""
    if class_weight is None:
        return
    if not isinstance(class_weight, dict):
        fix = " Write class_weight=dict(enumerate(weights))." if isinstance(class_weight, (list, tuple)) else ""
        raise TypeError(f"fit: class_weight must be a dict {{class id: weight}}, e.g. {{0: 1.0, 1: 5.0}}, got "
                        f"{type(class_weight).__name__} {class_weight!r:.60}.{fix}")
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise TypeError(f"fit: class_weight keys must be class ids (integers >= 0), got {k!r}. Map label names "
                            f"to the ids the targets use, e.g. {{0: 1.0, 1: 5.0}}.")
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"fit: class_weight[{k!r}] must be a finite number >= 0, got {v!r}.")


def check_fraction(value, name: str, who: str = "fit") -> None:
    """``validation_split``: 0 (none) or a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a number strictly between 0 and 1 (e.g. 0.2), got "
                        f"{type(value).__name__} {value!r}.")


def check_loss_weights(loss_weights) -> None:
    """``loss_weights``: a number, or a list / dict of numbers (one per output)."""
    if loss_weights is None:
        return
    values = loss_weights.values() if isinstance(loss_weights, dict) else \
        loss_weights if isinstance(loss_weights, (list, tuple)) else [loss_weights]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise TypeError(f"compile: loss_weights must be a number or a list / dict of finite numbers (one per "
                            f"output), got {loss_weights!r:.60}.")


def check_device(requested, who: str) -> None:
    """A device string or ``torch.device`` that this machine has; ``"auto"`` and None always pass."""
    if requested is None or (isinstance(requested, str) and requested == "auto"):
        return
    if not isinstance(requested, (str, torch.device, int)):
        raise TypeError(f"{who}: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got "
                        f"{type(requested).__name__}.")
    try:
        dev = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ValueError(f"{who}: unknown device {requested!r}; use 'auto' (CUDA when available, else CPU), "
                         f"'cpu', 'cuda' or 'cuda:N'.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"{who}: device={requested!r}, but CUDA is not available ({why}). Use device='auto' "
                             f"(CUDA when available, else CPU) or device='cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{who}: device={requested!r}, but this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s) (cuda:0 .. cuda:{torch.cuda.device_count() - 1}).")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{who}: device={requested!r}, but Apple's MPS is not available on this machine. "
                         f"Use device='auto' or device='cpu'.")


__all__ = ["callback_list", "check_class_weight", "check_device", "check_fraction", "check_loss_weights"]
