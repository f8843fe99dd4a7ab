"""``model.save(path)`` and ``load_model(path)``: JSON config + safetensors weights, no pickle.

The format (``FORMAT_VERSION`` 1), as one zip file ``model.seqlayers`` or as a folder::

    config.json          {"format": "seqlayers-model", "format_version": 1, "seqlayers_version": ...,
                          "model": <layer config, see seqlayers.serialization>,
                          "weights": {"file": "model.safetensors", "sha256": ...},
                          "optimizer": null | {"class_name", "param_groups", "param_names", "state",
                                               "file": "optimizer.safetensors", "sha256"},
                          "compile": null | {"optimizer", "loss", "loss_weights", "metrics"}}
    model.safetensors    the model's state_dict (parameters and buffers), by their torch names
    optimizer.safetensors  (only with include_optimizer=True on a compiled model) the optimizer's tensors

A path ending in ``.seqlayers`` is one zip file; a path without a suffix is a folder; a path ending
in ``.keras`` is written for Keras 3 (``to_keras``) and read with ``from_keras``, as is a legacy
``.h5``, so ``model.save("model.keras")`` and ``load_model("model.keras")`` work as in Keras. Every
file is written to a temporary file in the same folder, flushed to disk (fsync) and moved into place
(``os.replace``), so a crash never leaves a half-written model under the final name. Loading checks
the format version, every field, the weights' SHA-256 and their names and shapes, and raises
``ModelFileError`` saying what is wrong. Loading never runs code from the file: no pickle, and class
and function names are looked up only in the registries (``register_layer``, ``register_function``)
or in ``custom_objects``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelFileError
from ..version import __version__
from .. import model_files
from ..atomic import atomic_write
from ..serialization import layer_from_config, layer_to_config

FORMAT = "seqlayers-model"
FORMAT_VERSION = 1
SUFFIX = ".seqlayers"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
PENDING = ".pending"  # folder saves: tensors written before config.json commits them
MAX_CONFIG_BYTES = 256 * 2**20
_TOP_FIELDS = {"format", "format_version", "seqlayers_version", "model", "weights", "optimizer", "compile"}
_COMPILE_FIELDS = {"optimizer", "loss", "loss_weights", "metrics"}


# ---------------------------------------------------------------- atomic writes: see atomic.py


def _file_kind(path: Path) -> str:
    if path.suffix == SUFFIX:
        return "zip"
    if path.suffix == ".keras":
        return "keras"
    if path.suffix in ("", ) or path.is_dir():
        return "folder"
    hint = " Keras's legacy .h5 is not written; use .keras." if path.suffix in (".h5", ".hdf5") else ""
    raise ValueError(
        f"save_model: {str(path)!r}: a seqlayers model is saved as one file ending in {SUFFIX} "
        f"(e.g. 'model{SUFFIX}'), as a folder (a path without a suffix), or for Keras 3 as "
        f"'model.keras'.{hint}"
    )


# ---------------------------------------------------------------- tensors
def _tensors_to_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    # clone: safetensors refuses tensors sharing memory (tied or expanded weights)
    return save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})


def _tensors_from_bytes(data: bytes, what: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as e:  # safetensors raises its own SafetensorError (and others) on bad bytes
        raise ModelFileError(f"{what}: not a valid safetensors file ({type(e).__name__}: {e}).") from e


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- optimizer
def _optimizer_payload(model: nn.Module, optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"save_model: include_optimizer=True needs model.optimizer to be a torch.optim "
                         f"optimizer, got {type(optimizer).__name__}.")
    names = {id(p): n for n, p in model.named_parameters()}
    param_names = []
    for g in optimizer.param_groups:
        group = []
        for p in g["params"]:
            if id(p) not in names:
                raise ValueError("save_model: the optimizer holds a parameter that is not the model's; "
                                 "save it separately with torch's own tools.")
            group.append(names[id(p)])
        param_names.append(group)
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}

    def encode(prefix: str, items: dict, what: str, plain: tuple) -> dict:
        """JSON for one state entry or param group; tensors go to ``tensors`` under ``prefix.k``."""
        out = {}
        for k, v in items.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}.{k}"] = v
                out[k] = {"__tensor__": f"{prefix}.{k}"}
            elif isinstance(v, tuple) and what == "setting":
                out[k] = {"__tuple__": list(v)}
            elif v is None or isinstance(v, plain):
                out[k] = v
            else:
                raise ValueError(f"save_model: cannot save optimizer {what} {k!r} of type {type(v).__name__}.")
        return out

    state = {str(idx): encode(f"state.{idx}", st, "state", (int, float, bool)) for idx, st in sd["state"].items()}
    groups = [encode(f"group.{gi}", g, "setting", (int, float, bool, str, list))
              for gi, g in enumerate(sd["param_groups"])]
    return {"class_name": type(optimizer).__name__, "param_groups": groups, "param_names": param_names,
            "state": state}, tensors


def _optimizer_from_payload(model: nn.Module, meta: dict, tensors: dict, custom_objects) -> torch.optim.Optimizer:
    where = "config.json 'optimizer'"
    name = meta["class_name"]
    cls = (custom_objects or {}).get(name)
    if cls is None:
        cls = getattr(torch.optim, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ModelFileError(f"{where}: unknown optimizer class {name!r}; only torch.optim optimizers are "
                             f"rebuilt (pass custom_objects={{{name!r}: TheClass}} for others).")
    params = dict(model.named_parameters())

    def value(v):
        if isinstance(v, dict) and set(v) == {"__tensor__"}:
            if v["__tensor__"] not in tensors:
                raise ModelFileError(f"{where}: tensor {v['__tensor__']!r} is missing from {OPTIMIZER_FILE}.")
            return tensors[v["__tensor__"]]
        if isinstance(v, dict) and set(v) == {"__tuple__"}:
            return tuple(v["__tuple__"])
        return v

    try:
        groups = []
        for names, g in zip(meta["param_names"], meta["param_groups"]):
            missing = [n for n in names if n not in params]
            if missing:
                raise ModelFileError(f"{where}: parameters {missing} are not in the model.")
            hyper = {k: value(v) for k, v in g.items() if k != "params"}
            groups.append({"params": [params[n] for n in names], **hyper})
        optimizer = cls(groups)
        sd = {"state": {int(i): {k: value(v) for k, v in st.items()} for i, st in meta["state"].items()},
              "param_groups": [{k: value(v) for k, v in g.items()} for g in meta["param_groups"]]}
        optimizer.load_state_dict(sd)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelFileError(f"{where}: cannot restore the optimizer: {e}") from e
    return optimizer


def _model_optimizer(model):
    """The torch optimizer of a compiled model (made by its first fit), or ``model.optimizer``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        optimizer = getattr(getattr(model, "_compiled", None), "optimizer", None)
    return optimizer


def _is_plain_json(v) -> bool:
    if v is None or isinstance(v, (str, bool, int, float)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_is_plain_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain_json(x) for k, x in v.items())
    return False


def _compile_config(model) -> dict | None:
    """``compile``'s arguments when they are names (``loss="mse"``...), so loading can compile again.

    Custom loss or metric objects are not saved (no code in a model file): the config is None and
    the loaded model needs ``compile`` again. An optimizer given as an object (not a name) is
    restored only from its saved state (``include_optimizer=True``); without it, no compile.
    """
    st = getattr(model, "_compiled", None)
    if st is None:
        return None
    cfg = {"optimizer": st.optimizer_spec if isinstance(st.optimizer_spec, str) else None,
           "loss": st.loss_spec, "loss_weights": st.loss_weights, "metrics": st.metrics_spec}
    return cfg if _is_plain_json(cfg) else None


# ---------------------------------------------------------------- save
def save_model(model: nn.Module, path, include_optimizer: bool = False, overwrite: bool = True) -> Path:
    """Save a model (``Sequential``, functional ``Model``) or a single layer: config, weights, optimizer.

    Args:
        path: ``something.seqlayers`` (one zip file), a folder path (no suffix), or
            ``something.keras`` (a Keras 3 file, see ``to_keras``; include_optimizer is ignored).
        include_optimizer: also save the optimizer's state (of a compiled and fitted model, or
            ``model.optimizer``), to resume training. ``compile``'s named settings (loss, metrics)
            are saved whenever the model is compiled.
        overwrite: replace an existing file or folder contents (else FileExistsError).

    Returns the path written. Load it back with ``seqlayers.load_model(path)``.
    """
    path = Path(path)
    kind = _file_kind(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_model: {str(path)!r} exists; pass overwrite=True to replace it.")
    if kind == "keras":  # model.save("model.keras"), as Keras users write it
        from .keras_export import to_keras

        return to_keras(model, path)
    model_cfg = layer_to_config(model)
    weights = _tensors_to_bytes(dict(model.state_dict()))
    files = {WEIGHTS_FILE: weights}
    opt_meta = None
    if include_optimizer:
        optimizer = _model_optimizer(model)
        if optimizer is None:
            raise ValueError("save_model: include_optimizer=True, but the model has no optimizer; "
                             "compile it first, or save without include_optimizer.")
        opt_meta, opt_tensors = _optimizer_payload(model, optimizer)
        files[OPTIMIZER_FILE] = _tensors_to_bytes(opt_tensors)
        opt_meta.update(file=OPTIMIZER_FILE, sha256=_sha256(files[OPTIMIZER_FILE]))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seqlayers_version": __version__,
        "model": model_cfg,
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(weights)},
        "optimizer": opt_meta,
        "compile": _compile_config(model),
    }
    files[CONFIG_FILE] = json.dumps(config, indent=1, allow_nan=False).encode("utf-8")
    if kind == "zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(CONFIG_FILE, files.pop(CONFIG_FILE), compress_type=zipfile.ZIP_DEFLATED)
            for name, data in files.items():
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        atomic_write(path, buf.getvalue())
    else:
        if path.exists() and not path.is_dir():
            raise ValueError(f"save_model: {str(path)!r} is a file; a path without a suffix is saved as a folder.")
        path.mkdir(parents=True, exist_ok=True)
        # A small journal, so that a crash at any moment leaves a loadable folder: the new tensors go
        # to "<name>.pending", config.json (which names their SHA-256) is the commit point, then the
        # pending files replace the old ones. load_model rolls a committed pending file forward.
        for name in (WEIGHTS_FILE, OPTIMIZER_FILE):
            if name in files:
                atomic_write(path / (name + PENDING), files[name])
        atomic_write(path / CONFIG_FILE, files[CONFIG_FILE])
        for name in (WEIGHTS_FILE, OPTIMIZER_FILE):
            if name in files:
                os.replace(path / (name + PENDING), path / name)
            elif (path / name).exists():  # stale optimizer state of an earlier save
                (path / name).unlink()
    return path


# ---------------------------------------------------------------- load
def _read_files(path: Path) -> dict[str, bytes]:
    if not path.exists():
        raise FileNotFoundError(f"load_model: no such file or folder: {str(path)!r}.")
    if path.is_dir():
        out = {}
        for name in (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, WEIGHTS_FILE + PENDING, OPTIMIZER_FILE + PENDING):
            if (path / name).exists():
                out[name] = (path / name).read_bytes()
        if CONFIG_FILE not in out:
            raise ModelFileError(f"{str(path)!r}: the folder has no {CONFIG_FILE}; is it a saved seqlayers model?")
        return out
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            unknown = sorted(set(names) - {CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE})
            if unknown:
                raise ModelFileError(f"{str(path)!r}: unexpected member(s) {unknown} in the model file.")
            if len(set(names)) != len(names):
                raise ModelFileError(f"{str(path)!r}: duplicate members in the model file.")
            size = zf.getinfo(CONFIG_FILE).file_size if CONFIG_FILE in names else 0
            if size > MAX_CONFIG_BYTES:  # a config this large is a corrupted (or hostile) file
                raise ModelFileError(f"{str(path)!r}: {CONFIG_FILE} claims {size:,} bytes (limit "
                                     f"{MAX_CONFIG_BYTES:,}); corrupted file?")
            return {name: zf.read(name) for name in names}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as e:
        raise ModelFileError(f"{str(path)!r}: not a readable seqlayers model file (truncated or corrupted?): "
                             f"{type(e).__name__}: {e}") from e
    except Exception as e:  # zlib.error on corrupted deflate data
        raise ModelFileError(f"{str(path)!r}: corrupted model file: {type(e).__name__}: {e}") from e


def read_config(path) -> dict:
    """The validated ``config.json`` of a saved model (without building it)."""
    return _parse_config(_read_files(Path(path)), str(path))


def _parse_config(files: dict[str, bytes], label: str) -> dict:
    if CONFIG_FILE not in files:
        raise ModelFileError(f"{label!r}: the model file has no {CONFIG_FILE}.")
    try:
        config = json.loads(files[CONFIG_FILE].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} is not valid JSON (corrupted?): {e}") from e
    if not isinstance(config, dict):
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} must hold a JSON object.")
    if config.get("format") != FORMAT:
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} field 'format' is {config.get('format')!r}, expected "
                             f"{FORMAT!r}; this is not a seqlayers model file.")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} field 'format_version' must be an integer, got {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{label!r}: written in format version {version} (by seqlayers "
                             f"{config.get('seqlayers_version')}); this seqlayers reads version {FORMAT_VERSION}. "
                             f"Upgrade seqlayers to load it.")
    if version < 1:
        raise ModelFileError(f"{label!r}: invalid format_version {version}.")
    missing, extra = _TOP_FIELDS - set(config), set(config) - _TOP_FIELDS
    if missing:
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} lacks field(s) {sorted(missing)}.")
    if extra:
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} has unexpected field(s) {sorted(extra)} "
                             f"(format version {version} has only {sorted(_TOP_FIELDS)}).")
    cc = config["compile"]
    if cc is not None and (not isinstance(cc, dict) or set(cc) != _COMPILE_FIELDS):
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} field 'compile' must be null or have exactly the fields "
                             f"{sorted(_COMPILE_FIELDS)}.")
    for key, fields in (("weights", {"file", "sha256"}), ("optimizer", None)):
        entry = config[key]
        if key == "optimizer":
            if entry is None:
                continue
            fields = {"class_name", "param_groups", "param_names", "state", "file", "sha256"}
        if not isinstance(entry, dict) or set(entry) != fields:
            raise ModelFileError(f"{label!r}: {CONFIG_FILE} field {key!r} must have exactly the fields "
                                 f"{sorted(fields)}, got {sorted(entry) if isinstance(entry, dict) else entry!r}.")
        if not isinstance(entry["file"], str) or not isinstance(entry["sha256"], str):
            raise ModelFileError(f"{label!r}: {CONFIG_FILE} field {key!r}: 'file' and 'sha256' must be strings, "
                                 f"got {entry['file']!r} and {entry['sha256']!r}.")
    return config


def _checked_tensors(files, entry, label, what) -> dict[str, torch.Tensor]:
    name = entry["file"]
    if name not in files and name + PENDING not in files:
        raise ModelFileError(f"{label!r}: {what} file {name!r} is missing.")
    data = files.get(name, b"")
    if _sha256(data) != entry["sha256"] and _sha256(files.get(name + PENDING, b"")) == entry["sha256"]:
        data = files[name + PENDING]  # a folder save killed after its commit point: roll forward
    if _sha256(data) != entry["sha256"]:
        raise ModelFileError(f"{label!r}: {name} does not match the SHA-256 recorded in {CONFIG_FILE} "
                             f"(corrupted, or written by an interrupted save).")
    return _tensors_from_bytes(data, f"{label!r}: {name}")


def load_model(path, custom_objects: dict | None = None, compile: bool = True) -> nn.Module:
    """Load a model (or layer) saved by ``model.save(path)`` / ``save_model``, or a Keras file.

    ``.keras`` and ``.h5`` paths are read with ``from_keras``.

    Args:
        custom_objects: ``{name: class_or_function}`` for custom layers and for the functions of
            ``Lambda`` layers not registered with ``register_layer`` / ``register_function``.
        compile: compile the model again as it was saved (when it was compiled with named losses
            and metrics), with the saved optimizer state when the file has one (also given as
            ``model.optimizer``), so ``fit`` resumes training. False: weights only.

    The model is returned in eval mode (``model.train()`` before training: dropout then applies).
    Raises ``ModelFileError`` when the file is truncated, corrupted, of a newer format, or refers to
    an unregistered class or function.
    """
    path = Path(path)
    if path.suffix in (".keras", ".h5", ".hdf5") and not path.is_dir():
        from .keras_import import from_keras

        return from_keras(path, custom_objects=custom_objects)
    files = _read_files(path)
    label = str(path)
    config = _parse_config(files, label)
    try:
        model = layer_from_config(config["model"], custom_objects, where="")
    except ModelFileError as e:  # name the file the broken config came from
        raise ModelFileError(f"{label!r}: {e}") from e
    tensors = _checked_tensors(files, config["weights"], label, "weights")
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ModelFileError(
            f"{label!r}: the weights do not fit the model's config: "
            + (f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}" if unexpected else "") + "."
        )
    for k, v in own.items():
        if tuple(v.shape) != tuple(tensors[k].shape):
            raise ModelFileError(f"{label!r}: weight {k!r} has shape {tuple(tensors[k].shape)} in the file, "
                                 f"but the config builds {tuple(v.shape)}.")
    model.load_state_dict(tensors, strict=True)
    optimizer = None
    if config["optimizer"] is not None and compile:
        opt_tensors = _checked_tensors(files, config["optimizer"], label, "optimizer")
        optimizer = _optimizer_from_payload(model, config["optimizer"], opt_tensors, custom_objects)
        model.optimizer = optimizer
    cc = config["compile"]
    if cc is not None and compile and (optimizer is not None or cc["optimizer"] is not None):
        try:
            model.compile(optimizer=optimizer if optimizer is not None else cc["optimizer"],
                          loss=cc["loss"], loss_weights=cc["loss_weights"], metrics=cc["metrics"])
        except (TypeError, ValueError, KeyError) as e:
            raise ModelFileError(f"{label!r}: cannot compile the model with its saved settings: {e}") from e
    model.eval()
    return model


model_files.provide_writer(save_model)  # model.save and ModelCheckpoint reach this writer (see model_files)

__all__ = ["FORMAT_VERSION", "atomic_write", "load_model", "read_config", "save_model"]
