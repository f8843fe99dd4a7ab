"""Crash-safe files for checkpoints and backups: safetensors + JSON, never pickle.

Every file is written to a temporary name in the same directory, flushed and ``fsync``-ed, then
moved over the target with ``os.replace`` (atomic on POSIX and Windows): a run killed at any
moment leaves either the old file or the new one, never a partial file.

* ``save_weights(model, path)``: the model's ``state_dict`` as safetensors, plus a JSON sidecar
  ``path + ".json"`` (the class, the layer config when the model has one, the tensor names).
* ``save_training_state(path, model, optimizer, epoch, generator)``: what ``BackupAndRestore``
  needs to resume bit-exactly: weights, optimizer state, epoch, and the RNG states of Python,
  numpy, torch (and the shuffling generator). Tensors go to ``path`` (safetensors), everything
  else to the safetensors metadata (JSON).
"""
from __future__ import annotations

import json
from typing import Any, cast

import torch
from safetensors.torch import load_file, safe_open, save_file

from ..atomic import atomic_write
from .seeding import rng_state, set_rng_state


def _contiguous(sd: dict) -> dict:
    out, seen = {}, {}
    for k, v in sd.items():
        v = v.detach().cpu()
        key = (v.data_ptr(), v.shape, v.stride()) if v.numel() else None
        if key is not None and key in seen:  # tied weights: safetensors refuses shared storage
            v = v.clone()
        seen[key] = k
        out[k] = v.contiguous()
    return out


def save_weights(model: torch.nn.Module, path: str) -> None:
    """The model's weights (safetensors) and a JSON sidecar, both written atomically."""
    sd = _contiguous(model.state_dict())
    atomic_write(path, lambda tmp: save_file(sd, tmp, metadata={"format": "pt", "producer": "seqlayers"}))
    info = {"class_name": type(model).__name__, "format": "seqlayers-weights", "tensors": list(sd)}
    try:
        info["config"] = cast(Any, model).get_config()  # a seqlayers model (nn.Module stubs: Tensor | Module)
        json.dumps(info["config"])
    except Exception:  # a config that cannot be serialised is simply left out
        info.pop("config", None)
    atomic_write(path + ".json", lambda tmp: _write_text(tmp, json.dumps(info, indent=1)))


def load_weights(model: torch.nn.Module, path: str) -> None:
    sd = load_file(path)
    model.load_state_dict(sd)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def save_model_atomically(model, path: str) -> None:
    """The whole model through its own ``save`` (each file through a temp file + ``os.replace``); a plain
    ``nn.Module`` without one gets its weights and a sidecar."""
    if callable(getattr(model, "save", None)):
        model.save(path)
    else:
        save_weights(model, path)


# ---------------------------------------------------------------- resumable training state
def _optimizer_tensors(opt: torch.optim.Optimizer):
    sd = opt.state_dict()
    tensors, state_meta = {}, {}
    for pid, st in sd["state"].items():
        entry = {}
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{pid}.{name}"] = v.detach().cpu().contiguous()
                entry[name] = "tensor"
            else:
                entry[name] = v
        state_meta[str(pid)] = entry
    groups = []
    for g in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    return tensors, {"state": state_meta, "param_groups": groups}


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = {}
    for pid, entry in meta["state"].items():
        state[int(pid)] = {name: (tensors[f"optim.{pid}.{name}"] if v == "tensor" else v) for name, v in entry.items()}
    groups = []
    current = opt.state_dict()["param_groups"]
    for g, cur in zip(meta["param_groups"], current):
        g = dict(g)
        for k, v in cur.items():  # keep tuple-valued hyperparameters tuples (betas)
            if isinstance(v, tuple) and isinstance(g.get(k), list):
                g[k] = tuple(g[k])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def training_state(model: torch.nn.Module, optimizer, epoch: int, generator: torch.Generator | None = None,
                   extra: dict | None = None, extra_tensors: dict | None = None) -> tuple[dict, dict]:
    """``(meta, tensors)`` to resume after ``epoch``: weights, optimizer state, RNG states, and ``extra``
    (JSON) / ``extra_tensors`` (stored as ``extra.<name>``), e.g. the callbacks' states."""
    tensors = {f"model.{k}": v for k, v in _contiguous(model.state_dict()).items()}
    tensors.update({f"extra.{k}": v.detach().cpu().contiguous() for k, v in (extra_tensors or {}).items()})
    meta = {"epoch": int(epoch), "extra": extra or {}}
    if optimizer is not None:
        t, m = _optimizer_tensors(optimizer)
        tensors.update(t)
        meta["optimizer"] = m
    t, m = rng_state(generator)
    tensors.update(t)
    meta["rng"] = m
    return meta, tensors


def apply_training_state(tensors: dict, meta: dict, model: torch.nn.Module, optimizer,
                         generator: torch.Generator | None = None) -> dict:
    """Restore weights, optimizer and RNG states from ``training_state``'s output; returns the extra tensors."""
    sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(sd)
    if optimizer is not None and "optimizer" in meta:
        opt_t = {k: v for k, v in tensors.items() if k.startswith("optim.")}  # moved to the params' device by torch
        _load_optimizer(optimizer, opt_t, meta["optimizer"])
    set_rng_state(tensors, meta["rng"], generator)
    return {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}


def write_training_state(path: str, meta: dict, tensors: dict) -> None:
    """Write ``training_state``'s output to ``path`` (safetensors, JSON metadata), atomically."""
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"seqlayers": json.dumps(meta)}))


def read_training_state(path: str) -> tuple[dict, dict]:
    """``(meta, tensors)`` as ``write_training_state`` stored them."""
    with safe_open(path, framework="pt") as f:
        meta = json.loads(f.metadata()["seqlayers"])
    return meta, load_file(path)


def save_training_state(path: str, model: torch.nn.Module, optimizer, epoch: int,
                        generator: torch.Generator | None = None, extra: dict | None = None,
                        extra_tensors: dict | None = None) -> None:
    """``training_state`` written to ``path``."""
    meta, tensors = training_state(model, optimizer, epoch, generator, extra, extra_tensors)
    write_training_state(path, meta, tensors)


def load_training_state(path: str, model: torch.nn.Module, optimizer, generator: torch.Generator | None = None) -> dict:
    """Restore weights, optimizer, RNG states; returns the JSON metadata (``epoch``...)."""
    meta, tensors = read_training_state(path)
    meta["extra_tensors"] = apply_training_state(tensors, meta, model, optimizer, generator)
    return meta


__all__ = [
    "apply_training_state",
    "atomic_write",
    "load_training_state",
    "load_weights",
    "read_training_state",
    "save_model_atomically",
    "save_training_state",
    "save_weights",
    "training_state",
    "write_training_state",
]
