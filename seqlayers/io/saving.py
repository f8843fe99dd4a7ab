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

import functools
import hashlib
import io
import json
import os
import random
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import save
from torch import nn

from .. import bounded_json, model_files
from ..atomic import atomic_write
from ..errors import ModelFileError, layer_label
from ..serialization import FUNCTION_REGISTRY, layer_from_config, layer_to_config
from ..version import __version__
from .tensor_file import ChecksumMismatch, read_tensors, size_limit

FORMAT = "seqlayers-model"
FORMAT_VERSION = 1
SUFFIX = ".seqlayers"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
PENDING = ".pending"  # folder saves: tensors written before config.json commits them
MAX_CONFIG_BYTES = 256 * 2**20
#: a zip member that unpacks to more than this many times its packed size (and more than 4 MiB) is refused
MAX_COMPRESSION_RATIO = 100
#: the optimizer's tensors: at most this many times the model's values (Adam keeps 2 per weight)
OPTIMIZER_VALUES_PER_WEIGHT = 4
_MEMBERS = (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE)
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
    # clone: safetensors refuses tensors sharing memory (tied or expanded weights)
    return save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})


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
        out: dict[str, Any] = {}
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
        # (a torch.optim subclass takes (params, **hyperparameters); only the base class needs defaults)
        optimizer = cls(groups)  # type: ignore[call-arg]
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
    given = getattr(model, "optimizer", None)
    for candidate in (given, getattr(getattr(model, "_compiled", None), "optimizer", None),
                      getattr(given, "_built", None)):
        if isinstance(candidate, torch.optim.Optimizer):
            return candidate
    return given


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
def _check_path(path, kind: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_model: path must be a str or os.PathLike such as 'model{SUFFIX}', got "
                        f"{type(path).__name__} {path!r:.60}.")
    path = Path(path)
    if kind in ("zip", "keras") and path.is_dir():
        raise IsADirectoryError(f"save_model: {str(path)!r} is a folder; a path ending in {path.suffix} is saved as "
                                f"one file. Remove the folder, or save to another path (a path without a suffix "
                                f"is saved as a folder).")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise FileExistsError(f"save_model: {str(path)!r} is a file; a path without a suffix is saved as a folder. "
                              f"Save to 'model{SUFFIX}' for one file, or to another path.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"save_model: cannot save to {str(path)!r}: {str(parent)!r} is a file, "
                                         f"not a folder.")
            break
    return path


def _walk_configs(entry, where: str = "model"):
    """Yield ``(where, dict)`` for every dict in a saved config, with a readable location."""
    stack = [(where, entry)]
    while stack:
        at, v = stack.pop()
        if isinstance(v, dict):
            yield at, v
            label = v["config"].get("name") if isinstance(v.get("config"), dict) else None
            here = f"{at} > {v.get('class_name')} {label!r}" if "class_name" in v and label else at
            stack.extend((here, x) for x in v.values())
        elif isinstance(v, list):
            stack.extend((at, x) for x in v)


def _check_loadable(model_cfg: dict) -> None:
    """What load_model would refuse in a config, refused before writing: an unregistered function
    (loading resolves functions only by registered name) and two layers of one name in one model."""
    for where, d in _walk_configs(model_cfg):
        if set(d) == {"__function__"} and d["__function__"] not in FUNCTION_REGISTRY:
            name = d["__function__"]
            short = name.split(":", 1)[-1].rsplit(".", 1)[-1]
            raise ValueError(
                f"save_model: {where} uses the function {name!r}, which is not registered, so load_model would "
                f"refuse the file. Register it before saving and again before loading: "
                f"seqlayers.register_function({short}) (or decorate it with @seqlayers.register_function).")
        if d.get("class_name") in ("Sequential", "Model") and isinstance(d.get("config"), dict):
            layers = d["config"].get("layers") or []
            names = [e.get("name") if d["class_name"] == "Model" else (e.get("config") or {}).get("name")
                     for e in layers if isinstance(e, dict)]
            seen = set()
            for n in names:
                if n is not None and n in seen:
                    raise ValueError(f"save_model: {where} > {d['class_name']} has two layers named {n!r}, so "
                                     f"load_model would refuse the file; give every layer a unique name.")
                seen.add(n)


def _expected_shapes(model: nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _owner(model: nn.Module, key: str) -> str:
    """The layer that holds the weight ``key`` of ``model`` (the deepest module whose path prefixes it)."""
    best, best_len = model, -1
    for name, module in model.named_modules():
        if (name == "" or key.startswith(name + ".")) and len(name) > best_len:
            best, best_len = module, len(name)
    return layer_label(best)


_ROUND_TRIP_FIX = ("A custom layer's get_config() must return its constructor's arguments (every argument "
                   "of __init__ that the weights depend on, as given), so that from_config(get_config()) "
                   "rebuilds the same layer; nothing was written")


def _rebuild(model_cfg: dict) -> nn.Module:
    """``model_cfg``'s model as load_model builds it: on the meta device (shapes, no memory), or for real
    when the meta build fails (a layer doing data-dependent work while building). The random generators
    are left as they were, so that saving (e.g. a checkpoint each epoch) never changes a run."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_model warns, if anything; saving need not say it twice
        try:
            try:
                with torch.device("meta"), torch.no_grad():
                    return layer_from_config(model_cfg, None, where="")
            except Exception:  # noqa: BLE001 - the meta device cannot build it: build it as load_model does
                return layer_from_config(model_cfg, None, where="")
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _check_rebuilds(model_cfg: dict, expected: dict, model: nn.Module, label: str) -> None:
    """Refuse, before writing, a config that load_model could not rebuild into a model with the saved
    weights' names and shapes (a custom layer whose get_config does not round-trip)."""
    try:
        shell = _rebuild(model_cfg)
    except ModelFileError as e:
        raise ValueError(f"save_model: {label!r}: the model does not rebuild from its config, so load_model "
                         f"would refuse the file: {e}. {_ROUND_TRIP_FIX}.") from e
    rebuilt = _expected_shapes(shell)
    for key in sorted(set(expected) | set(rebuilt), key=lambda k: (k not in expected, k)):
        saved, again = expected.get(key), rebuilt.get(key)
        if saved == again:
            continue
        shape_saved, shape_again = list(saved or ()), list(again or ())  # (the one that is None is unused)
        if again is None:
            what = f"its weight {key!r} (shape {shape_saved}) is missing from the layer rebuilt from its config"
        elif saved is None:
            what = f"the layer rebuilt from its config has a weight {key!r} (shape {shape_again}) the model lacks"
        else:
            what = f"its weight {key!r} has shape {shape_saved}, but {shape_again} in the layer rebuilt from its config"
        holder = _owner(model if saved is not None else shell, key)
        raise ValueError(f"save_model: {label!r}: {holder} does not rebuild from its config, so load_model would "
                         f"refuse the file: {what}. {_ROUND_TRIP_FIX}.")


def _verify_written(tmp: str, kind: str, expected: dict, label: str) -> None:
    """Read back what was just written (before it replaces the old file): config and tensors as
    load_model reads them."""
    try:
        _read_back(tmp, kind, expected, label)
    except ModelFileError as e:
        raise ModelFileError(f"save_model: the file written for {label!r} does not read back ({e}); the "
                             f"previous file is unchanged.") from e


def _read_back(tmp: str, kind: str, expected: dict, label: str) -> None:
    if kind == "zip":
        with _Source(Path(tmp), label) as src:
            config = _parse_config(src.read(CONFIG_FILE, MAX_CONFIG_BYTES), label)
            _load_tensors(src, config["weights"], label, expected)
            if config["optimizer"] is not None:
                _load_tensors(src, config["optimizer"], label, None, _optimizer_limit(expected))
    else:  # one tensors file of a folder save
        with open(tmp, "rb") as f:
            read_tensors(f, os.path.getsize(tmp), f"{label!r}: {Path(tmp).name}",
                         limit=size_limit(expected) if expected else _optimizer_limit({}), expected=expected or None)


def save_model(model: nn.Module, path, include_optimizer: bool | None = None, overwrite: bool = True) -> Path:
    """Save a model (``Sequential``, functional ``Model``) or a single layer: config, weights, optimizer.

    Args:
        path: ``something.seqlayers`` (one zip file), a folder path (no suffix), or
            ``something.keras`` (a Keras 3 file, see ``to_keras``; include_optimizer is ignored).
        include_optimizer: also save the optimizer's state (of a compiled and fitted model, or
            ``model.optimizer``), to resume training; None (the default): when the model has one,
            as Keras saves it. ``compile``'s named settings (loss, metrics) are saved whenever the
            model is compiled.
        overwrite: replace an existing file or folder contents (else FileExistsError).

    Nothing is written that ``load_model`` would refuse: the config is checked first (registered
    functions, unique layer names, the model it rebuilds has the weights' names and shapes: a
    custom ``get_config`` returns the constructor's arguments), and the written file is read back
    (config, tensor headers, checksums) before it replaces the previous one (kept on a failure).
    Returns the path written. Load it back with ``seqlayers.load_model(path)``.
    """
    if not isinstance(path, (str, os.PathLike)):
        _check_path(path, "zip")
    kind = _file_kind(Path(path))
    path = _check_path(path, kind)
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_model: {str(path)!r} exists; pass overwrite=True to replace it.")
    if kind == "keras":  # model.save("model.keras"), as Keras users write it
        from .keras_export import to_keras

        return to_keras(model, path)
    model_cfg = layer_to_config(model)
    _check_loadable(model_cfg)
    expected = _expected_shapes(model)
    weights = _tensors_to_bytes(dict(model.state_dict()))
    files = {WEIGHTS_FILE: weights}
    opt_meta = None
    if include_optimizer is None:  # as Keras's model.save: the optimizer's state goes along when there is one
        include_optimizer = isinstance(_model_optimizer(model), torch.optim.Optimizer)
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
    parsed = _parse_config(files[CONFIG_FILE], str(path))  # what load_model checks first
    _check_rebuilds(parsed["model"], expected, model, str(path))  # then what it builds from the config
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(CONFIG_FILE, files.pop(CONFIG_FILE), compress_type=zipfile.ZIP_DEFLATED)
            for name, data in files.items():
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        atomic_write(path, buf.getvalue(), check=lambda tmp: _verify_written(tmp, "zip", expected, str(path)))
    else:
        path.mkdir(parents=True, exist_ok=True)
        # A small journal, so that a crash at any moment leaves a loadable folder: the new tensors go
        # to "<name>.pending", config.json (which names their SHA-256) is the commit point, then the
        # pending files replace the old ones. load_model rolls a committed pending file forward.
        for name in (WEIGHTS_FILE, OPTIMIZER_FILE):
            if name in files:
                shapes = expected if name == WEIGHTS_FILE else {}
                atomic_write(path / (name + PENDING), files[name],
                             check=functools.partial(_verify_written, kind="folder", expected=shapes, label=str(path)))
        atomic_write(path / CONFIG_FILE, files[CONFIG_FILE])
        for name in (WEIGHTS_FILE, OPTIMIZER_FILE):
            if name in files:
                os.replace(path / (name + PENDING), path / name)
            elif (path / name).exists():  # stale optimizer state of an earlier save
                (path / name).unlink()
    return path


# ---------------------------------------------------------------- load
#: what zipfile and zlib raise on damaged members (flag bits, encryption, bad deflate data, bad CRC)
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError, ValueError)


class _Source:
    """The members of a saved model, a zip file's or a folder's, each read with its size checked
    before anything is allocated (zip members also by their compression ratio)."""

    def __init__(self, path: Path, label: str):
        self.path, self.label, self.zf = path, label, None
        if path.is_dir():
            names: tuple[str, ...] | list[str] = _MEMBERS + (WEIGHTS_FILE + PENDING, OPTIMIZER_FILE + PENDING)
            self.sizes = {n: (path / n).stat().st_size for n in names
                          if (path / n).is_file()}
            if CONFIG_FILE not in self.sizes:
                raise ModelFileError(f"{label!r}: the folder has no {CONFIG_FILE}; is it a saved seqlayers model?")
            return
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as e:
            raise ModelFileError(f"{label!r}: not a readable seqlayers model file (truncated or corrupted?): "
                                 f"{type(e).__name__}: {e}") from e
        names = [i.filename for i in infos]
        unknown = sorted(set(names) - set(_MEMBERS))
        if unknown:
            raise ModelFileError(f"{label!r}: unexpected member(s) {unknown} in the model file.")
        if len(set(names)) != len(names):
            raise ModelFileError(f"{label!r}: duplicate members in the model file.")
        for i in infos:
            if i.file_size > 4 * 2**20 and i.file_size > MAX_COMPRESSION_RATIO * max(i.compress_size, 1):
                raise ModelFileError(f"{label!r}: member {i.filename} unpacks {i.compress_size:,} bytes to "
                                     f"{i.file_size:,}, a ratio above {MAX_COMPRESSION_RATIO} (the limit); a zip "
                                     f"bomb or a corrupted file.")
        self.sizes = {i.filename: i.file_size for i in infos}
        if CONFIG_FILE not in self.sizes:
            raise ModelFileError(f"{label!r}: the model file has no {CONFIG_FILE}.")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.zf is not None:
            self.zf.close()

    def open(self, name: str):
        return self.zf.open(name) if self.zf is not None else open(self.path / name, "rb")

    def read(self, name: str, limit: int) -> bytes:
        size = self.sizes[name]
        if size > limit:  # a config this large is a corrupted (or hostile) file
            raise ModelFileError(f"{self.label!r}: {name} claims {size:,} bytes (limit {limit:,}); corrupted file?")
        try:
            with self.open(name) as f:
                data = f.read(limit + 1)
        except ModelFileError:
            raise
        except _READ_ERRORS as e:
            raise ModelFileError(f"{self.label!r}: {name} cannot be read (truncated or corrupted?): "
                                 f"{type(e).__name__}: {e}") from e
        if len(data) > limit:
            raise ModelFileError(f"{self.label!r}: {name} holds more than {limit:,} bytes (the limit).")
        return data


def _optimizer_limit(expected: dict) -> int:
    values = sum(int(torch.Size(s).numel()) for s in expected.values())
    return size_limit({}) + 2**20 + 8 * OPTIMIZER_VALUES_PER_WEIGHT * values


def _load_tensors(src: _Source, entry: dict, label: str, expected: dict | None, limit: int | None = None):
    """The tensors of a config entry (``{"file", "sha256"}``), from the file or, for a folder save
    killed after its commit point, from the pending file (rolled forward)."""
    name = entry["file"]
    if name not in (WEIGHTS_FILE, OPTIMIZER_FILE):
        raise ModelFileError(f"{label!r}: {CONFIG_FILE} names the tensors file {name!r}; a seqlayers model holds "
                             f"only {WEIGHTS_FILE} and {OPTIMIZER_FILE}.")
    candidates = [n for n in (name, name + PENDING) if n in src.sizes]
    if not candidates:
        raise ModelFileError(f"{label!r}: tensors file {name!r} is missing.")
    limit = limit if limit is not None else size_limit(expected or {})  # (callers give expected or limit)
    for i, cand in enumerate(candidates):
        try:
            with src.open(cand) as f:
                return read_tensors(f, src.sizes[cand], f"{label!r}: {name}", limit=limit, sha256=entry["sha256"],
                                    expected=expected)
        except ChecksumMismatch:
            if i == len(candidates) - 1:
                raise
        except ModelFileError:
            raise
        except _READ_ERRORS as e:
            raise ModelFileError(f"{label!r}: {name} cannot be read (truncated or corrupted?): "
                                 f"{type(e).__name__}: {e}") from e
    raise AssertionError("unreachable")


def _check_model_size(config: dict, custom_objects, src: _Source, label: str) -> None:
    """Refuse a config that builds more values than its weights file could hold (one byte each at
    the least) before building it for real: it is built first on the meta device (shapes, no memory).
    A config the meta build cannot handle is left to the real build, which says what is wrong."""
    name = config["weights"]["file"]
    if name not in (WEIGHTS_FILE, OPTIMIZER_FILE) or not ({name, name + PENDING} & set(src.sizes)):
        return  # _load_tensors names what is wrong with the entry
    try:
        with torch.device("meta"), torch.no_grad():
            shell = layer_from_config(config["model"], custom_objects, where="")
        values = sum(v.numel() for v in shell.state_dict().values())
    except Exception:  # noqa: BLE001 - only a guard; the real build reports the error
        return
    size = max(src.sizes.get(name, 0), src.sizes.get(name + PENDING, 0))
    if values > size:
        raise ModelFileError(f"{label!r}: the config builds a model of {values:,} values, but {name} holds only "
                             f"{size:,} bytes (the limit: one byte per value at the least); the config is corrupted "
                             f"or hostile, so the model is not built.")


def read_config(path) -> dict:
    """The validated ``config.json`` of a saved model (without building it)."""
    path = _load_path(path)
    with _Source(path, str(path)) as src:
        return _parse_config(src.read(CONFIG_FILE, MAX_CONFIG_BYTES), str(path))


def _load_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_model: path must be a str or os.PathLike such as 'model{SUFFIX}', got "
                        f"{type(path).__name__} {path!r:.60}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_model: no such file or folder: {str(path)!r}.")
    return path


def _parse_config(raw: bytes, label: str) -> dict:
    try:
        config = bounded_json.loads(raw.decode("utf-8"), f"{label!r}: {CONFIG_FILE}", ModelFileError)
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
    for key, fields in (("weights", {"file", "sha256"}),
                        ("optimizer", {"class_name", "param_groups", "param_names", "state", "file", "sha256"})):
        entry = config[key]
        if key == "optimizer":
            if entry is None:
                continue
        if not isinstance(entry, dict) or set(entry) != fields:
            raise ModelFileError(f"{label!r}: {CONFIG_FILE} field {key!r} must have exactly the fields "
                                 f"{sorted(fields)}, got {sorted(entry) if isinstance(entry, dict) else entry!r}.")
        if not isinstance(entry["file"], str) or not isinstance(entry["sha256"], str):
            raise ModelFileError(f"{label!r}: {CONFIG_FILE} field {key!r}: 'file' and 'sha256' must be strings, "
                                 f"got {entry['file']!r} and {entry['sha256']!r}.")
    return config


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
    Raises ``ModelFileError`` when the file is truncated, corrupted, of a newer format, refers to
    an unregistered class or function, or exceeds a limit (sizes are checked against the config
    before anything is allocated, zip members against a compression ratio, JSON against a depth).
    """
    path = _load_path(path)
    if path.suffix in (".keras", ".h5", ".hdf5") and not path.is_dir():
        from .keras_import import from_keras

        return from_keras(path, custom_objects=custom_objects, compile=compile)
    label = str(path)
    with _Source(path, label) as src:
        config = _parse_config(src.read(CONFIG_FILE, MAX_CONFIG_BYTES), label)
        _check_model_size(config, custom_objects, src, label)
        try:
            model = layer_from_config(config["model"], custom_objects, where="")
        except ModelFileError as e:  # name the file the broken config came from
            raise ModelFileError(f"{label!r}: {e}") from e
        expected = _expected_shapes(model)
        tensors = _load_tensors(src, config["weights"], label, expected)
        model.load_state_dict(tensors, strict=True)
        optimizer = None
        if config["optimizer"] is not None and compile:
            opt_tensors = _load_tensors(src, config["optimizer"], label, None, _optimizer_limit(expected))
            optimizer = _optimizer_from_payload(model, config["optimizer"], opt_tensors, custom_objects)
            cast(Any, model).optimizer = optimizer  # a seqlayers model (nn.Module stubs: Tensor | Module)
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
