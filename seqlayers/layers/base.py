"""The Layer contract every seqlayers layer follows.

A ``Layer`` is a ``torch.nn.Module`` that

* **builds once** from the shape of its first input (``Dense(3)`` needs no input size), or eagerly
  when the shape is known up front (``input_shape=(T, F)`` on a first layer, ``Input(shape=...)``),
  so that all parameters exist before ``model.parameters()`` reaches an optimizer;
* **records its constructor arguments once** (by wrapping ``__init__`` in ``__init_subclass__``),
  so ``get_config()`` needs no hand-written copy and ``from_config(get_config())`` rebuilds it;
* gives ``compute_output_shape()`` and Keras-layout ``get_weights()`` / ``set_weights()``;
* takes part in the **mask protocol**: a layer may produce a mask (``compute_mask``); a layer whose
  ``call`` has a ``mask`` argument receives the mask of its input. Masks travel on the tensors
  themselves (``get_mask(x)`` reads one), so ``LSTM()(Embedding(mask_zero=True)(x))`` is masked in
  plain PyTorch code too, and containers need no extra plumbing;
* checks its input against an ``InputSpec`` and explains mistakes (layer, expected, received, fix).

Subclasses implement ``build(input_shape)`` (create parameters), ``call(inputs, ...)`` (the
computation; it may take ``mask=`` and ``training=``) and, when cheap, ``compute_output_shape``.
The ``training`` argument defaults to the module's mode (``model.train()`` / ``model.eval()``).
"""
from __future__ import annotations

import copy
import functools
import inspect
import sys
import warnings
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .. import constraints, initializers, regularizers
from ..dtypes import LAYER_DTYPES, dtype_name, parse_dtype
from ..errors import closest, fmt_shape, layer_label, shape_error
from ..serialization import (
    LAYER_REGISTRY,
    decode_arguments,
    layer_entry,
    nested_config,
    nested_from_config,
)
from ..utils import flatten, map_structure, snake_case, to_tensor

MASK_ATTR = "_seqlayers_mask"

#: input dtypes that ``_prepare_input`` may cast to the layer's dtype (never cached as checked)
_CAST_DTYPES = (torch.float64, torch.float16, torch.bfloat16)

_BASE_KWARGS = ("name", "input_shape", "batch_input_shape", "batch_size", "input_dim", "dtype", "trainable",
                "activity_regularizer")

#: integer and bool dtypes a float layer casts to its own dtype (Keras converts such arrays too)
_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)

#: how many Layer calls are running (0 outside any call): the outermost call starts a new round of
#: call losses (activity regularizers), as Keras clears a layer's losses at each top-level call
_CALL_DEPTH = [0]
_CALL_ROUND = [0]

#: the lazy-weights warning: once per unbuilt layer, and once per ``parameters()`` walk (``walk``: which
#: walk warned last); ``quiet`` > 0 while the library itself reads an unbuilt layer's parameters
_UNBUILT: dict[str, Any] = {"walk": None, "quiet": 0}

#: bumped whenever a layer's ``trainable`` is set or a layer builds: the training loop re-reads which
#: parameters are trainable only when this changed (one integer compare per step otherwise)
TRAINABLE_VERSION = [0]


class UnbuiltWeightsWarning(UserWarning):
    """``parameters()`` was read from a layer or model that has not created its weights yet."""


# ---------------------------------------------------------------- masks travel on tensors
def get_mask(x):
    """The mask attached to a tensor (or a list of masks for a list of tensors), else None."""
    if isinstance(x, torch.Tensor):
        return getattr(x, MASK_ATTR, None)
    if isinstance(x, (list, tuple)):
        masks = [get_mask(t) for t in x]
        return None if all(m is None for m in masks) else masks
    if isinstance(x, SymbolicValue):  # a functional-API tensor: its mask as a symbolic tensor (Keras's)
        return x.keras_mask()
    return None


def set_mask(x, mask) -> None:
    """Attach ``mask`` to ``x`` (a tensor, or a list of tensors with a list of masks)."""
    if isinstance(x, torch.Tensor):
        if mask is None and getattr(x, MASK_ATTR, None) is None:
            return  # nothing to attach or clear: skip the attribute write (it costs per call)
        try:
            setattr(x, MASK_ATTR, mask)
        except (AttributeError, RuntimeError):  # e.g. tensors that refuse attributes
            pass
    elif isinstance(x, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask] + [None] * (len(x) - 1)
        for t, m in zip(x, masks):
            set_mask(t, m)


# ---------------------------------------------------------------- input specification
@dataclass
class InputSpec:
    """What a layer accepts. ``expected`` describes the shape in words for error messages.

    ndim / min_ndim / max_ndim: rank constraints (batch axis included).
    axes: ``{axis: size}`` fixed once built (e.g. ``{-1: F}``).
    dtype: "float" (floating point, ints refused), "int" (integer ids, floats refused) or None.
    hint: the likely fix when the rank is wrong.
    """

    ndim: int | None = None
    min_ndim: int | None = None
    max_ndim: int | None = None
    axes: dict = field(default_factory=dict)
    dtype: str | None = None
    expected: str | None = None
    hint: str | None = None


def _describe(spec: InputSpec) -> str:
    if spec.expected:
        return spec.expected
    if spec.ndim is not None:
        return f"input with {spec.ndim} dimensions"
    if spec.min_ndim is not None:
        return f"input with at least {spec.min_ndim} dimensions"
    return "input"


# ---------------------------------------------------------------- the Layer
def weight_tensor(layer, w, i: int) -> torch.Tensor:
    """Array ``i`` given to ``set_weights`` as a tensor; strings, objects and complex numbers are refused."""
    if not isinstance(w, torch.Tensor):
        try:
            w = np.asarray(w)
        except ValueError:  # ragged nested lists
            raise TypeError(f"{layer_label(layer)}: set_weights array {i} is a ragged nested list; give numpy "
                            f"arrays of the shapes get_weights() returns.") from None
        if w.dtype.kind in "USOc":
            raise TypeError(f"{layer_label(layer)}: set_weights array {i} holds {w.dtype.name} values; expected "
                            f"real numbers (float32 arrays as get_weights() returns them). Convert with "
                            f"np.asarray(w, dtype='float32').")
        return to_tensor(w)
    if w.is_complex():
        raise TypeError(f"{layer_label(layer)}: set_weights array {i} is {w.dtype}; expected a real tensor.")
    return w


class SymbolicValue:
    """What a layer call looks for to tell the functional API from eager code.

    ``seqlayers.models.symbolic.SymbolicTensor`` (what ``Input(...)`` returns) subclasses it and
    says how a layer applies to it, so layers know symbolic tensors without importing models.
    """

    __slots__ = ()

    @staticmethod
    def apply_layer(layer: "Layer", args: tuple, kwargs: dict) -> Any:
        """Build ``layer`` from the symbolic inputs in ``args`` and return its symbolic outputs."""
        raise NotImplementedError

    def keras_mask(self) -> Any:
        """The mask this value will carry, as a symbolic value, or None (``get_mask`` of it)."""
        return None


def _symbolic_input(args: tuple, kwargs: dict) -> SymbolicValue | None:
    """The first symbolic value among a call's arguments, else None (an eager call)."""
    if args and isinstance(args[0], torch.Tensor) and not kwargs:
        return None
    if len(args) == 1 and isinstance(args[0], torch.Tensor) and \
            all(v is None or isinstance(v, (bool, torch.Tensor)) for v in kwargs.values()):
        return None  # e.g. layer(x, training=None) inside a model: no nest to walk
    for t in flatten((args, kwargs)):
        if isinstance(t, SymbolicValue):
            return t
    return None


class Layer(nn.Module):
    """Base class of every seqlayers layer (see the module docstring for the contract).

    Keyword arguments every layer takes:
        name: the layer's name (models give unnamed layers ``snake_case(class)`` + ``_k``).
        input_shape: the shape of one sample, e.g. ``(T, F)``; builds the layer at once.
        batch_input_shape / batch_size: the same with the batch axis (stateful RNNs need it).
        input_dim: Keras 1/2 shorthand for ``input_shape=(input_dim,)`` (or ``(None, input_dim)``
            for recurrent layers).
        dtype: parameter dtype (default float32).
        trainable: False freezes the layer's parameters.
        activity_regularizer: a regularizer (``"l2"``, ``regularizers.L1(0.01)``, a callable) of the
            layer's output; its value over the batch size is in ``layer.losses`` after each call.

    Weights are made in ``build`` with ``add_weight(shape, initializer, regularizer=..., constraint=...)``:
    the regularizer's penalty is in ``layer.losses`` (and ``fit`` adds it to the loss), the
    constraint is applied after each optimizer step.
    """

    supports_masking: ClassVar[bool] = False
    #: containers (models) leave the masks their last layers attached instead of recomputing one
    _sets_output_mask: ClassVar[bool] = True
    #: rank of input that ``input_dim`` implies (2 for Dense, 3 for recurrent layers)
    _input_dim_rank: ClassVar[int] = 2
    _call_params: ClassVar[frozenset] = frozenset()
    #: the names of ``call``'s arguments after ``inputs``, in order (Keras binds positional ones to them)
    _call_positional: ClassVar[tuple] = ()
    #: the class keeps ``Layer.compute_mask`` (the input's mask when ``supports_masking``, else None)
    _base_compute_mask: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_REGISTRY.setdefault(cls.__name__, cls)
        if "call" in cls.__dict__:
            cls._call_params = frozenset(inspect.signature(cls.call).parameters)
            cls._call_positional = tuple(
                p.name for p in list(inspect.signature(cls.call).parameters.values())[2:]
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY))
        _record_config_of(cls)
        _wrap_build_of(cls)
        _wrap_compute_mask_of(cls)
        cls._base_compute_mask = cls.compute_mask is Layer.compute_mask

    def __init__(self, *, name=None, input_shape=None, batch_input_shape=None, batch_size=None,
                 input_dim=None, dtype=None, trainable=True, activity_regularizer=None, **kwargs):
        if kwargs:
            bad = next(iter(kwargs))
            valid = [p for p in self._config if p not in _BASE_KWARGS and p not in kwargs] + list(_BASE_KWARGS)
            near = closest(bad, valid)
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument {bad!r}."
                + (f" Did you mean {near[0]!r}?" if near else "")
                + f" Valid arguments: {', '.join(valid)}."
            )
        super().__init__()
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {type(name).__name__}.")
        self.name = name
        self.built = False
        self._build_input_shape = None
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: trainable must be True or False, got {trainable!r}.")
        self._trainable = bool(trainable)
        #: weights made with ``add_weight(trainable=False)``: never trainable, listed after the others
        self._non_trainable_names: set[str] = set()
        self.dtype_ = _parse_dtype(dtype, self)
        self.activity_regularizer = regularizers.get(activity_regularizer, type(self).__name__)
        #: {weight attribute: regularizer / constraint}, filled by ``add_weight``
        self._weight_regularizers: dict[str, Any] = {}
        self._weight_constraints: dict[str, Any] = {}
        self._call_losses: list[torch.Tensor] = []
        self._call_round = -1
        if batch_input_shape is not None:
            shape = tuple(batch_input_shape)
        elif input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            shape = (batch_size,) + tuple(input_shape)
        elif input_dim is not None:
            shape = (batch_size,) + (None,) * (self._input_dim_rank - 2) + (int(input_dim),)
        else:
            shape = None
        #: the full input shape given up front (batch axis first, None where unknown)
        self.declared_input_shape = shape

    # -------------------------------------------------------------- config
    def _after_init(self):
        """Runs once after the outermost ``__init__``: eager build when the shape is known; a layer
        with no ``build`` of its own and no weights is built at once (Keras's stateless layers)."""
        if self.declared_input_shape is not None and not self.built:
            self.build_from_shape(self.declared_input_shape)
        elif not self.built and _has_default_build(type(self)) and not any(
                m._parameters for m in self.modules()):
            self.built = True

    def get_config(self) -> dict:
        """The constructor arguments (as given, defaults filled in) plus the name.

        Nested layers (``TimeDistributed(layer)``, ``RNN(cell)``...) appear as
        ``{"class_name": ..., "config": ...}`` dictionaries.
        """
        cfg = {k: nested_config(v) for k, v in self._config.items()}
        cfg["name"] = self.name
        cfg["trainable"] = self.trainable  # the current state, as Keras (a layer frozen after construction too)
        cfg["dtype"] = self.dtype
        return cfg

    @property
    def dtype_policy(self) -> str:
        """The name of the weights' dtype (Keras's ``layer.dtype_policy``, here the dtype name)."""
        return dtype_name(self.dtype_)

    @classmethod
    def from_config(cls, config: dict):
        config = {k: nested_from_config(v) for k, v in dict(config).items()}
        return cls(**config)

    def config_entry(self) -> dict:
        """This layer in a saved model: ``{"class_name", "config", "build_config"}`` with its
        constructor arguments as JSON (``seqlayers.serialization``); models write their own."""
        own = type(self).get_config is not Layer.get_config
        return layer_entry(self, self.get_config() if own else {**self._config, "name": self.name})

    @classmethod
    def from_config_entry(cls, config: dict, custom_objects: dict | None = None, where: str = "") -> Layer:
        """Rebuild from ``config_entry()["config"]``: functions and nested layers decoded, then
        ``from_config``."""
        return cls.from_config(decode_arguments(config, custom_objects, where))

    # -------------------------------------------------------------- naming
    @property
    def default_name(self) -> str:
        return snake_case(type(self).__name__)

    @property
    def display_name(self) -> str:
        return self.name or self.default_name

    def extra_repr(self) -> str:
        parts = [repr(self.name)] if self.name else []
        for k, v in self._config.items():
            if k in _BASE_KWARGS or isinstance(v, (nn.Module, dict)) or callable(v):
                continue
            parts.append(f"{k}={v!r}")
            if len(parts) > 6:
                break
        return ", ".join(parts)

    # -------------------------------------------------------------- build
    def build(self, input_shape=None) -> None:
        """Create parameters from the input shape (batch axis first, None where unknown)."""

    def build_from_shape(self, input_shape) -> None:
        """Build once: check the shape against the spec, call ``build``, apply ``trainable``.

        Calling ``layer.build(input_shape)`` directly (the Keras idiom) does the same."""
        if self.built:
            return
        self._check_shape(input_shape, built=False)
        self.__dict__["_building"] = True
        try:
            self.build(input_shape)
        finally:
            self.__dict__["_building"] = False
        self.built = True
        self._build_input_shape = _freeze_shape(input_shape)
        if self.dtype_ != torch.float32:
            self.to(self.dtype_)
        if not self._trainable:
            for p in self.parameters():
                p.requires_grad_(False)
        TRAINABLE_VERSION[0] += 1

    @property
    def trainable(self) -> bool:
        """Whether ``fit`` updates this layer's weights. Setting it sets every sublayer's too (as Keras):
        ``model.trainable = False`` freezes the whole model, ``model.layers[0].trainable = False`` one
        layer; frozen weights move to ``non_trainable_weights``, get no gradient (``requires_grad``
        off) and no optimizer update (no momentum or weight decay either), and a frozen
        ``BatchNormalization`` normalizes with its moving statistics. Weights made with
        ``add_weight(trainable=False)`` stay non-trainable when the layer is unfrozen."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{layer_label(self)}: trainable must be True or False, got {value!r}.")
        self._trainable = bool(value)
        fixed = self.__dict__.get("_non_trainable_names", ())
        for name, p in self._parameters.items():
            if p is not None and name not in fixed:
                p.requires_grad_(self._trainable)
        for child in self.children():
            if isinstance(child, Layer):
                child.trainable = self._trainable
            else:  # a plain torch module inside a layer: its parameters follow
                for p in child.parameters():
                    p.requires_grad_(self._trainable)
        TRAINABLE_VERSION[0] += 1

    @property
    def dtype(self) -> str:
        """The weights' dtype by name, e.g. ``"float32"`` (Keras's ``layer.dtype``; ``dtype_`` is the torch dtype)."""
        return dtype_name(self.dtype_)

    @property
    def compute_dtype(self) -> str:
        return dtype_name(self.dtype_)

    @property
    def variable_dtype(self) -> str:
        return dtype_name(self.dtype_)

    def compute_output_shape(self, input_shape):
        """The output shape for an input shape (None for unknown sizes).

        The default runs the layer on zeros, with unknown sizes replaced by a stand-in size that is
        mapped back to None in the result; layers override this with a formula where one exists.
        """
        return _shape_by_running(self, input_shape)[0]

    def compute_output_dtype(self, input_dtype):
        return self.dtype_

    def compute_mask(self, inputs, mask=None):
        """The mask of the output: the input's when ``supports_masking``, else None."""
        return mask if self.supports_masking else None

    # -------------------------------------------------------------- the symbolic graph (Keras's layer.input/output)
    def _first_node(self, what: str):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:  # AttributeError, as Keras, so hasattr(layer, "output") is False (torch.jit asks)
            raise AttributeError(self._no_node_message(what))
        return nodes[0]

    def _no_node_message(self, what: str) -> str:
        return (f"{layer_label(self)}: the layer has never been called on a symbolic tensor, so it has no {what}. "
                f"Call it on Input(...) (or a layer's output) first, e.g. y = layer(Input(shape=(T, F))).")

    def __getattr__(self, name):
        # nn.Module.__getattr__'s three lookups, inline: parameters, submodules and buffers are read
        # at every call (a frame and a super() less each); a miss takes torch's path and its message
        d = self.__dict__
        for store in (d.get("_parameters"), d.get("_buffers"), d.get("_modules")):
            if store is not None and name in store:
                return store[name]
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in ("input", "output"):  # a property's AttributeError lands here: keep its message
                raise AttributeError(self._no_node_message(name)) from None
            raise

    @property
    def input(self):
        """The symbolic input(s) of the layer's first call in a graph (Keras's ``layer.input``): one tensor,
        or a list when it took several (``initial_state`` tensors count, as in Keras)."""
        node = self._first_node("input")
        ins = node.inbound or [node.outputs]  # an InputLayer's input is its output
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self):
        """The symbolic output(s) of the layer's first call in a graph (Keras's ``layer.output``): one
        tensor, or a list (e.g. ``[output, h, c]`` for ``LSTM(return_state=True)``)."""
        return self._first_node("output").outputs

    # -------------------------------------------------------------- weights
    @property
    def weights(self) -> list[torch.Tensor]:
        """The weights in Keras order: this layer's own (those made trainable first, then those made
        with ``trainable=False``), then each sublayer's ``weights``; a shared weight once."""
        fixed = self.__dict__.get("_non_trainable_names", ())
        own = [(n, p) for n, p in self._parameters.items() if p is not None]
        out: list[torch.Tensor] = []
        out += [p for n, p in own if n not in fixed] + [p for n, p in own if n in fixed]
        for child in self.children():
            out.extend(child.weights if isinstance(child, Layer) else child.parameters())
        unique: dict[int, torch.Tensor] = {}
        for w in out:
            unique.setdefault(id(w), w)
        return list(unique.values())

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The weights ``fit`` updates: none when the layer is frozen (``trainable=False``)."""
        return [w for w in self.weights if w.requires_grad] if self._trainable else []

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """The other weights (all of them when the layer is frozen), e.g. BatchNormalization's statistics."""
        return [w for w in self.weights if not w.requires_grad] if self._trainable else self.weights

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, regularizer=None,
                   constraint=None, name=None) -> nn.Parameter:
        """Create, register and return a weight (Keras's ``add_weight``); call it in ``build``.

        Args:
            shape: the weight's shape (Keras layout).
            initializer: a Keras initializer name or callable (default ``"glorot_uniform"``; ``"zeros"``
                for a 1-D weight named ``bias``).
            dtype: defaults to the layer's dtype.
            trainable: False keeps it out of the optimizer (``non_trainable_weights``).
            regularizer: a penalty on the weight, listed in ``layer.losses``.
            constraint: a projection applied after each optimizer step.
            name: the attribute the weight is registered under (default ``weight``, ``weight_1``...).
        """
        where = layer_label(self)
        if name is None:
            name = "weight"
            k = 0
            while name in self._parameters:
                k += 1
                name = f"weight_{k}"
        if shape is None:
            shape = ()
        if initializer is None:
            initializer = "zeros" if name == "bias" else "glorot_uniform"
        tensor = torch.empty(tuple(int(d) for d in shape), dtype=_parse_dtype(dtype, self) if dtype else self.dtype_)
        initializers.initialize(tensor, initializer, where)
        weight = nn.Parameter(tensor, requires_grad=bool(trainable) and self._trainable)
        self.register_parameter(name, weight)
        if not trainable:
            self._non_trainable_names.add(name)
        self.declare_weight(name, regularizer, constraint)
        return weight

    def declare_weight(self, name: str, regularizer=None, constraint=None) -> None:
        """Attach a regularizer and a constraint to the registered weight ``name`` (``add_weight``
        does this; a layer that makes its parameters itself calls it). Both act on the weight's
        Keras layout: a layer that stores a weight otherwise overrides ``_keras_value`` and
        ``_set_keras_value``."""
        where = layer_label(self)
        reg = regularizers.get(regularizer, where)
        con = constraints.get(constraint, where)
        if reg is not None:
            self._weight_regularizers[name] = reg
        if con is not None:
            self._weight_constraints[name] = con
        weight = getattr(self, name)
        weight.regularizer, weight.constraint = reg, con  # as on a Keras variable (read-only mirrors)

    def _keras_value(self, name: str) -> torch.Tensor:
        """The weight ``name`` in Keras's layout (differentiable)."""
        return getattr(self, name)

    def _set_keras_value(self, name: str, value: torch.Tensor) -> None:
        """Write ``value`` (Keras layout) into the weight ``name``."""
        getattr(self, name).copy_(value)

    def add_loss(self, loss) -> None:
        """Add a scalar to ``layer.losses`` for the current call (as Keras's ``add_loss``)."""
        self._start_call_round()
        self._call_losses.append(loss if isinstance(loss, torch.Tensor) else torch.as_tensor(loss))

    def _start_call_round(self) -> None:
        if self._call_round != _CALL_ROUND[0]:
            self._call_round = _CALL_ROUND[0]
            self._call_losses = []

    @property
    def losses(self) -> list[torch.Tensor]:
        """The penalties of this layer and its sublayers: the last call's (``activity_regularizer``,
        ``add_loss``) and the weight regularizers' on the current weights. ``fit`` adds their sum
        to the training loss."""
        out: list[torch.Tensor] = []
        for m in self.modules():
            if not isinstance(m, Layer):
                continue
            if m._call_round == _CALL_ROUND[0]:
                out.extend(m._call_losses)
            for wname, reg in m._weight_regularizers.items():
                w = getattr(m, wname, None)
                if isinstance(w, torch.Tensor) and w.requires_grad:
                    out.append(reg(m._keras_value(wname)))
        return out

    def get_weights(self) -> list[np.ndarray]:
        """Weights as numpy arrays, in Keras order and Keras shapes."""
        self._require_built("get_weights")
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load weights given in Keras order and shapes (e.g. from ``keras_layer.get_weights()``)."""
        self._require_built("set_weights")
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"{layer_label(self)}: set_weights expected {len(own)} arrays "
                f"(shapes {', '.join(fmt_shape(w.shape) for w in own)}), got {len(weights)} "
                f"(shapes {', '.join(fmt_shape(np.shape(w)) for w in weights)})."
            )
        with torch.no_grad():
            for i, (p, w) in enumerate(zip(own, weights)):
                w = weight_tensor(self, w, i)
                if tuple(w.shape) != tuple(p.shape):
                    raise ValueError(
                        f"{layer_label(self)}: set_weights array {i} has shape {fmt_shape(w.shape)}, "
                        f"expected {fmt_shape(p.shape)} (Keras layout)."
                    )
                p.copy_(w.to(p.dtype))

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(p.numel() for p in self.weights)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{layer_label(self)}: {what}() needs the layer's weights, which are created from the "
                f"first input's shape. Call the layer on data first, or give input_shape=(...) "
                f"(or start the model with Input(shape=...))."
            )

    # -------------------------------------------------------------- checks
    input_spec: InputSpec | None = None

    def _check_shape(self, shape, built: bool = True) -> None:
        spec = self.input_spec
        if spec is None or shape is None or (shape and isinstance(shape[0], (list, tuple))):
            return
        nd = len(shape)
        bad_rank = (spec.ndim is not None and nd != spec.ndim) or \
                   (spec.min_ndim is not None and nd < spec.min_ndim) or \
                   (spec.max_ndim is not None and nd > spec.max_ndim)
        if bad_rank:
            raise shape_error(self, _describe(spec), shape, spec.hint)
        if built:
            for axis, size in spec.axes.items():
                got = shape[axis]
                if got is not None and size is not None and got != size:
                    raise shape_error(
                        self, f"{_describe(spec)} with {size} at axis {axis}", shape,
                        f"The layer was built for size {size} on that axis; every later input must "
                        f"have it too (build a new layer for data with {got}).",
                    )

    def _prepare_input(self, x):
        """Convert numpy input, check rank, axes and dtype kind; cast float64 to the layer dtype."""
        if isinstance(x, np.ndarray):
            x = to_tensor(x)
        if not isinstance(x, torch.Tensor):
            return x
        spec = self.input_spec
        if spec is not None:
            key = (x.shape, x.dtype, spec)
            tracing = torch.compiler.is_compiling()  # a cached concrete shape would pin a symbolic one
            if not tracing and self.__dict__.get("_checked_input") == key:
                return x  # this shape and dtype passed every check below (and needed no cast) already
            self._check_shape(tuple(x.shape), built=self.built)
            if spec.dtype == "float":
                if x.is_complex():
                    raise TypeError(
                        f"{layer_label(self)}: expected real floating-point input, got {x.dtype}. The layers "
                        f"compute in real numbers: pass the real and imaginary parts as two features, "
                        f"torch.view_as_real(x).flatten(-2)."
                    )
                if x.dtype in _INT_DTYPES:  # bool / integer arrays: cast to the layer's dtype (as Keras)
                    x = x.to(self.dtype_)
                elif not x.is_floating_point():
                    raise TypeError(
                        f"{layer_label(self)}: expected floating-point input, got {x.dtype}. "
                        f"Cast it with x.float(), or put an Embedding first if these are token ids."
                    )
                elif x.dtype != self.dtype_ and (x.dtype in _CAST_DTYPES or x.dtype == torch.float32) \
                        and not torch.is_autocast_enabled():  # (float32 too: into a layer moved by .double())
                    x = x.to(self.dtype_)
            elif spec.dtype == "int" and (x.is_floating_point() or x.dtype == torch.bool):
                x = _integral_ids(self, x)
            # the spec's axes are fixed once built; a cast input is checked again next time
            if self.built and not tracing and x.dtype not in _CAST_DTYPES and x.dtype is key[1]:
                self.__dict__["_checked_input"] = key  # plain attribute: skips nn.Module.__setattr__
        return x

    # -------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if args and type(args[0]) is torch.Tensor:  # eager fast path: nothing symbolic to check
            if not kwargs:
                return super().__call__(*args)
            if len(args) == 1:
                for v in kwargs.values():  # e.g. training=True, mask=tensor from a container
                    if not (v is None or type(v) is bool or type(v) is torch.Tensor):
                        break
                else:
                    return super().__call__(*args, **kwargs)
        symbolic = _symbolic_input(args, kwargs)
        if symbolic is not None:  # the functional API: Input(...) or another layer's symbolic output
            return symbolic.apply_layer(self, args, kwargs)
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        """Check and build from ``inputs``, pick up its mask, run ``call``, attach the output mask."""
        # a top-level call: the call losses of the previous one are dropped (not counted while compiling: a
        # graph guarded on the count would be recompiled at every call)
        if not torch.compiler.is_compiling() and _CALL_DEPTH[0] == 0:
            _CALL_ROUND[0] += 1
        _CALL_DEPTH[0] += 1
        try:
            return self._forward(inputs, *args, mask=mask, training=training, **kwargs)
        finally:
            _CALL_DEPTH[0] -= 1

    def _forward(self, inputs, *args, mask=None, training=None, **kwargs):
        if args and len(args) <= len(self._call_positional):  # e.g. layer(x, mask): bind by name, as Keras
            named = dict(zip(self._call_positional, args))
            args = ()
            mask = named.pop("mask", mask)
            training = named.pop("training", training)
            kwargs.update({k: _numpy_to_tensor(v) for k, v in named.items()})
        if mask is not None and not isinstance(mask, torch.Tensor):
            mask = map_structure(_numpy_to_tensor, mask)
        if isinstance(inputs, torch.Tensor):  # the common case: one tensor, no nest to walk
            inputs = self._prepare_input(inputs)
            if mask is None:
                mask = getattr(inputs, MASK_ATTR, None)
        else:
            inputs = map_structure(self._prepare_input, inputs)
            if mask is None:
                mask = get_mask(inputs)
        if not self.built:
            self.build_from_shape(_shape_of(inputs))
            self._move_to(inputs)
        params = self._call_params
        if "mask" in params and mask is not None:
            kwargs["mask"] = mask
        if "training" in params:
            kwargs["training"] = self.training if training is None else bool(training)
        outputs = self.call(inputs, *args, **kwargs)
        if self._sets_output_mask:  # (the base compute_mask of an unmasked input is None: not called)
            set_mask(outputs, None if mask is None and self._base_compute_mask else self.compute_mask(inputs, mask))
        if self.activity_regularizer is not None:
            self._start_call_round()
            for out in flatten(outputs):
                if isinstance(out, torch.Tensor):
                    penalty = self.activity_regularizer(out)
                    self._call_losses.append(penalty / out.shape[0] if out.dim() else penalty)
        return outputs

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs, ...)")

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; the mode is written straight into each module's ``__dict__`` (a training
        step calls ``model.train()`` every time, and ``nn.Module.__setattr__`` is costly per module)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.__dict__["training"] = mode
        for module in self._modules.values():
            if module is not None:
                module.train(mode)
        return self

    def _apply(self, fn, recurse=True):
        """``.double()``, ``.half()``, ``.to(dtype)``...: the layer's dtype follows its tensors, so the
        next call computes (and casts float inputs) in the new dtype."""
        out = super()._apply(fn, recurse)
        try:
            probe = fn(torch.empty(0, dtype=self.dtype_))  # what the move does to a floating tensor
        except Exception:  # a function that only applies to real parameters: keep the dtype
            probe = None
        if isinstance(probe, torch.Tensor) and probe.is_floating_point():
            self.dtype_ = probe.dtype
        return out

    def __prepare_scriptable__(self):
        """``torch.jit.script(layer)`` is refused with the ways that work (torch calls this first)."""
        raise TypeError(
            f"{layer_label(self)}: torch.jit.script cannot compile seqlayers layers (Keras-style calls "
            f"with keyword arguments, masks carried on tensors, Python-typed attributes). Use "
            f"torch.export.export(model, (x,), dynamic_shapes=...) for a graph with dynamic batch and time, "
            f"torch.jit.trace(model, (x,)) for a TorchScript graph, or seqlayers export_onnx."
        )

    # -------------------------------------------------------------- lazy weights as a torch module
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """As ``nn.Module``'s; reading ``parameters()`` while this layer has no weights yet (no
        input shape given, not called yet) warns once, with the fix (torch's lazy modules warn too)."""
        walk = None
        if not self.built and not _UNBUILT["quiet"] and "_unbuilt_warned" not in self.__dict__:
            walk = _parameters_walk()
        level = _user_frame_level() if walk is not None else None
        if level is not None and not any(m._parameters for m in self.modules()):
            self.__dict__["_unbuilt_warned"] = True
            if walk != _UNBUILT["walk"]:
                _UNBUILT["walk"] = walk
                warnings.warn(
                    f"{layer_label(self)} has no weights yet (it creates them from its first input), so "
                    "parameters() does not hold them and an optimizer made now would never train them. "
                    "Call model.build(input_shape) or run one batch first, then make the optimizer "
                    "(load_state_dict into the unbuilt model builds it too).",
                    UnbuiltWeightsWarning, stacklevel=level)
        return super().named_modules(memo, prefix, remove_duplicate)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """``load_state_dict`` into an unbuilt layer builds it first, from the state dict's shapes."""
        if not self.built and not _has_default_build(type(self)):
            own = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
            shape = _input_shape_from_weights(self, own) if own else None
            if shape is not None:
                self.build_from_shape(shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _move_to(self, inputs) -> None:
        leaves = [t for t in flatten(inputs) if isinstance(t, torch.Tensor)]
        if not leaves:
            return
        device = leaves[0].device
        p = next(self.parameters(), None)
        if p is not None and p.device != device:
            self.to(device)


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The torch parameters behind Keras's ``module.trainable_weights``: none when ``module`` itself is
    frozen, else every parameter with ``requires_grad`` (as Keras, only the outermost flag and each weight's
    own count: a sublayer set trainable again inside a frozen sublayer trains). What ``fit`` updates."""
    if isinstance(module, Layer) and not module._trainable:
        return []
    return [p for p in module.parameters() if p.requires_grad]


def _record_config_of(cls) -> None:
    """Wrap ``cls.__init__`` so the outermost call records its arguments as the layer's config."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_records_config", False):
        return
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kw):
        outermost = "_config" not in self.__dict__
        if outermost:
            object.__setattr__(self, "_config", _bind_config(sig, self, args, kw))
        init(self, *args, **kw)
        if outermost:
            self._after_init()

    __init__._records_config = True  # type: ignore[attr-defined]  # a marker attribute on the wrapper function
    cls.__init__ = __init__


_record_config_of(Layer)


def _parameters_walk():
    """When the running ``named_modules`` call is ``parameters()`` / ``named_parameters()`` walking
    the module tree (not ``modules()``, ``buffers()``...): a key for that walk; else None."""
    walk = nn.Module.named_modules.__code__
    f = sys._getframe(2)
    while f is not None and f.f_code is walk:
        f = f.f_back
    if f is None or f.f_code is not nn.Module._named_members.__code__:
        return None
    local = f.f_locals
    if "named_parameters" not in getattr(local.get("get_members_fn"), "__qualname__", ""):
        return None
    return id(f), id(local.get("memo"))


_TORCH_DIR = torch.__file__.rsplit("/", 1)[0] + "/"
_PACKAGE_DIR = __file__.rsplit("/", 2)[0] + "/"


def _user_frame_level() -> int | None:
    """``stacklevel`` of the first frame outside torch and this file (the user's line); None when
    that frame is seqlayers itself (the library reads an unbuilt model's parameters knowingly)."""
    f: FrameType | None
    level, f = 2, sys._getframe(2)
    while f is not None and (f.f_code.co_filename == __file__ or f.f_code.co_filename.startswith(_TORCH_DIR)):
        f, level = f.f_back, level + 1
    return None if f is not None and f.f_code.co_filename.startswith(_PACKAGE_DIR) else level


def _weight_shapes(layer: Layer, input_shape) -> dict | None:
    probe = copy.deepcopy(layer)
    _UNBUILT["quiet"] += 1
    try:
        probe.build_from_shape(input_shape)
        return {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    except Exception:  # this rank or size does not fit the layer: try the next one
        return None
    finally:
        _UNBUILT["quiet"] -= 1


def _input_shape_from_weights(layer: Layer, weights: dict):
    """The input shape (batch first) that gives ``layer`` weights of the shapes in ``weights``: the
    layer is built twice on copies (feature size 1 and 2) to see which weight axes grow with the
    feature size, and the size is solved from the loaded shapes. None when no rank 2-4 fits."""
    wanted = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    ranks = dict.fromkeys((layer._input_dim_rank, 3, 2, 4))
    for rank in ranks:
        lead = (None,) * (rank - 1)
        one, two = _weight_shapes(layer, lead + (1,)), _weight_shapes(layer, lead + (2,))
        if not one or not two or one.keys() != two.keys() or not one.keys() <= wanted.keys():
            continue
        sizes: set = set()
        for k, s1 in one.items():
            s2, target = two[k], wanted[k]
            if len(s1) != len(target):
                sizes = set()
                break
            for a1, a2, t in zip(s1, s2, target):
                if a1 != a2 and (t - a1) % (a2 - a1) == 0:
                    sizes.add(1 + (t - a1) // (a2 - a1))
        if len(sizes) == 1 and (size := sizes.pop()) >= 1:
            shape = lead + (size,)
            if _weight_shapes(layer, shape) == {k: wanted[k] for k in one}:
                return shape
    return None


def _has_default_build(cls) -> bool:
    """True when no class between ``cls`` and ``Layer`` defines ``build``."""
    return all("build" not in c.__dict__ for c in cls.__mro__ if c is not Layer and issubclass(c, Layer))


def _wrap_build_of(cls) -> None:
    """Wrap ``cls.build`` so that ``layer.build(shape)`` called directly (Keras's idiom) builds the
    layer the way its first call does (``build_from_shape``: built=True, dtype, trainable) and a
    later call does not build it again."""
    build = cls.__dict__.get("build")
    if build is None or getattr(build, "_builds_once", False):
        return

    @functools.wraps(build)
    def wrapped(self, *args, **kwargs):
        if self.__dict__.get("_building") or "_config" not in self.__dict__:
            return build(self, *args, **kwargs)  # inside build_from_shape, or a super().build(...)
        if self.built:
            return None
        shape = args[0] if args else kwargs.get("input_shape", kwargs.get(next(iter(kwargs), ""), None))
        if len(args) > 1 or len(kwargs) > 1:  # several shape arguments: Keras's build(**shapes)
            self.__dict__["_building"] = True
            try:
                build(self, *args, **kwargs)
            finally:
                self.__dict__["_building"] = False
            self.built = True
            return None
        self.build_from_shape(_freeze_shape(shape) if shape is not None else shape)
        return None

    wrapped._builds_once = True  # type: ignore[attr-defined]  # a marker attribute on the wrapper function
    cls.build = wrapped


_wrap_build_of(Layer)


def _wrap_compute_mask_of(cls) -> None:
    """Wrap ``cls.compute_mask`` so that numpy inputs and masks (Keras accepts them) arrive as tensors."""
    compute_mask = cls.__dict__.get("compute_mask")
    if compute_mask is None or getattr(compute_mask, "_takes_numpy", False):
        return

    @functools.wraps(compute_mask)
    def wrapped(self, inputs, mask=None):
        if type(inputs) is not torch.Tensor or not (mask is None or type(mask) is torch.Tensor):
            inputs, mask = map_structure(_numpy_to_tensor, (inputs, mask))
        return compute_mask(self, inputs, mask)

    wrapped._takes_numpy = True  # type: ignore[attr-defined]  # a marker attribute on the wrapper function
    cls.compute_mask = wrapped


def _numpy_to_tensor(x):
    return to_tensor(x) if isinstance(x, np.ndarray) else x


_wrap_compute_mask_of(Layer)


def _integral_ids(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """Whole-valued float (or bool) ids cast to int64; a fractional id is an error."""
    if x.dtype != torch.bool and x.numel() and not torch.equal(x, x.round()):
        bad = x[x != x.round()].flatten()[0].item()
        raise TypeError(
            f"{layer_label(layer)}: expected integer token ids, got {x.dtype} with the non-integral "
            f"value {bad!r}. Convert ids with x.long() (and make sure they are whole numbers); feed "
            f"real-valued features to a Dense or recurrent layer instead of an Embedding."
        )
    return x.long()


# ---------------------------------------------------------------- helpers
def _bind_config(sig: inspect.Signature, self, args, kwargs) -> dict:
    try:
        bound = sig.bind(self, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{type(self).__name__}: {e}") from None
    bound.apply_defaults()
    cfg: dict[str, Any] = {}
    for pname, value in bound.arguments.items():
        kind = sig.parameters[pname].kind
        if pname == "self":
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            cfg.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            cfg[pname] = list(value)
        else:
            cfg[pname] = value
    return cfg


def _parse_dtype(dtype, layer) -> torch.dtype:
    return parse_dtype(dtype, type(layer).__name__, LAYER_DTYPES, or_torch=False)


def _freeze_shape(shape):
    if shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape) if shape is not None else None


def _shape_of(inputs):
    """The shape(s) of real inputs with the batch axis as None (as a symbolic build sees it)."""
    if isinstance(inputs, torch.Tensor):
        return (None,) + tuple(inputs.shape[1:]) if inputs.dim() else ()
    if isinstance(inputs, (list, tuple)):
        return [_shape_of(x) for x in inputs]
    if isinstance(inputs, dict):
        return {k: _shape_of(v) for k, v in inputs.items()}
    return None


#: stand-in sizes for unknown (None) non-batch dimensions when shapes are found by running a layer:
#: it runs at both, and an output size that differs between the two runs is unknown. A real size
#: equal to a stand-in stays known (no sentinel value). Unknown batch sizes always take the first.
_STANDIN = 7
_STANDIN_2 = 10


def unknown_sizes_back(a, b, batch):
    """Map two runs' outputs (at ``_STANDIN`` and ``_STANDIN_2``) to shapes: the batch axis is
    ``batch``, a size that differs between the runs is None (unknown), the others are kept."""
    def back(x, y):
        if not isinstance(x, torch.Tensor):
            return None
        dims = [d if y is None or d == e else None for d, e in zip(x.shape, y.shape if y is not None else x.shape)]
        if dims:
            dims[0] = batch
        return tuple(dims)

    if isinstance(a, (list, tuple)):
        out = [unknown_sizes_back(x, y, batch) for x, y in zip(a, b if b is not None else [None] * len(a))]
        return tuple(out) if isinstance(a, tuple) else out
    if isinstance(a, dict):
        return {k: unknown_sizes_back(v, None if b is None else b[k], batch) for k, v in a.items()}
    return back(a, b)


def zeros_at(shape, dtype, standin: int) -> torch.Tensor:
    """Zeros of ``shape``: an unknown batch size -> ``_STANDIN``, other unknown sizes -> ``standin``."""
    dims = tuple((_STANDIN if i == 0 else standin) if d is None else d for i, d in enumerate(shape))
    return torch.zeros(dims, dtype=dtype)


def _shape_by_running(layer: Layer, input_shape, input_dtype=None):
    """Run ``layer`` on zeros of ``input_shape`` at two stand-in sizes for the unknown (None) sizes;
    return (shapes, dtypes), None where an output size follows an unknown input size."""
    int_input = layer.input_spec is not None and layer.input_spec.dtype == "int"
    default = torch.long if int_input else layer.dtype_
    several = bool(input_shape) and isinstance(input_shape[0], (list, tuple))
    shapes = list(input_shape) if several else [input_shape]
    dtypes = input_dtype if isinstance(input_dtype, (list, tuple)) else [input_dtype] * len(shapes)
    unknown = any(d is None for s in shapes for d in tuple(s)[1:])

    def run(standin):
        dummy = [zeros_at(s, d or default, standin) for s, d in zip(shapes, dtypes)]
        with torch.no_grad():
            return layer(dummy if several else dummy[0])

    was_training = layer.training
    layer.eval()
    try:
        out = run(_STANDIN)
        again = run(_STANDIN_2) if unknown else None
    finally:
        layer.train(was_training)
    batch = shapes[0][0] if shapes[0] else None
    return (unknown_sizes_back(out, again, batch),
            map_structure(lambda t: t.dtype if isinstance(t, torch.Tensor) else None, out))


class _ModuleAdapter(Layer):
    """Lets a plain ``nn.Module`` (e.g. ``nn.Linear`` inside ``TimeDistributed`` or a ``Sequential``)
    have its output shape found by running it."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.built = True

    def call(self, inputs):
        return self.module(inputs)


def shape_by_running(module: nn.Module, input_shape, input_dtype=None):
    """``(output shape, dtype)`` of any module (a Layer or a plain torch module) on ``input_shape``."""
    layer = module if isinstance(module, Layer) else _ModuleAdapter(module)
    return _shape_by_running(layer, input_shape, input_dtype)
