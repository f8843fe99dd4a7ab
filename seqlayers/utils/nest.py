"""Small helpers on nested structures (lists, tuples, dicts) of tensors, and a few string and machine helpers."""
from __future__ import annotations

import platform
import re
from typing import Any, Callable

import numpy as np
import torch


def map_structure(fn: Callable, obj: Any, leaf: Callable[[Any], bool] | None = None):
    """Apply ``fn`` to every leaf of a nest of lists, tuples and dicts, keeping the nest."""
    if leaf is not None and leaf(obj):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        out = [map_structure(fn, o, leaf) for o in obj]
        return type(obj)(out) if isinstance(obj, tuple) and not hasattr(obj, "_fields") else out
    if isinstance(obj, dict):
        return {k: map_structure(fn, v, leaf) for k, v in obj.items()}
    return fn(obj)


def flatten(obj: Any, leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of a nest of lists, tuples and dicts, in order."""
    out: list = []
    map_structure(out.append, obj, leaf)
    return out


def to_tensor(x, dtype: torch.dtype | None = None):
    """numpy arrays, Python numbers and lists become tensors; tensors pass through."""
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x).reshape(x.shape))  # ascontiguousarray makes 0-d 1-d
        return t if dtype is None else t.to(dtype)
    return torch.as_tensor(x, dtype=dtype)


def snake_case(name: str) -> str:
    """``TimeDistributed`` -> ``time_distributed``, ``LSTM`` -> ``lstm``, ``SimpleRNN`` -> ``simple_rnn``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
