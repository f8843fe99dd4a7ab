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


def provide_writer(save_model: Callable[..., Path]) -> None:
    """Called once by ``seqlayers.io.saving``: the function that writes a model to a path."""
    _writer[:] = [save_model]


def save_model(model, path, **kwargs) -> Path:
    """Write ``model`` to ``path`` with io's writer (``seqlayers.io.saving.save_model``)."""
    if not _writer:
        raise RuntimeError("model.save: seqlayers.io is not imported; `import seqlayers` first.")
    return _writer[0](model, path, **kwargs)


__all__ = ["provide_writer", "save_model"]
