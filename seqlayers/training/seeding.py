"""Seeds and random-number-generator states (Python, numpy, torch, CUDA) without pickle.

``set_seed(s)`` seeds every generator a training run draws from, so two CPU runs with the same
seed give bit-identical weights. ``rng_state()`` / ``set_rng_state()`` capture and restore them as
``(tensors, meta)``: byte states become uint8/int64 tensors for safetensors, the rest is JSON.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ..utils.seed import set_random_seed as set_seed  # the one implementation (Keras: utils.set_random_seed)


def rng_state(generator: torch.Generator | None = None, prefix: str = "rng.") -> tuple[dict, dict]:
    """The states of all global generators (and ``generator``): ``(tensors, json_meta)``."""
    tensors = {prefix + "torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{prefix}cuda.{i}"] = s.clone()
    if generator is not None:
        tensors[prefix + "shuffle"] = generator.get_state().clone()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors[prefix + "numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    tensors[prefix + "python"] = torch.tensor(list(internal), dtype=torch.int64)
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [int(version), gauss_next]}
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict, generator: torch.Generator | None = None, prefix: str = "rng.") -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(tensors[prefix + "torch"].to(torch.uint8))
    if torch.cuda.is_available():
        cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith(prefix + "cuda."))]
        if cuda:
            torch.cuda.set_rng_state_all([c.to(torch.uint8) for c in cuda])
    if generator is not None and prefix + "shuffle" in tensors:
        generator.set_state(tensors[prefix + "shuffle"].to(torch.uint8))
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors[prefix + "numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, gauss_next = meta["python"]
    random.setstate((version, tuple(int(v) for v in tensors[prefix + "python"].tolist()), gauss_next))


__all__ = ["set_seed", "rng_state", "set_rng_state"]
