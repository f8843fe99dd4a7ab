"""The one seam between ``model.save(path)`` and the file writers of ``seqlayers.io``.

``seqlayers.io`` writes and reads model files and imports ``seqlayers.models`` to rebuild them
(``load_model``, ``from_keras``), so ``models`` and ``training`` (``ModelCheckpoint``) may not
import ``io`` back. Instead io hands its writer over here when it is imported: ``import seqlayers``,
or importing any ``seqlayers.*`` module, always imports io. ``BaseModel.save`` and the checkpoint
callbacks call ``save_model``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

_writer: list[Callable[..., Path]] = []
_weights: dict[str, Callable] = {}


def provide_writer(save_model: Callable[..., Path]) -> None:
    """Called once by ``seqlayers.io.saving``: the function that writes a model to a path."""
    _writer[:] = [save_model]


def save_model(model, path, **kwargs) -> Path:
    """Write ``model`` to ``path`` with io's writer (``seqlayers.io.saving.save_model``)."""
    if not _writer:
        raise RuntimeError("model.save: seqlayers.io is not imported; `import seqlayers` first.")
    return _writer[0](model, path, **kwargs)


def provide_weights_io(save_weights: Callable[..., Path], load_weights: Callable[..., None]) -> None:
    """Called once by ``seqlayers.io.weights_file``: ``model.save_weights`` / ``load_weights``'s functions."""
    _weights.update(save=save_weights, load=load_weights)


def save_weights(model, path, **kwargs) -> Path:
    """Write ``model``'s weights in the format ``path``'s suffix names (``seqlayers.io.weights_file``)."""
    if not _weights:
        raise RuntimeError("model.save_weights: seqlayers.io is not imported; `import seqlayers` first.")
    return _weights["save"](model, path, **kwargs)


def load_weights(model, path) -> None:
    """Read ``model``'s weights from ``path`` (``seqlayers.io.weights_file``)."""
    if not _weights:
        raise RuntimeError("model.load_weights: seqlayers.io is not imported; `import seqlayers` first.")
    _weights["load"](model, path)


__all__ = ["load_weights", "provide_weights_io", "provide_writer", "save_model", "save_weights"]
