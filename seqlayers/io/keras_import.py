"""``from_keras(path)``: a Keras ``.keras`` (Keras 3) or legacy ``.h5`` model as a seqlayers model.

The Keras config is mapped onto our constructors (same argument names, Keras semantics) and the
weights are loaded with ``set_weights`` in Keras layout, so no conversion of gate orders is needed.
Supported layers: InputLayer, Dense, Activation, Dropout, Embedding, Masking, Lambda (only with its
function registered or given in ``custom_objects``: Keras stores a lambda as Python bytecode, which
is never run), RepeatVector, Flatten, Reshape, Concatenate, Add, SimpleRNN, GRU (both
``reset_after``), LSTM, RNN over a built-in cell, a user's registered cell class or a StackedRNNCells
of them, Bidirectional (every merge mode), TimeDistributed, and nested Sequential /
functional models; Sequential and functional models with several inputs and outputs.

Masks: Keras 3 records the mask of a functional graph as explicit ``NotEqual``-style operations
passed as ``mask=`` arguments; seqlayers layers carry masks on their tensors, so those operations
are dropped. Initializers, regularizers and constraints are not imported (the weights are).

h5py is needed (``pip install h5py``); it is imported only here.
"""
from __future__ import annotations

import contextvars
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import bounded_json
from ..errors import ModelFileError, require_extra
from ..layers.base import LAYER_REGISTRY
from ..layers.bidirectional import Bidirectional
from ..layers.cells import GRUCell, LSTMCell, SimpleRNNCell, arg_names
from ..layers.rnn import GRU, LSTM, SimpleRNN
from ..layers.rnn import RNN as RNN_
from ..layers.stacked_cells import StackedRNNCells
from ..models import Model, Sequential
from ..models.symbolic import Input
from ..serialization import call_when_ready, find_function
from .keras_compile import compile_from_keras
from .saving import MAX_COMPRESSION_RATIO, MAX_CONFIG_BYTES

#: recurrent layers' arguments that Keras writes as objects (initializer configs), left at our defaults
#: on import: the file's weights replace what they initialize
RNN_NOT_FROM_KERAS = ("kernel_initializer", "recurrent_initializer", "bias_initializer")


def rnn_keys(cls) -> tuple:
    """The Keras config keys a recurrent layer takes: its constructor's arguments (the cell's and
    RNN's, declared once there), less ``RNN_NOT_FROM_KERAS``. Keras's names are ours."""
    return tuple(k for k in arg_names(cls.__init__) if k not in RNN_NOT_FROM_KERAS)


#: Keras class name -> (our class name, Keras config keys passed through as constructor arguments)
LAYER_MAP: dict[str, tuple[str, tuple[str, ...]]] = {
    "Dense": ("Dense", ("units", "activation", "use_bias")),
    "Activation": ("Activation", ("activation",)),
    "Dropout": ("Dropout", ("rate", "noise_shape", "seed")),
    "Embedding": ("Embedding", ("input_dim", "output_dim", "mask_zero")),
    "Masking": ("Masking", ("mask_value",)),
    "RepeatVector": ("RepeatVector", ("n",)),
    "Flatten": ("Flatten", ("data_format",)),
    "Reshape": ("Reshape", ("target_shape",)),
    "Concatenate": ("Concatenate", ("axis",)),
    "Add": ("Add", ()),
    "SimpleRNN": ("SimpleRNN", rnn_keys(SimpleRNN)),
    "GRU": ("GRU", rnn_keys(GRU)),
    "LSTM": ("LSTM", rnn_keys(LSTM)),
    "Bidirectional": ("Bidirectional", ("merge_mode",)),
    "TimeDistributed": ("TimeDistributed", ()),
    "Lambda": ("Lambda", ()),
    # merges
    "Subtract": ("Subtract", ()),
    "Multiply": ("Multiply", ()),
    "Average": ("Average", ()),
    "Maximum": ("Maximum", ()),
    "Minimum": ("Minimum", ()),
    "Dot": ("Dot", ("axes", "normalize")),
    # convolution, pooling, reshaping
    "Conv1D": ("Conv1D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                          "activation", "use_bias")),
    "SeparableConv1D": ("SeparableConv1D", ("filters", "kernel_size", "strides", "padding", "data_format",
                                            "dilation_rate", "depth_multiplier", "activation", "use_bias")),
    "MaxPooling1D": ("MaxPooling1D", ("pool_size", "strides", "padding", "data_format")),
    "AveragePooling1D": ("AveragePooling1D", ("pool_size", "strides", "padding", "data_format")),
    "GlobalMaxPooling1D": ("GlobalMaxPooling1D", ("data_format", "keepdims")),
    "GlobalAveragePooling1D": ("GlobalAveragePooling1D", ("data_format", "keepdims")),
    "UpSampling1D": ("UpSampling1D", ("size",)),
    "ZeroPadding1D": ("ZeroPadding1D", ("padding", "data_format")),
    "Cropping1D": ("Cropping1D", ("cropping",)),
    "Permute": ("Permute", ("dims",)),
    # normalization, activations, regularization, multi-head attention
    "LayerNormalization": ("LayerNormalization", ("axis", "epsilon", "center", "scale", "rms_scaling")),
    "BatchNormalization": ("BatchNormalization", ("axis", "momentum", "epsilon", "center", "scale", "renorm",
                                                  "renorm_clipping", "renorm_momentum")),
    "LeakyReLU": ("LeakyReLU", ("negative_slope",)),
    "PReLU": ("PReLU", ("shared_axes",)),
    "ELU": ("ELU", ("alpha",)),
    "ReLU": ("ReLU", ("max_value", "negative_slope", "threshold")),
    "Softmax": ("Softmax", ("axis",)),
    "SpatialDropout1D": ("SpatialDropout1D", ("rate", "seed")),
    "GaussianNoise": ("GaussianNoise", ("stddev", "seed")),
    "GaussianDropout": ("GaussianDropout", ("rate", "seed")),
    "MultiHeadAttention": ("MultiHeadAttention", ("num_heads", "key_dim", "value_dim", "dropout", "use_bias",
                                                  "output_shape", "attention_axes", "sliding_window", "use_gate",
                                                  "seed")),
}
_RNN = ("SimpleRNN", "GRU", "LSTM")
#: the built-in cells inside a Keras ``RNN(cell)`` / ``RNN([cell, cell])`` (StackedRNNCells)
_CELLS = {"SimpleRNNCell": SimpleRNNCell, "GRUCell": GRUCell, "LSTMCell": LSTMCell}
_RNN_KEYS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")
#: layers whose .keras weights live in groups of inner layers (in get_weights order); the empty
#: groups Keras also writes for their weightless inner layers are the second tuple
SUBLAYER_GROUPS = {"MultiHeadAttention": ("query_dense", "key_dense", "_gate_dense", "value_dense", "output_dense")}
SUBLAYER_EMPTY = {"MultiHeadAttention": ("_dropout_layer", "_softmax")}
_MODELS = ("Sequential", "Functional", "Model")
SUPPORTED = sorted(set(LAYER_MAP) | {"InputLayer"} | set(_MODELS))


def _require_h5py():
    return require_extra("h5py", "interop", "from_keras")


def keras_snake_case(name: str) -> str:
    """Keras's own ``to_snake_case`` (names the weight groups of a ``.keras`` file)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def keras_group_names(class_names: Iterable[str]) -> Iterator[str]:
    """The weight-group names Keras gives sibling layers (or stacked cells) of these classes, in order:
    the snake-case class name, then ``_1``, ``_2``... for each repeat of it."""
    used: dict[str, int] = {}
    for cls in class_names:
        key = keras_snake_case(cls)
        used[key] = used.get(key, -1) + 1
        yield f"{key}_{used[key]}" if used[key] else key


def _is_op(entry: dict) -> bool:
    """Keras 3 operations in a functional graph (e.g. the NotEqual that computes a mask): not layers,
    so not in ``model.layers`` nor in the weights file. (Legacy .h5 configs have no module; there
    such entries are found by ``_mask_only_ops`` and have no weights group.)"""
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _names_in(v, acc: set) -> set:
    h = _history(v)
    if h is not None:
        acc.add(h[0])
    elif isinstance(v, list):
        if len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1], int):  # Keras 2 reference
            acc.add(v[0])
        else:
            for x in v:
                _names_in(x, acc)
    elif isinstance(v, dict):
        for x in v.values():
            _names_in(x, acc)
    return acc


def _mask_only_ops(cfg: dict) -> set:
    """Names of graph entries that are not supported layers and feed only ``mask=`` arguments.

    Keras 3 writes the mask computation (``NotEqual`` on the ids...) into the graph; seqlayers
    layers carry masks on their tensors, so those entries are skipped. An unsupported entry that
    feeds data is left in, to be reported as unsupported.
    """
    candidates = {sub.get("name") or sub["config"].get("name") for sub in cfg["layers"]
                  if sub.get("class_name") not in LAYER_MAP and sub.get("class_name") not in ("InputLayer", *_MODELS)}
    data_refs: set = set()
    for sub in cfg["layers"]:
        name = sub.get("name") or sub["config"].get("name")
        if name in candidates:
            continue
        for node in sub.get("inbound_nodes", []):
            if isinstance(node, dict):
                _names_in(node.get("args", []), data_refs)
                _names_in({k: v for k, v in node.get("kwargs", {}).items() if k != "mask"}, data_refs)
            else:
                _names_in(node, data_refs)
    _names_in(cfg.get("output_layers"), data_refs)
    return candidates - data_refs


# ---------------------------------------------------------------- reading the file
class _KerasFile:
    def __init__(self, path: Path):
        h5py = _require_h5py()
        self.path: Path | str = path  # a str label when load_keras_weights reads an open file
        if not path.exists():
            raise FileNotFoundError(f"from_keras: no such file: {str(path)!r}.")
        self.h5 = None
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as zf:
                    names = zf.namelist()
                    if "config.json" not in names or "model.weights.h5" not in names:
                        raise ModelFileError(f"{str(path)!r}: a .keras file holds config.json and model.weights.h5; "
                                             f"found {names}.")
                    for info in zf.infolist():
                        _check_member(info, path)
                    size = zf.getinfo("config.json").file_size
                    if size > MAX_CONFIG_BYTES:
                        raise ModelFileError(f"{str(path)!r}: config.json claims {size:,} bytes (limit "
                                             f"{MAX_CONFIG_BYTES:,}); corrupted file?")
                    self.config = bounded_json.loads(zf.read("config.json"), f"{str(path)!r}: config.json",
                                                     ModelFileError)
            except (zipfile.BadZipFile, json.JSONDecodeError, OSError, KeyError) as e:
                raise ModelFileError(f"{str(path)!r}: not a readable .keras file: {e}") from e
            self.legacy = False
        else:
            try:
                self.h5 = h5py.File(path, "r")
            except OSError as e:
                raise ModelFileError(f"{str(path)!r}: neither a .keras zip nor an HDF5 file: {e}") from e
            if "model_config" not in self.h5.attrs:
                raise ModelFileError(f"{str(path)!r}: this HDF5 file has weights only (no model_config); "
                                     f"build the model and call load_weights, or save the whole Keras model.")
            _check_config_attribute(self.h5, path)
            raw = self.h5.attrs["model_config"]
            self.config = bounded_json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw,
                                             f"{str(path)!r}: model_config", ModelFileError)
            self.legacy = True

    def open_weights(self, limit: int) -> None:
        """Open a .keras file's weights member once its size is known to fit ``limit`` (from the model)."""
        if self.h5 is not None:
            return
        h5py = _require_h5py()
        try:
            with zipfile.ZipFile(self.path) as zf:
                size = zf.getinfo("model.weights.h5").file_size
                if size > limit:
                    raise ModelFileError(f"{str(self.path)!r}: model.weights.h5 claims {size:,} bytes, more than the "
                                         f"{limit:,} bytes (the limit) the model's config allows; corrupted or "
                                         f"hostile?")
                self.h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
        except (zipfile.BadZipFile, OSError, KeyError, EOFError, zlib.error) as e:
            raise ModelFileError(f"{str(self.path)!r}: not a readable .keras file: {e}") from e


def _largest_heap_collection(path: Path) -> int:
    """The largest global heap collection of an HDF5 file (its declared size), found by scanning the
    file in 1 MiB chunks for the collections' ``GCOL`` signature (version 1). HDF5 reads a variable-
    length string from one collection, which must lie inside the file (HDF5 checks that), so no
    variable-length string is longer. Sizes past the end of the file are not collections HDF5 reads."""
    size, largest, tail = os.path.getsize(path), 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(2**20):
            data = tail + chunk
            i = data.find(b"GCOL")
            while i != -1 and i + 16 <= len(data):
                declared = int.from_bytes(data[i + 8:i + 16], "little")
                if data[i + 4] == 1 and declared <= size:
                    largest = max(largest, declared)
                i = data.find(b"GCOL", i + 1)
            tail = data[-15:]
    return largest


def _check_config_attribute(h5, path: Path) -> None:
    """Bound a legacy .h5's ``model_config`` attribute before reading it. An HDF5 attribute cannot be
    compressed (no filters: it sits in the object header or the dense attribute storage, and a
    variable-length string in a global heap collection inside the file), so its size is at most the
    file's; it must be one (scalar) string of at most MAX_CONFIG_BYTES: a fixed-length string by its
    storage size, a variable-length one by the file's size or, in a larger file, by the largest heap
    collection (an array of strings could point many times at one heap object: refused)."""
    h5py = _require_h5py()
    aid = h5py.h5a.open(h5.id, b"model_config")
    string = h5py.check_string_dtype(aid.dtype)
    if aid.shape != () or string is None:
        raise ModelFileError(f"{str(path)!r}: model_config must be one string (a scalar attribute), got an attribute "
                             f"of shape {aid.shape} and type {aid.dtype}; corrupted or hostile file?")
    if string.length is not None:
        size, what = aid.get_storage_size(), "is"
    else:
        size, what = os.path.getsize(path), "may be (the file's size)"
        if size > MAX_CONFIG_BYTES:
            size, what = _largest_heap_collection(path), "may be (its largest heap collection)"
    if size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{str(path)!r}: model_config {what} {size:,} bytes, more than {MAX_CONFIG_BYTES:,} "
                             f"(the limit for a model config); corrupted or hostile file?")


def _check_member(info, path) -> None:
    if info.file_size > 4 * 2**20 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise ModelFileError(f"{str(path)!r}: member {info.filename} unpacks {info.compress_size:,} bytes to "
                             f"{info.file_size:,}, a ratio above {MAX_COMPRESSION_RATIO} (the limit); a zip bomb "
                             f"or a corrupted file.")


#: the largest weight array read from an HDF5 file: set from the model being loaded (all its weights)
_MAX_ARRAY_VALUES: contextvars.ContextVar[int] = contextvars.ContextVar("max_array_values", default=2**62)


def _read_array(ds) -> np.ndarray:
    """An HDF5 dataset as an array, refused before reading when it is larger than any weight of the model."""
    size = int(np.prod(ds.shape)) if getattr(ds, "shape", None) is not None else 0
    if size > _MAX_ARRAY_VALUES.get():
        raise ModelFileError(f"{getattr(ds, 'name', 'a weight')}: {size:,} values, more than all the weights of "
                             f"the model together ({_MAX_ARRAY_VALUES.get():,}, the limit); corrupted or hostile file?")
    return np.asarray(ds)


# ---------------------------------------------------------------- config -> layers
def _resolve_function(ref, layer_name, custom_objects, where, referrer="the Keras Lambda"):
    fn_name = None
    if isinstance(ref, str):
        fn_name = ref
    elif isinstance(ref, dict) and ref.get("class_name") == "function":
        fn_name = ref.get("config") if isinstance(ref.get("config"), str) else ref.get("registered_name")
    fn = find_function((fn_name, layer_name), fn_name, custom_objects, by_short_name=True)
    if fn is not None:
        return fn
    what = f"function {fn_name!r}" if fn_name else "an anonymous lambda (stored as Python bytecode)"
    raise ValueError(
        f"{where}: {referrer} refers to {what}; seqlayers never runs code from a model file. "
        f"Register the function (seqlayers.register_function(fn, name={fn_name or 'my_fn'!r})) or pass "
        f"custom_objects={{{(fn_name or layer_name)!r}: fn}}."
    )


def _activation(value, layer_name, custom_objects, where):
    if value is None or isinstance(value, str):
        return value
    return _resolve_function(value, layer_name, custom_objects, where, referrer="an activation")


def _with_activations(kwargs: dict, layer_name, custom_objects, where) -> dict:
    """``kwargs`` with its ``activation`` / ``recurrent_activation`` entries resolved (a layer's or a cell's)."""
    for k in ("activation", "recurrent_activation"):
        if k in kwargs:
            kwargs[k] = _activation(kwargs[k], layer_name, custom_objects, where)
    return kwargs


def _shape(v):
    return None if v is None else tuple(v)


def _convert_layer(entry: dict, custom_objects, where: str):
    """Our layer for a Keras layer entry ``{"class_name", "config"}``."""
    cls_name = entry.get("class_name")
    cfg = entry.get("config") or {}
    name = cfg.get("name")
    label = f"{cls_name} {name!r} ({where})"
    if cls_name in _MODELS:
        return _convert_model(entry, custom_objects, where)
    custom = _custom_class(entry, custom_objects)
    if custom is not None:
        return _custom_layer(custom, cfg, label)
    if cls_name == "RNN" and isinstance(cfg.get("cell"), dict):
        cell = _convert_cell(cfg["cell"], custom_objects, label)
        return RNN_(cell, name=name, **{k: cfg[k] for k in _RNN_KEYS if k in cfg})
    if cls_name not in LAYER_MAP:
        raise ValueError(
            f"from_keras: unsupported layer {cls_name} {name!r} at {where}. Supported layers: "
            f"{', '.join(SUPPORTED)}. Rebuild that part with seqlayers layers, or register a custom "
            f"layer class and load its weights with set_weights."
        )
    ours, keys = LAYER_MAP[cls_name]
    kwargs = _with_activations({k: cfg[k] for k in keys if k in cfg}, name, custom_objects, label)
    if "noise_shape" in kwargs:
        kwargs["noise_shape"] = _shape(kwargs["noise_shape"])
    if "target_shape" in kwargs:
        kwargs["target_shape"] = tuple(kwargs["target_shape"])
    if cls_name == "Lambda":
        kwargs["function"] = _resolve_function(cfg.get("function"), name, custom_objects, label)
        out_shape = cfg.get("output_shape")
        if isinstance(out_shape, (list, tuple)):
            kwargs["output_shape"] = tuple(out_shape)
        elif out_shape is not None:
            kwargs["output_shape"] = _resolve_function(out_shape, None, custom_objects, label)
        if cfg.get("arguments"):
            kwargs["arguments"] = cfg["arguments"]
    if cls_name in ("TimeDistributed", "Bidirectional"):
        inner = cfg.get("layer")
        if not isinstance(inner, dict):
            raise ModelFileError(f"from_keras: {label} has no wrapped layer in its config.")
        inner_layer = _convert_layer(inner, custom_objects, f"{where} > {inner.get('class_name')}")
        if cls_name == "Bidirectional":
            if inner_layer.name and inner_layer.name.startswith("forward_"):
                inner_layer.name = inner_layer.name[len("forward_"):]
            back = cfg.get("backward_layer")
            if isinstance(back, dict) and back.get("class_name") != inner.get("class_name"):
                kwargs["backward_layer"] = _convert_layer(back, custom_objects, f"{where} > backward_layer")
        kwargs["layer"] = inner_layer
    if cls_name == "Embedding" and cfg.get("input_length") is not None:
        kwargs["input_length"] = cfg["input_length"]
    if cfg.get("trainable") is False:
        kwargs["trainable"] = False
    for key in ("batch_input_shape", "batch_shape"):  # Keras 2: the first layer carries the input shape
        if cfg.get(key) is not None:
            kwargs["batch_input_shape"] = tuple(cfg[key])
    try:
        return _layer_class(ours)(name=name, **kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"from_keras: cannot build {label}: {e}") from e


def _convert_cell(entry: dict, custom_objects, label: str):
    """A Keras cell as ours: a built-in one (Keras's config keys are ours), a user's cell class registered
    or given in ``custom_objects`` (as a custom layer), or a StackedRNNCells of them."""
    cls, cfg = entry.get("class_name"), entry.get("config") or {}
    if cls == "StackedRNNCells":
        return StackedRNNCells([_convert_cell(c, custom_objects, label) for c in cfg.get("cells", [])])
    custom = _custom_class(entry, custom_objects)
    if custom is not None:
        return _custom_layer(custom, cfg, label)
    if cls not in _CELLS:
        raise ValueError(f"from_keras: {label} holds a cell of class {cls!r}, which is neither built in "
                         f"({', '.join(_CELLS)}, StackedRNNCells) nor registered. Register your cell class "
                         f"(@seqlayers.saving.register_keras_serializable()) or pass custom_objects={{{cls!r}: "
                         f"YourCell}}.")
    keys = rnn_keys(_CELLS[cls])
    kwargs = {k: cfg[k] for k in keys if k in cfg and k != "name"}
    return _CELLS[cls](**_with_activations(kwargs, cfg.get("name"), custom_objects, label))


def _cell_weights(entry: dict, group) -> list[np.ndarray]:
    """A Keras cell's weights from its ``.keras`` group; a stack's cells in their order (groups by snake name)."""
    if entry.get("class_name") != "StackedRNNCells":
        return _vars(group)
    out: list[np.ndarray] = []
    for key in keras_group_names(sub["class_name"] for sub in entry["config"]["cells"]):
        out += _vars(group["cells"][key]) if "cells" in group and key in group["cells"] else []
    return out


def _custom_class(entry: dict, custom_objects):
    """A user's registered layer class (``register_keras_serializable`` / ``custom_objects``) for an entry
    that no seqlayers layer maps, else None; looked up by name only (no code from the file runs)."""
    names = [entry.get("registered_name"), entry.get("class_name")]
    for n in names:
        if n and custom_objects and isinstance(custom_objects.get(n), type):
            return custom_objects[n]
    if entry.get("class_name") in LAYER_MAP:
        return None
    for n in names:
        c = LAYER_REGISTRY.get(n) if n else None
        if c is not None and not c.__module__.startswith("seqlayers."):
            return c
    return None


def _custom_layer(cls, cfg: dict, label: str):
    cfg = dict(cfg)
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):  # Keras 3's DTypePolicy entry: its name
        cfg["dtype"] = (dtype.get("config") or {}).get("name", "float32")
    try:
        return cls.from_config(cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(f"from_keras: cannot build {label} with {cls.__name__}.from_config: {e}") from e


def _layer_class(name):
    if name == "Bidirectional":
        return Bidirectional
    return LAYER_REGISTRY[name]


def _history(t):
    """[layer_name, node_index, tensor_index] of a Keras tensor reference (Keras 3 or 2)."""
    if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
        return t["config"]["keras_history"]
    return None


def _keras_input(c: dict, name=None):
    """An ``Input`` from a Keras InputLayer's config (Keras 3 ``batch_shape`` or Keras 2's name)."""
    shape = c.get("batch_shape") or c.get("batch_input_shape")
    if shape is None:
        raise TypeError(f"from_keras: the InputLayer config {c.get('name')!r} has no batch_shape (Keras 3) or "
                        f"batch_input_shape (Keras 2); the file is malformed: re-save it with Keras.")
    return Input(batch_shape=tuple(shape), dtype=c.get("dtype") or "float32", name=name)


def _convert_sequential(entry: dict, custom_objects, where: str):
    cfg = entry["config"]
    model = Sequential(name=cfg.get("name"))
    layers = cfg["layers"]
    n = sum(sub.get("class_name") != "InputLayer" for sub in layers)  # a Sequential's model.layers: no InputLayer
    k = 0
    for sub in layers:
        if sub.get("class_name") == "InputLayer":
            model.add(_keras_input(sub["config"]))
            continue
        k += 1
        model.add(_convert_layer(sub, custom_objects, f"{where} layer {k} of {n}"))
    shape = cfg.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    if not model.built and shape is not None:
        model.build_from_shape(tuple(shape))
    return model


class _KerasGraph:
    """A Keras functional config being rebuilt: the layers made, the calls still to make, and the
    symbolic tensors made so far by (layer name, node index, tensor index)."""

    def __init__(self, cfg: dict, custom_objects, where: str):
        self.made: dict[str, Any] = {}
        self.produced: dict[tuple, object] = {}
        self.ops = _mask_only_ops(cfg)
        self.nested: set[str] = set()  # nested functional models (see refs below)
        self.pending: list[tuple] = []
        layers = cfg["layers"]
        listed = sum(not _is_op(sub) for sub in layers)  # a functional model.layers: InputLayers in, operations out
        k = 0
        for sub in layers:
            name = sub.get("name") or sub["config"].get("name")
            op = _is_op(sub)
            k += not op
            pos = f"{where}, a Keras operation after layer {k}" if op else f"{where} layer {k} of {listed}"
            if sub.get("class_name") == "InputLayer":
                self.produced[(name, 0, 0)] = _keras_input(sub["config"], name)
                continue
            if name in self.ops:
                continue
            self.made[name] = _convert_layer(sub, custom_objects, pos)
            if sub.get("class_name") in ("Functional", "Model"):
                self.nested.add(name)
            for n, node in enumerate(sub.get("inbound_nodes", [])):
                self.pending.append((name, n, node, pos))

    def decode(self, v):
        h = _history(v)
        if h is not None:
            key = (h[0], h[1], h[2])
            if h[0] in self.ops:
                return _OP
            if key not in self.produced:
                raise KeyError(key)
            return self.produced[key]
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if isinstance(v, dict):
            return {k: self.decode(x) for k, x in v.items()}
        return v

    def call_args(self, node):
        if isinstance(node, dict):  # Keras 3
            args = self.decode(node.get("args", []))
            kwargs = self.decode(node.get("kwargs", {}))
        else:  # Keras 2: [[name, node, index, kwargs], ...]
            refs = [self.decode({"class_name": "__keras_tensor__", "config": {"keras_history": r[:3]}})
                    for r in node]
            args = [refs[0] if len(refs) == 1 else refs]
            kwargs = dict(node[0][3]) if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        kwargs.pop("training", None)
        if kwargs.get("mask") is _OP or kwargs.get("mask") is None or \
                (isinstance(kwargs.get("mask"), list) and all(m is _OP or m is None for m in kwargs["mask"])):
            kwargs.pop("mask", None)
        return args, kwargs

    def _call(self, name: str, n: int, node, pos: str) -> bool:
        """Make one saved call if its inputs exist; False when they are not made yet."""
        try:
            args, kwargs = self.call_args(node)
        except KeyError:
            return False
        if any(a is _OP for a in _flat(args)):
            raise ValueError(f"from_keras: {pos}: {name!r} is fed by a Keras operation "
                             f"({', '.join(sorted(self.ops))}), which seqlayers does not import.")
        out = self.made[name](*args, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        for j, o in enumerate(outs):
            self.produced[(name, n, j)] = o
        return True

    def run_calls(self) -> None:
        stuck = call_when_ready(self.pending, self._call)
        if stuck is not None:
            name, n, node, pos = stuck
            raise ValueError(f"from_keras: {pos}: the inputs of {name!r} come from an unsupported "
                             f"operation ({', '.join(sorted(self.ops)) or 'unknown'}).")

    def refs(self, v):
        if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and isinstance(v[1], int):
            # Keras counts a nested functional model's own graph as its node 0 here (only here:
            # call arguments count its calls from 0)
            key = (v[0], v[1] - 1 if v[0] in self.nested else v[1], v[2])
            if key not in self.produced:
                raise ValueError(f"from_keras: the model's inputs/outputs refer to {v!r}, which is not built.")
            return self.produced[key]
        if isinstance(v, list):
            return [self.refs(x) for x in v]
        if isinstance(v, dict):
            return {k: self.refs(x) for k, x in v.items()}
        raise ModelFileError(f"from_keras: bad input/output reference {v!r}.")


def _convert_model(entry: dict, custom_objects, where: str = "model"):
    if entry["class_name"] == "Sequential":
        return _convert_sequential(entry, custom_objects, where)
    cfg = entry["config"]
    graph = _KerasGraph(cfg, custom_objects, where)
    graph.run_calls()
    inputs, outputs = graph.refs(cfg["input_layers"]), graph.refs(cfg["output_layers"])
    return Model(inputs, outputs, name=cfg.get("name"))


_OP = object()


def _flat(v):
    if isinstance(v, (list, tuple)):
        return [y for x in v for y in _flat(x)]
    if isinstance(v, dict):
        return [y for x in v.values() for y in _flat(x)]
    return [v]


# ---------------------------------------------------------------- weights
def _vars(group) -> list[np.ndarray]:
    if "vars" not in group:
        return []
    v = group["vars"]
    return [_read_array(v[str(i)]) for i in range(len(v))]


def _keras3_weights(entry: dict, group) -> list[np.ndarray]:
    """The weights of one Keras layer from its ``.keras`` group, in ``get_weights`` order."""
    cls = entry["class_name"]
    cfg = entry["config"]
    if cls in _RNN:
        return _vars(group["cell"]) if "cell" in group else _vars(group)
    if cls == "RNN" and isinstance(cfg.get("cell"), dict):
        return _cell_weights(cfg["cell"], group["cell"]) if "cell" in group else []
    if cls == "Bidirectional":
        return _keras3_weights(cfg["layer"], group["forward_layer"]) + \
            _keras3_weights(cfg.get("backward_layer") or cfg["layer"], group["backward_layer"])
    if cls == "TimeDistributed":
        return _keras3_weights(cfg["layer"], group["layer"])
    if cls in _MODELS:
        out = []
        for sub, g in _keras3_children(entry, group):
            out += _keras3_weights(sub, g)
        return out
    if cls in SUBLAYER_GROUPS:  # weights kept by inner layers, in get_weights order
        return [w for name in SUBLAYER_GROUPS[cls] if name in group for w in _vars(group[name])]
    return _vars(group)


def _keras3_children(entry: dict, group):
    """(layer entry, weights group) for each layer of a Keras model, named as Keras names them."""
    sequential = entry["class_name"] == "Sequential"
    subs = [sub for sub in entry["config"]["layers"]
            if not (_is_op(sub) or (sequential and sub["class_name"] == "InputLayer"))]
    for sub, name in zip(subs, keras_group_names(sub["class_name"] for sub in subs)):
        layers = group["layers"] if "layers" in group else {}
        yield sub, layers[name] if name in layers else {}


def _legacy_weights(layer_name: str, h5) -> list[np.ndarray]:
    root = h5["model_weights"] if "model_weights" in h5 else h5
    if layer_name not in root:
        return []
    g = root[layer_name]
    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
    return [_read_array(g[n]) for n in names]


def _assign(ours, arrays, label):
    if not arrays and not getattr(ours, "weights", []):
        return
    try:
        ours.set_weights(arrays)
    except ValueError as e:
        raise ValueError(f"from_keras: weights of {label} do not fit: {e}") from e


def _load_weights(kf: _KerasFile, model, entry: dict) -> None:
    """Set each layer's weights from the file (our layers carry the Keras layers' names)."""
    ours_by_name = {layer.name: layer for layer in model.layers}

    def ours_for(sub):
        kname = sub.get("name") or sub["config"].get("name")
        if kname not in ours_by_name:
            raise ModelFileError(f"from_keras: no layer named {kname!r} was built for the Keras {sub['class_name']}.")
        return kname, ours_by_name[kname]

    if kf.legacy:
        for sub in entry["config"]["layers"]:
            if sub["class_name"] == "InputLayer" or _is_op(sub) or sub["class_name"] not in LAYER_MAP and \
                    sub["class_name"] not in (*_MODELS, "RNN"):
                continue
            kname, ours = ours_for(sub)
            _assign(ours, _legacy_weights(kname, kf.h5), f"{sub['class_name']} {kname!r}")
        return
    for sub, group in _keras3_children(entry, kf.h5):
        if sub["class_name"] == "InputLayer":
            continue
        kname, ours = ours_for(sub)
        arrays = _keras3_weights(sub, group) if len(group) else []
        _assign(ours, arrays, f"{sub['class_name']} {kname!r}")


def load_keras_weights(h5, model, entry: dict, label: str) -> None:
    """Weights from an open Keras 3 ``.weights.h5`` file into ``model``, whose Keras config is ``entry``
    (``keras_export.layer_config(model)``); a file of another architecture raises ``ModelFileError``."""
    kf = _KerasFile.__new__(_KerasFile)
    kf.path, kf.h5, kf.legacy, kf.config = label, h5, False, entry
    try:
        _load_weights(kf, model, entry)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(f"{label!r}: the weights do not fit this model ({type(e).__name__}: {e}).") from e


# ---------------------------------------------------------------- entry point
def from_keras(path, custom_objects: dict | None = None, compile: bool = False):
    """Load a Keras model file (``.keras`` from Keras 3, or a legacy ``.h5``) as a seqlayers model.

    Args:
        path: the Keras file.
        custom_objects: ``{name: function}`` for ``Lambda`` layers (by function name or by the
            Lambda layer's name) and custom activations (of layers and of cells), ``{name: class}``
            for custom layers and for custom cells inside ``RNN`` not registered with
            ``register_keras_serializable``; nothing in the file is ever executed.
        compile: compile the model from the file's ``compile_config`` (optimizer class and
            hyperparameters, losses, metrics; see ``keras_compile``), as ``load_model`` does.

    Returns a ``Sequential`` or functional ``Model`` whose outputs match Keras's on the same inputs,
    in eval mode (``model.train()`` before training: dropout then applies).
    Raises ``ValueError`` naming the class, name and position of an unsupported layer ("model layer k
    of N": the k-th, from 1, of the N layers Keras lists in the model's ``model.layers``), and
    ``ModelFileError`` (a ValueError) for a truncated or corrupted file.
    """
    try:
        return _from_keras(path, custom_objects, compile)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{str(path)!r}: the model config is not valid JSON (corrupted file?): {e}") from e
    except (ValueError, FileNotFoundError, ImportError):  # our own teaching errors, ModelFileError included
        raise
    except (KeyError, IndexError, TypeError, AttributeError, RuntimeError, OSError, OverflowError,
            MemoryError) as e:  # h5py on bad bytes
        raise ModelFileError(f"{str(path)!r}: corrupted or unexpected Keras file ({type(e).__name__}: "
                             f"{str(e)[:200]}).") from e


def _from_keras(path, custom_objects, compile=False):
    kf = _KerasFile(Path(path))
    entry = kf.config
    if not isinstance(entry, dict) or entry.get("class_name") not in _MODELS:
        cls = entry.get("class_name") if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"from_keras: the file holds a {cls}, expected a Sequential or functional model "
                         f"(subclassed Keras models have no config to rebuild).")
    model = _convert_model(entry, custom_objects)
    shapes = [tuple(v.shape) for v in model.state_dict().values()]
    values = sum(int(np.prod(s)) for s in shapes)
    kf.open_weights(8 * values + 2**20 + 2**16 * len(shapes))  # HDF5 adds a few KiB per dataset
    token = _MAX_ARRAY_VALUES.set(values)  # no Keras array is larger than all the model's weights together
    try:
        _load_weights(kf, model, entry)
    finally:
        _MAX_ARRAY_VALUES.reset(token)
    kf.h5.close()
    if compile and isinstance(entry.get("compile_config"), dict):
        compile_from_keras(model, entry["compile_config"])
    model.eval()
    return model


__all__ = ["from_keras", "keras_snake_case", "LAYER_MAP", "SUBLAYER_GROUPS", "SUBLAYER_EMPTY"]
