"""Models: Sequential, the functional Model (on symbolic tensors from ``Input``), and what explains them.

As Keras's ``keras.models`` namespace, this module also gives ``load_model``, ``clone_model`` and
``model_from_json``; they live in ``seqlayers.io`` (above models in the house), so they are looked up
on first use (PEP 562) rather than imported here, which would point an import upwards.
"""
from .base import BaseModel
from .functional import Model
from .sequential import Sequential
from .symbolic import Input, InputLayer, SymbolicTensor

_FROM_IO = {"load_model": "saving", "clone_model": "json_model", "model_from_json": "json_model"}


def __getattr__(name):
    if name in _FROM_IO:
        import importlib

        return getattr(importlib.import_module(f"seqlayers.io.{_FROM_IO[name]}"), name)
    raise AttributeError(f"module 'seqlayers.models' has no attribute {name!r}")


__all__ = ["BaseModel", "Input", "InputLayer", "Model", "Sequential", "SymbolicTensor", "clone_model", "load_model",
           "model_from_json"]
