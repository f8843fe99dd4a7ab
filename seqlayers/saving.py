"""``keras.saving``'s names: ``load_model`` / ``save_model`` (``seqlayers.io.saving``)."""
from .io.saving import load_model, save_model

__all__ = ["load_model", "save_model"]
