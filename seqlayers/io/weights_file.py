"""``model.save_weights(path)`` / ``model.load_weights(path)``: the format is the one the suffix names.

* ``.weights.h5``: Keras 3's HDF5 layout (``layers/<name>/vars/<i>``, recurrent layers under
  ``cell/``, the same groups as ``model.weights.h5`` inside a ``.keras`` file), so Keras's
  ``model.load_weights`` reads it and ours reads the files Keras writes (needs h5py);
* ``.safetensors``: the model's ``state_dict`` by torch names plus a JSON sidecar (``path + ".json"``),
  as ``ModelCheckpoint`` has always written.

Both are written atomically (a temporary file moved into place). Loading runs no code from the file.
"""
from __future__ import annotations

import io
from pathlib import Path

from .. import model_files
from ..atomic import atomic_write
from ..errors import ModelFileError, require_extra
from ..training.checkpoint import load_weights as load_safetensors
from ..training.checkpoint import save_weights as save_safetensors
from .keras_export import layer_config, write_keras_weights
from .keras_import import load_keras_weights

KERAS_SUFFIX = ".weights.h5"
OWN_SUFFIX = ".safetensors"


def _kind(path: Path, who: str) -> str:
    name = path.name
    if name.endswith(KERAS_SUFFIX):
        return "keras"
    if name.endswith(OWN_SUFFIX):
        return "safetensors"
    raise ValueError(f"{who}: the file name must end in {KERAS_SUFFIX} (Keras's HDF5 layout) or {OWN_SUFFIX} "
                     f"(seqlayers's), got {str(path)!r}. Keras 3 also requires .weights.h5.")


def save_weights(model, path, overwrite: bool = True) -> Path:
    """Write ``model``'s weights to ``path`` in the format its suffix names (see the module doc)."""
    path = Path(path)
    kind = _kind(path, "save_weights")
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_weights: {str(path)!r} exists; pass overwrite=True to replace it.")
    if kind == "safetensors":
        save_safetensors(model, str(path))
        return path
    h5py = require_extra("h5py", "interop", "save_weights")

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        write_keras_weights(f, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
    return path


def load_weights(model, path) -> None:
    """Set ``model``'s weights from a ``.weights.h5`` (ours or Keras's) or ``.safetensors`` file."""
    path = Path(path)
    kind = _kind(path, "load_weights")
    if not path.exists():
        raise FileNotFoundError(f"load_weights: no such file: {str(path)!r}.")
    if kind == "safetensors":
        load_safetensors(model, str(path))
        return
    h5py = require_extra("h5py", "interop", "load_weights")

    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise ModelFileError(f"{str(path)!r}: not a readable HDF5 weights file: {e}") from e
    with h5:
        load_keras_weights(h5, model, layer_config(model), str(path))


model_files.provide_weights_io(save_weights, load_weights)  # model.save_weights and ModelCheckpoint reach these

__all__ = ["load_weights", "save_weights"]
