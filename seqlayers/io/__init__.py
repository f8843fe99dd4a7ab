"""Interop: save/load (JSON config + safetensors, no pickle), Keras import/export, ONNX export.

``save_model`` / ``load_model`` live in ``saving.py`` (the config of a model in
``seqlayers.serialization``), ``from_keras`` in ``keras_import.py``, ``to_keras`` in
``keras_export.py``, ``export_onnx`` in ``onnx_export.py``. The Keras and ONNX modules import
h5py / onnx only when used (``errors.require_extra`` names the extra to install).
"""
from ..serialization import FUNCTION_REGISTRY, layer_from_config, layer_to_config, register_function
from . import weights_file  # noqa: F401  (hands model.save_weights / load_weights their writer and reader)
from .keras_export import to_keras
from .keras_import import from_keras
from .onnx_export import export_onnx
from .saving import load_model, read_config, save_model

__all__ = ["FUNCTION_REGISTRY", "export_onnx", "from_keras", "layer_from_config", "layer_to_config",
           "load_model", "read_config", "register_function", "save_model", "to_keras"]
