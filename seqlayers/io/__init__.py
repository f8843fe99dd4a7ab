"""Interop: save/load (JSON config + safetensors, no pickle), Keras import/export, ONNX export.

``save_model`` / ``load_model`` live in ``saving.py``, the config of a model in ``config.py``,
``from_keras`` in ``keras_import.py``, ``to_keras`` in ``keras_export.py``, ``export_onnx`` in
``onnx_export.py``. The Keras and ONNX modules import h5py / onnx lazily, only when used.
"""
from ..serialization import FUNCTION_REGISTRY, layer_from_config, layer_to_config, register_function
from .saving import load_model, read_config, save_model
from . import weights_file  # noqa: F401  (hands model.save_weights / load_weights their writer and reader)


def from_keras(path, custom_objects=None):
    """Load a Keras ``.keras`` or legacy ``.h5`` model as a seqlayers model (see ``keras_import``)."""
    from .keras_import import from_keras as _from_keras

    return _from_keras(path, custom_objects=custom_objects)


def to_keras(model, path):
    """Write ``model`` as a Keras 3 ``.keras`` file (see ``keras_export``)."""
    from .keras_export import to_keras as _to_keras

    return _to_keras(model, path)


def export_onnx(model, path, *args, **kwargs):
    """Export ``model`` to ONNX with dynamic batch and time axes (see ``onnx_export``)."""
    from .onnx_export import export_onnx as _export_onnx

    return _export_onnx(model, path, *args, **kwargs)


__all__ = ["FUNCTION_REGISTRY", "export_onnx", "from_keras", "layer_from_config", "layer_to_config",
           "load_model", "read_config", "register_function", "save_model", "to_keras"]
