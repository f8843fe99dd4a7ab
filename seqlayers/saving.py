"""``keras.saving``'s names: ``load_model`` / ``save_model`` (``seqlayers.io.saving``) and the registry of
custom objects (``register_keras_serializable``, ``get_registered_name``, ``get_registered_object``)."""
from .io.saving import load_model, save_model
from .serialization import get_registered_name, get_registered_object, register_keras_serializable

__all__ = ["get_registered_name", "get_registered_object", "load_model", "register_keras_serializable", "save_model"]
