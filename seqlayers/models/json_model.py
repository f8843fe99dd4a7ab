"""``model.to_json()``, ``models.model_from_json`` and ``models.clone_model``: a model by its config.

The JSON is seqlayers's own layer config (``seqlayers.serialization``), the one ``model.save`` writes;
``model_from_json`` rebuilds the same architecture with fresh weights, as Keras's does. A Keras
model's JSON is read through ``from_keras`` (a ``.keras`` file), not here.
"""
from __future__ import annotations

import json

from .. import bounded_json
from ..errors import ModelFileError
from ..serialization import layer_from_config, layer_to_config


def model_to_json(model, **kwargs) -> str:
    """The model's config as a JSON string (``json.dumps`` keyword arguments pass through)."""
    return json.dumps(layer_to_config(model), **kwargs)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """A new model (fresh weights) from ``model.to_json()``'s string."""
    try:
        entry = bounded_json.loads(json_string, "model_from_json", ModelFileError)
    except (TypeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"model_from_json: not a JSON model config ({e}); give model.to_json()'s string.") from e
    return layer_from_config(entry, custom_objects, where="model_from_json")


def clone_model(model, input_tensors=None, clone_function=None, **kwargs):
    """A new model of the same architecture with freshly initialised weights (Keras's ``clone_model``).

    ``input_tensors`` and ``clone_function`` (Keras's ways of rewiring the copy) are not supported;
    build the copy's graph yourself for those.
    """
    if input_tensors is not None or clone_function is not None or kwargs:
        raise ValueError("clone_model: input_tensors, clone_function and the other rewiring options are not "
                         "supported; clone_model(model) copies the architecture (fresh weights).")
    return layer_from_config(layer_to_config(model), where="clone_model")


__all__ = ["clone_model", "model_from_json", "model_to_json"]
