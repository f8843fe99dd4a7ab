"""``to_keras(model, path)``: write a Keras 3 ``.keras`` file (Keras itself is not imported).

The file is the zip Keras 3 writes: ``metadata.json``, ``config.json`` (the model as Keras layer
configs, the functional graph as ``inbound_nodes`` with ``__keras_tensor__`` references) and
``model.weights.h5`` (each layer's weights under ``layers/<snake_case class>[_k]/vars/<i>``, the
names Keras gives the entries of ``model.layers``; recurrent layers under ``cell/``, Bidirectional
under ``forward_layer/`` and ``backward_layer/``, TimeDistributed under ``layer/``). Weights are
taken with ``get_weights()``, already in Keras layout. ``keras.saving.load_model(path)`` reads it.

Supported: the layers ``from_keras`` reads, except ``Lambda`` (Keras would need the function's
code) and custom activations; Sequential and functional models, nested models.
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from .. import activations
from ..atomic import atomic_write
from ..errors import layer_label, require_extra
from ..layers.base import LAYER_REGISTRY, Layer
from ..layers.bidirectional import Bidirectional
from ..layers.cells import arg_names
from ..layers.core import Lambda
from ..layers.rnn import GRU, LSTM, RNN, SimpleRNN
from ..layers.stacked_cells import StackedRNNCells
from ..layers.wrappers import TimeDistributed
from ..models.base import BaseModel
from ..models.functional import Model
from ..models.sequential import Sequential
from ..models.symbolic import InputLayer, SymbolicTensor, dtype_name
from ..serialization import get_registered_name
from ..utils import map_structure
from .keras_compile import compile_to_keras
from .keras_import import LAYER_MAP, SUBLAYER_EMPTY, SUBLAYER_GROUPS, keras_group_names

_KERAS_VERSION = "3.5.0"  # the oldest Keras 3 whose loader reads what we write


def _activation_name(value, layer, arg):
    if value is None or isinstance(value, str):
        return value or "linear"
    name = activations.name_of(value)
    if name is None:
        raise ValueError(f"to_keras: {layer_label(layer)} has a custom {arg} function "
                         f"{getattr(value, '__name__', value)!r}; Keras could not rebuild it. Use a named activation.")
    return name


def _entry(class_name, config, layer=None, module="keras.layers"):
    out = {"module": module, "class_name": class_name, "config": config, "registered_name": None}
    shape = getattr(layer, "_build_input_shape", None)
    if shape is not None and getattr(layer, "built", False):
        out["build_config"] = {"input_shape": _json_shape(shape)}
        if class_name == "MultiHeadAttention":  # Keras builds it from named shapes
            names = ("query_shape", "value_shape", "key_shape")
            out["build_config"] = {"shapes_dict": {n: _json_shape(s) for n, s in zip(names, shape)}}
    return out


def _json_shape(shape):
    if shape and isinstance(shape[0], (list, tuple)):
        return [_json_shape(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


#: our recurrent layers' arguments that Keras 3 does not take (accepted here for Keras 2's files)
RNN_NOT_IN_KERAS = ("implementation", "input_length")
_LAYER_KWARGS = arg_names(Layer.__init__)  # name, input_shape, dtype...: written by layer_config itself


def rnn_config(layer) -> dict:
    """A SimpleRNN / GRU / LSTM's Keras config: its ``get_config()`` (the cell's arguments and RNN's),
    less ``Layer``'s own keys and ``RNN_NOT_IN_KERAS``; activations by name, initializers when named."""
    out = {}
    for key, value in layer.get_config().items():
        if key in _LAYER_KWARGS or key in RNN_NOT_IN_KERAS:
            continue
        if key.endswith("activation"):
            value = _activation_name(getattr(layer, key), layer, key)
        elif key.endswith("initializer") and not isinstance(value, str):
            continue  # a callable or an object: Keras keeps its default (the weights travel anyway)
        out[key] = value
    return out


def layer_config(layer) -> dict:
    """The Keras 3 config entry of one of our layers (recursively for wrappers and models)."""

    if isinstance(layer, Sequential):
        return _sequential_config(layer)
    if isinstance(layer, Model) and getattr(layer, "_functional", False):
        return _functional_config(layer)
    cls = type(layer).__name__
    raw = dict(getattr(layer, "_config", {}))
    base = {"name": layer.name or layer.default_name, "trainable": layer.trainable, "dtype": "float32"}
    if isinstance(layer, Lambda):
        raise ValueError(f"to_keras: {layer_label(layer)} cannot be written for Keras: Keras stores a "
                         f"Lambda's function as code. Replace it with a layer, or rebuild it in Keras.")
    if isinstance(layer, TimeDistributed):  # TimeDistributedDense too
        return _entry("TimeDistributed", {**base, "layer": layer_config(layer.layer)}, layer)
    if isinstance(layer, Bidirectional):
        fwd = layer_config(layer.forward_layer)
        bwd = layer_config(layer.backward_layer)
        return _entry("Bidirectional", {**base, "merge_mode": layer.merge_mode, "layer": fwd,
                                        "backward_layer": bwd}, layer)
    if isinstance(layer, (SimpleRNN, GRU, LSTM)):
        return _entry(cls, {**base, **rnn_config(layer)}, layer)
    if type(layer) is RNN:  # RNN(cell) / RNN([cell, cell]): the cell (or StackedRNNCells) nested, as Keras
        options = {k: getattr(layer, k) for k in ("return_sequences", "return_state", "go_backwards", "stateful",
                                                  "unroll")}
        return _entry("RNN", {**base, **options, "cell": _cell_config(layer.cell)}, layer)
    simple = {
        "Dense": lambda: {"units": layer.units, "use_bias": layer.use_bias,
                          "activation": _activation_name(raw.get("activation"), layer, "activation")},
        "Activation": lambda: {"activation": _activation_name(raw.get("activation"), layer, "activation")},
        "Dropout": lambda: {"rate": layer.rate, "seed": raw.get("seed"),
                            "noise_shape": list(layer.noise_shape) if layer.noise_shape is not None else None},
        "Embedding": lambda: {"input_dim": layer.input_dim, "output_dim": layer.output_dim,
                              "mask_zero": layer.mask_zero},
        "Masking": lambda: {"mask_value": layer.mask_value},
        "RepeatVector": lambda: {"n": layer.n},
        "Flatten": lambda: {"data_format": layer.data_format},
        "Reshape": lambda: {"target_shape": list(layer.target_shape)},
        "Concatenate": lambda: {"axis": layer.axis},
        "Add": lambda: {},
    }
    if cls not in simple and cls in LAYER_MAP:  # the layers whose arguments are Keras's, one to one
        if cls in _NO_TRAINABLE_ARGUMENT:
            base.pop("trainable")
        return _entry(cls, {**base, **_keras_arguments(layer, raw, LAYER_MAP[cls][1])}, layer)
    if cls not in simple and not type(layer).__module__.startswith("seqlayers."):
        return _custom_entry(layer, base)
    if cls not in simple:
        raise ValueError(f"to_keras: {layer_label(layer)}: no Keras equivalent is known for {cls}. Supported: "
                         f"{', '.join(sorted(simple))}, SimpleRNN, GRU, LSTM, Bidirectional, TimeDistributed, "
                         f"Sequential, Model.")
    return _entry(cls, {**base, **simple[cls]()}, layer)


def _cell_config(cell) -> dict:
    base = {"name": cell.name or cell.default_name, "trainable": cell.trainable, "dtype": "float32"}
    if isinstance(cell, StackedRNNCells):
        return _entry("StackedRNNCells", {**base, "cells": [_cell_config(c) for c in cell.cells]})
    if not type(cell).__module__.startswith("seqlayers."):  # a user's cell class, as a user's layer
        return _custom_entry(cell, base)
    if type(cell).__name__ not in ("SimpleRNNCell", "GRUCell", "LSTMCell"):
        raise ValueError(f"to_keras: {layer_label(cell)}: only the built-in cells (SimpleRNNCell, GRUCell, "
                         f"LSTMCell), a user's registered cell class and StackedRNNCells of them can be "
                         f"written for Keras.")
    return _entry(type(cell).__name__, {**base, **rnn_config(cell)})


def _write_cell(group, cell) -> None:
    """A cell's weights as Keras keeps them: a stack's cells in ``cells/<class snake name>[_k]``."""
    if not isinstance(cell, StackedRNNCells):
        _write_vars(group, cell.get_weights())
        return
    _write_vars(group, [])
    cells = group.create_group("cells")
    for c, key in zip(cell.cells, keras_group_names(type(c).__name__ for c in cell.cells)):
        _write_cell(cells.create_group(key), c)


def _custom_entry(layer, base: dict) -> dict:
    """A user's layer class (a subclass written as in Keras's guide): its ``get_config()`` and the name
    it is registered under (``register_keras_serializable``), so Keras or seqlayers rebuilds it from
    the same class definition."""
    cls = type(layer)
    if LAYER_REGISTRY.get(cls.__name__) is not cls and get_registered_name(cls) == cls.__name__:
        raise ValueError(f"to_keras: {layer_label(layer)}: the custom class {cls.__name__} is not registered; "
                         f"decorate it with @seqlayers.saving.register_keras_serializable() so loading finds it.")
    config = {**base, **layer.get_config()}
    try:
        json.dumps(config)
    except TypeError as e:
        raise ValueError(f"to_keras: {layer_label(layer)}: get_config() must return JSON values (numbers, strings, "
                         f"lists, dicts); {e}. Return names or plain values for its arguments.") from None
    entry = _entry(cls.__name__, config, layer, module=cls.__module__)
    entry["registered_name"] = get_registered_name(cls)
    return entry


def _keras_arguments(layer, raw: dict, keys) -> dict:
    """The Keras config values of the constructor arguments ``keys`` (tuples as lists, activations
    by name)."""
    out = {}
    for k in keys:
        if k not in raw:
            continue
        v = raw[k]
        if k == "activation":
            v = _activation_name(v, layer, k)
        out[k] = _listed(v)
    return out


#: Keras layers whose constructor takes no ``trainable`` argument
_NO_TRAINABLE_ARGUMENT = ("SpatialDropout1D",)


def _listed(v):
    return [_listed(x) for x in v] if isinstance(v, (tuple, list)) else v


def _input_entry(name, batch_shape, dtype):
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": _json_shape(batch_shape), "dtype": dtype_name(dtype), "sparse": False,
                       "ragged": False, "name": name}}


def _sequential_config(model) -> dict:
    layers = []
    shape = model.declared_input_shape or model._build_input_shape
    if shape is not None:
        dtype = model._input_dtype
        if dtype is None:
            spec = getattr(model.layers[0], "input_spec", None) if model.layers else None
            dtype = torch.int64 if getattr(spec, "dtype", None) == "int" else torch.float32
        layers.append(_input_entry(f"{model.display_name}_input", shape, dtype))
    layers += [layer_config(layer) for layer in model.layers]
    entry: dict[str, Any] = {"module": "keras", "class_name": "Sequential", "registered_name": None,
             "config": {"name": model.display_name, "trainable": True, "dtype": "float32", "layers": layers}}
    if shape is not None:
        entry["config"]["build_input_shape"] = _json_shape(shape)
        entry["build_config"] = {"input_shape": _json_shape(shape)}
    return entry


def keras_layer_order(model) -> list:
    """A functional model's layers in the order Keras 3 lists ``model.layers`` (Inputs included): the
    order Keras names the weight groups of a ``.keras`` file after (``dense``, ``dense_1``...). It is
    ``model.layers`` itself (see ``seqlayers.models.functional.keras_order``)."""
    return list(model.layers)


def _functional_config(model) -> dict:
    index: dict[int, tuple[str, int]] = {}
    calls: dict[int, list] = {}
    for node in model._nodes:
        layer = node.layer
        calls.setdefault(id(layer), [])
        index[id(node)] = (layer.name, len(calls[id(layer)]))
        calls[id(layer)].append(node)
    order = keras_layer_order(model)

    def tensor(t: SymbolicTensor):
        name, k = index[id(t.node)]
        return {"class_name": "__keras_tensor__",
                "config": {"shape": _json_shape(t.shape), "dtype": dtype_name(t.dtype),
                           "keras_history": [name, k, t.index]}}

    def encode(v):
        return map_structure(lambda x: tensor(x) if isinstance(x, SymbolicTensor) else x, v,
                             leaf=lambda x: isinstance(x, SymbolicTensor))

    layers = []
    for layer in order:
        if isinstance(layer, InputLayer):
            entry = _input_entry(layer.name, layer.batch_shape, layer.input_dtype)
            layers.append({**entry, "name": layer.name, "inbound_nodes": []})
            continue
        entry = layer_config(layer)
        nodes = []
        for node in calls[id(layer)]:
            kwargs = {k: v for k, v in node.kwargs.items() if k not in ("training",)}
            if kwargs.pop("parallel_steps", False):
                raise ValueError(f"to_keras: {layer_label(layer)} is called with parallel_steps=True, which "
                                 f"Keras's recurrent layers do not take (Keras would refuse the file). Save "
                                 f"with model.save('model.seqlayers') instead.")
            nodes.append({"args": encode(list(node.args)), "kwargs": encode(kwargs)})
        layers.append({**entry, "name": layer.name, "inbound_nodes": nodes})

    def ref(t):
        name, k = index[id(t.node)]
        # Keras counts a nested functional model's own graph as its node 0 in input/output_layers
        # (only there: call arguments count its calls from 0)
        return [name, k + 1 if _keras_class(t.node.layer) == "Functional" else k, t.index]

    def refs(struct):
        flat = map_structure(ref, struct, leaf=lambda x: isinstance(x, SymbolicTensor))
        if isinstance(flat, dict):
            raise ValueError("to_keras: a model with dict inputs or outputs cannot be written for Keras; "
                             "use lists.")
        return flat

    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": model.display_name, "trainable": True, "layers": layers,
                       "input_layers": refs(model._inputs_struct),
                       "output_layers": refs(model._outputs_struct)},
            "build_config": {"input_shape": None}}


# ---------------------------------------------------------------- weights
def _write_vars(h5group, arrays):
    g = h5group.create_group("vars")
    for i, a in enumerate(arrays):
        g.create_dataset(str(i), data=a)


def _write_layer(group, layer):

    if isinstance(layer, BaseModel):
        _write_vars(group, [])
        _write_container(group, layer)
    elif isinstance(layer, Bidirectional):
        _write_vars(group, [])
        _write_layer(group.create_group("forward_layer"), layer.forward_layer)
        _write_layer(group.create_group("backward_layer"), layer.backward_layer)
    elif isinstance(layer, RNN):
        _write_vars(group, [])
        _write_cell(group.create_group("cell"), layer.cell)
    elif isinstance(layer, TimeDistributed):
        _write_vars(group, [])
        _write_layer(group.create_group("layer"), layer.layer)
    elif type(layer).__name__ in SUBLAYER_GROUPS:
        _write_sublayers(group, layer)
    else:
        _write_vars(group, layer.get_weights() if layer.built or layer.weights else [])


def _write_sublayers(group, layer):
    """A layer whose Keras counterpart keeps its weights in inner layers (MultiHeadAttention: two
    arrays, kernel and bias, per projection; fewer without biases)."""
    cls = type(layer).__name__
    _write_vars(group, [])
    for name in SUBLAYER_EMPTY.get(cls, ()):
        _write_vars(group.create_group(name), [])
    per_group = layer.sublayer_weights()
    for name in SUBLAYER_GROUPS[cls]:
        if name in per_group:
            _write_vars(group.create_group(name), per_group[name])


def _write_container(group, model):

    layers = group.create_group("layers")
    members = list(model.layers)
    if isinstance(model, Model) and model._functional:
        members = keras_layer_order(model)
    names = keras_group_names("InputLayer" if isinstance(layer, InputLayer) else _keras_class(layer)
                              for layer in members)
    for layer, name in zip(members, names):
        sub = layers.create_group(name)
        if isinstance(layer, InputLayer):
            _write_vars(sub, [])
        else:
            _write_layer(sub, layer)


def write_keras_weights(h5file, model) -> None:
    """The model's weights into an open HDF5 file in Keras 3's layout (a ``.weights.h5`` file, or the
    ``model.weights.h5`` member of a ``.keras`` file)."""
    _write_vars(h5file, [])
    _write_container(h5file, model)


def _keras_class(layer) -> str:

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return "Functional"
    if isinstance(layer, TimeDistributed):
        return "TimeDistributed"
    return type(layer).__name__


def to_keras(model, path) -> Path:
    """Write ``model`` (Sequential or functional, built) as a Keras 3 ``.keras`` file.

    ``keras.saving.load_model(path)`` then gives a Keras model with the same outputs.
    """
    h5py = require_extra("h5py", "interop", "to_keras")

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"to_keras: the path must end in .keras (Keras 3's format), got {str(path)!r}.")
    if not isinstance(model, BaseModel):
        raise ValueError(f"to_keras: expected a Sequential or functional Model, got {type(model).__name__}; "
                         f"wrap a single layer in Sequential([...]).")
    if not model.built:
        raise ValueError(f"to_keras: {layer_label(model)} is not built; give the first layer input_shape=(...) "
                         f"or call the model on a batch first.")
    config = layer_config(model)
    config["compile_config"] = compile_to_keras(model)  # None when uncompiled or not expressible
    h5buf = io.BytesIO()
    with h5py.File(h5buf, "w") as f:
        write_keras_weights(f, model)
    metadata = {"keras_version": _KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "written_by": "seqlayers.to_keras"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", h5buf.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
    return path


__all__ = ["keras_layer_order", "layer_config", "to_keras", "write_keras_weights"]
