"""Models: Sequential, the functional Model (on symbolic tensors from ``Input``), and what explains them.

As Keras's ``keras.models`` namespace, this module also gives ``clone_model`` and ``model_from_json``
(``json_model.py``) and ``load_model``; that one lives in ``seqlayers.io`` (above models in the house),
so it is looked up on first use (PEP 562) rather than imported here, which would point an import upwards.
"""
from .base import BaseModel
from .functional import Model
from .json_model import clone_model, model_from_json
from .sequential import Sequential
from .symbolic import Input, InputLayer, SymbolicTensor

Functional = Model  # keras.src.models.Functional: the functional model is Model here


def __getattr__(name):
    if name == "load_model":
        import importlib

        return importlib.import_module("seqlayers.io.saving").load_model
    raise AttributeError(f"module 'seqlayers.models' has no attribute {name!r}")


__all__ = ["BaseModel", "Functional", "Input", "InputLayer", "Model", "Sequential", "SymbolicTensor", "clone_model",
           "load_model", "model_from_json"]
