"""Which of the five sequence topologies a model is, read from its layer graph and shapes.

The five shapes (Karpathy's picture, seed 001)::

    one-to-one        a vector in, a vector out              Dense, or LSTM over 1 step
    one-to-many       a vector in, a sequence out            RepeatVector -> LSTM(return_sequences)
    many-to-one       a sequence in, a vector out            LSTM (return_sequences=False)
    many-to-many (aligned)            one output per input step    LSTM(return_sequences) -> TimeDistributed
    many-to-many (different lengths)  output steps != input steps  slicing, RepeatVector, encoder-decoder

The answer is derived by following **time axes** through the graph: which tensors carry one, and
where each comes from. A model input of rank 3 (or rank 2 ids for an ``Embedding``) has a time
axis; a recurrent layer keeps it with ``return_sequences=True`` and drops it without; a
``RepeatVector`` creates a new one; a ``Lambda`` or ``Reshape`` that changes the length makes a new
one; ``TimeDistributed`` and ``Dense`` keep it. The output is *aligned* with the input when it
carries the very same time axis as the (first) model input.

``trace(model)`` gives the per-layer record this is computed from; ``explain`` prints it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..layers.base import Layer
from ..layers.embedding import Embedding, Masking
from ..layers.reshaping import RepeatVector
from ..layers.wrappers import TimeDistributed
from ..utils import flatten
from .symbolic import InputLayer

ONE_TO_ONE = "one-to-one"
ONE_TO_MANY = "one-to-many"
MANY_TO_ONE = "many-to-one"
MANY_TO_MANY = "many-to-many (aligned)"
ENCODER_DECODER = "many-to-many (different lengths)"
KINDS = (ONE_TO_ONE, ONE_TO_MANY, MANY_TO_ONE, MANY_TO_MANY, ENCODER_DECODER)


# ---------------------------------------------------------------- what travels on each tensor
@dataclass(eq=False)
class TimeAxis:
    """A time axis (always axis 1 of its tensors). Identity matters: two tensors are aligned when
    they carry the same ``TimeAxis`` object.

    steps: its length (None when variable). origin: "input", "repeat", "slice" or "new".
    made_by: the layer (label) or input that created it.
    """

    steps: int | None
    origin: str
    made_by: str


@dataclass
class TensorInfo:
    """A tensor in the trace: its shape (batch first), its time axis if any, and whether it is masked."""

    shape: tuple
    time: TimeAxis | None = None
    masked: bool = False
    #: the layer that last removed a time axis on the way to this tensor (for "many-to-one via ...")
    dropped_by: str | None = None
    #: what the batch axis holds, in words: ``"batch"``, or ``"batch*7"`` after a layer with a
    #: ``batch_label(label, input_shape)`` method (``FoldIntoBatch``) folded an axis of 7 into it
    batch: str = "batch"


@dataclass
class Call:
    """One layer call in running order, with what it does to time axes and masks."""

    layer: nn.Module
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    #: "keeps", "drops", "creates", "changes" (the length) or "none" (no time axis around)
    time_effect: str = "none"
    mask_effect: str | None = None  # "starts", "stops", "drops", "uses"
    #: how the layer's weights are used across steps, in words (None when not applicable)
    sharing: str | None = None
    #: the same layer object was called before (its weights are shared with that call)
    repeated: bool = False
    #: tensors passed besides the main input, e.g. ``initial_state=[h, c]``
    state_inputs: list[TensorInfo] = field(default_factory=list)
    #: a recurrent layer called with ``parallel_steps=True``: every step from ``initial_state``
    parallel_steps: bool = False


@dataclass(frozen=True)
class Topology:
    """The topology of a model: one of ``KINDS`` and the step counts on each side.

    kind: ``"one-to-one"``, ``"one-to-many"``, ``"many-to-one"``, ``"many-to-many (aligned)"`` or
        ``"many-to-many (different lengths)"`` (the output's time axis is not the input's: a slice
        of it, or a new one made by an encoder-decoder).
    input_steps / output_steps: the number of time steps in and out (1 on a side without a time
        axis; None when variable).
    via: the layer that makes the difference (the recurrent layer that keeps only its last step,
        the ``RepeatVector`` that creates the output's time axis, the decoder input...).
    """

    kind: str
    input_steps: int | None
    output_steps: int | None
    via: str | None = None

    @property
    def name(self) -> str:
        """The builder's name in ``seqlayers.topologies`` for this kind (``"many_to_one"``...)."""
        return {ONE_TO_ONE: "one_to_one", ONE_TO_MANY: "one_to_many", MANY_TO_ONE: "many_to_one",
                MANY_TO_MANY: "many_to_many", ENCODER_DECODER: "encoder_decoder"}[self.kind]

    @property
    def sequence_in(self) -> bool:
        return self.kind in (MANY_TO_ONE, MANY_TO_MANY, ENCODER_DECODER)

    @property
    def sequence_out(self) -> bool:
        return self.kind in (ONE_TO_MANY, MANY_TO_MANY, ENCODER_DECODER)

    def __str__(self) -> str:
        def side(n, seq, what):
            if not seq:
                return f"one {what}"
            return f"{'a variable number of' if n is None else n} {what} step{'' if n == 1 else 's'}"

        text = (f"{self.kind}: {side(self.input_steps, self.sequence_in, 'input')} -> "
                f"{side(self.output_steps, self.sequence_out, 'output')}")
        return text + (f" (via {self.via})" if self.via else "")


# ---------------------------------------------------------------- layer kinds (by attributes)
def recurrent_flags(layer) -> tuple[bool, bool, bool]:
    """(is_recurrent, return_sequences, return_state) read from the layer (or the layer it wraps,
    for ``Bidirectional``); duck-typed on the Keras attribute names."""
    for obj in (layer, getattr(layer, "forward_layer", None)):
        if obj is not None and hasattr(obj, "return_sequences") and not _is_time_distributed(obj):
            return True, bool(obj.return_sequences), bool(getattr(obj, "return_state", False))
    return False, False, False


def _is_time_distributed(layer) -> bool:
    return isinstance(layer, TimeDistributed)


def _class(layer) -> str:
    return type(layer).__name__


def label(layer) -> str:
    name = getattr(layer, "name", None)
    return f"{_class(layer)} '{name}'" if name else _class(layer)


def _makes_mask(layer) -> bool:
    return (isinstance(layer, Embedding) and layer.mask_zero) or isinstance(layer, Masking)


def _passes_mask(layer) -> bool:
    if isinstance(layer, nn.Module) and not isinstance(layer, Layer):
        return False
    from .base import BaseModel  # models/base.py imports this module for model.topology()

    if isinstance(layer, BaseModel):
        return True
    return bool(getattr(layer, "supports_masking", False))


# ---------------------------------------------------------------- the rules, one call at a time
def _call(layer, ins: list[TensorInfo], out_shapes: list[tuple], repeated: bool, parallel: bool = False) -> Call:
    timed = [t for t in ins if t.time is not None]
    src = timed[0] if timed else None
    masked_in = any(t.masked for t in ins)
    dropped = next((t.dropped_by for t in ins if t.dropped_by), None)
    lbl = label(layer)
    batch = ins[0].batch if ins else "batch"
    relabel = getattr(layer, "batch_label", None)
    if callable(relabel) and ins:
        batch = relabel(batch, ins[0].shape)
    outs = [TensorInfo(tuple(s), batch=batch) for s in out_shapes]
    call = Call(layer, ins, outs, repeated=repeated, parallel_steps=parallel)
    is_rnn, seqs, _ = recurrent_flags(layer)
    seqs = seqs or parallel  # parallel_steps returns every step, and each step's states

    if isinstance(layer, RepeatVector):
        outs[0].time = TimeAxis(out_shapes[0][1], "repeat", lbl)
        call.time_effect = "creates"
    elif is_rnn and src is not None and not _is_time_distributed(layer):
        outs[0].time = src.time if seqs else None
        call.time_effect = "keeps" if seqs else "drops"
        for o in outs[1:]:  # return_state: the states are vectors (one per step with parallel_steps)
            o.time = src.time if parallel else None
        call.sharing = ("the same cell weights at every step; every step starts from initial_state" if parallel
                        else "the same cell weights at every step; the state carries information forward")
    elif getattr(layer, "per_step_output", False) and src is not None:  # e.g. CRF: scores (B, T, K) -> tags (B, T)
        outs[0].time = src.time
        call.time_effect = "keeps"
        call.sharing = "the same transition weights between every pair of neighbouring steps"
    elif isinstance(layer, Embedding):
        outs[0].time = src.time if src is not None else None
        call.time_effect = "keeps" if src is not None else "none"
        if src is not None:
            call.sharing = "one lookup table for every step"
    else:
        for o in outs:
            o.time, effect = _generic_time(layer, src, o.shape, ins)
            call.time_effect = effect if call.time_effect == "none" else call.time_effect
        if _is_time_distributed(layer):
            call.sharing = f"the wrapped {_class(layer.layer)} runs on every step with the same weights"
        elif src is not None and outs[0].time is src.time and _has_weights(layer):
            call.sharing = "applied to every step with the same weights (like TimeDistributed)"
    for o in outs:
        o.dropped_by = lbl if (call.time_effect == "drops" and o.time is None) else (None if o.time else dropped)

    # masks
    if _makes_mask(layer):
        call.mask_effect = "starts"
        for o in outs:
            o.masked = True
    elif masked_in:
        if getattr(layer, "per_step_output", False) and outs[0].time is not None:
            call.mask_effect = "uses"
            outs[0].masked = True
        elif is_rnn and not _is_time_distributed(layer):
            if seqs:
                call.mask_effect = "uses"
                outs[0].masked = True
            else:
                call.mask_effect = "stops"
        elif _passes_mask(layer) and all(o.time is not None for o in outs[:1]):
            call.mask_effect = "passes"
            for o in outs:
                o.masked = o.time is not None
        else:
            call.mask_effect = "drops"
    return call


def _has_weights(layer) -> bool:
    return any(True for _ in layer.parameters())


def _generic_time(layer, src: TensorInfo | None, out_shape: tuple, ins) -> tuple[TimeAxis | None, str]:
    """Time axis of an output from shapes alone (Dense, TimeDistributed, Lambda, Reshape, merges...)."""
    rank = len(out_shape)
    if src is None:
        if rank >= 3 and all(len(t.shape) <= 2 for t in ins):  # e.g. Reshape of a vector into steps
            return TimeAxis(out_shape[1], "new", label(layer)), "creates"
        return None, "none"
    in_shape = src.shape
    if rank < 3 and not (rank == 2 and len(in_shape) == 2):  # rank dropped: time folded away
        return None, "drops"
    if rank == 2 and len(in_shape) == 2:  # ids (B, T) kept as (B, T)
        return src.time, "keeps"
    if out_shape[1] == in_shape[1]:
        return src.time, "keeps"
    return TimeAxis(out_shape[1], "slice", label(layer)), "changes"


# ---------------------------------------------------------------- walking a model
def _input_info(shape, dtype, consumer, name: str) -> TensorInfo:
    shape = tuple(shape)
    ids = dtype is not None and not (dtype.is_floating_point or dtype.is_complex)
    timed = len(shape) >= 3 or (len(shape) == 2 and (ids or isinstance(consumer, Embedding)))
    return TensorInfo(shape, TimeAxis(shape[1], "input", name) if timed else None)


def trace(model) -> tuple[list[TensorInfo], list[Call], list[TensorInfo]]:
    """(model inputs, layer calls in running order, model outputs) with time axes and masks."""
    from .functional import Model  # these import models/base.py, which imports this module
    from .sequential import Sequential

    if isinstance(model, Sequential):
        if not model.built or not model.layer_shapes:
            raise ValueError(
                f"Sequential '{model.display_name}': topology() and explain() need the shapes, and the "
                f"model is not built yet. Give the first layer input_shape=(timesteps, features), start "
                f"with Input(shape=...), or call the model on a batch first."
            )
        first = model.layers[0]
        in_shape = model.declared_input_shape or getattr(first, "_build_input_shape", None)
        x = _input_info(in_shape, model._input_dtype, first, "input")
        inputs, calls, cur = [x], [], [x]
        for layer, shape in zip(model.layers, model.layer_shapes):
            shapes = shape if isinstance(shape, list) else [shape]
            call = _call(layer, cur, shapes, repeated=False)
            calls.append(call)
            cur = call.outputs[:1]
        return inputs, calls, call.outputs if calls else inputs
    if isinstance(model, Model) and model._functional:
        infos: dict[int, TensorInfo] = {}
        consumers: dict[int, nn.Module] = {}
        for node in model._nodes:
            for t in node.inbound:
                consumers.setdefault(id(t), node.layer)
        inputs = []
        for i, t in enumerate(model.inputs):
            info = _input_info(t.shape, t.dtype, consumers.get(id(t)), model.input_names[i])
            infos[id(t)] = info
            inputs.append(info)
        calls, seen = [], set()
        for node in model._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            main = flatten(node.args[0]) if node.args else []
            ins = [infos[id(t)] for t in main if id(t) in infos]
            outs = flatten(node.outputs)
            call = _call(node.layer, ins, [o.shape for o in outs], repeated=id(node.layer) in seen,
                         parallel=bool(node.kwargs.get("parallel_steps")))
            extra = [infos[id(t)] for t in node.inbound if id(t) in infos and infos[id(t)] not in ins]
            call.state_inputs = extra  # e.g. initial_state=[h, c]
            seen.add(id(node.layer))
            for o, info in zip(outs, call.outputs):
                infos[id(o)] = info
            calls.append(call)
        return inputs, calls, [infos[id(t)] for t in model.outputs]
    raise TypeError(
        f"{type(model).__name__}: topology() and explain() read a Sequential or a functional Model "
        f"(Model(inputs, outputs)); a subclassed model's call() cannot be read without running it."
    )


def classify(inputs: list[TensorInfo], output: TensorInfo) -> Topology:
    """The topology of one output relative to the model's (first timed) input."""
    timed_in = [t for t in inputs if t.time is not None]
    main = timed_in[0] if timed_in else inputs[0]
    n_in = main.time.steps if main.time is not None else 1
    t_out = output.time
    # a time axis of length 1 is a single step: the tutorial's "one-to-one" LSTM on (5, 1, 1)
    seq_in = main.time is not None and main.time.steps != 1
    if t_out is None:
        kind = MANY_TO_ONE if seq_in else ONE_TO_ONE
        return Topology(kind, n_in, 1, output.dropped_by if seq_in else None)
    n_out = t_out.steps
    if t_out is main.time:
        if not seq_in:
            return Topology(ONE_TO_ONE, 1, 1)
        return Topology(MANY_TO_MANY, n_in, n_out)
    if t_out.origin == "input":
        # a decoder input that carries the outputs fed back (teacher forcing) has the output's features
        # per step; one with other features (a GAN's noise, extra covariates) is named as the input it is
        fed_back = any(t.time is t_out and t.shape[-1] == output.shape[-1] for t in inputs)
        via = f"decoder input '{t_out.made_by}'" + (" (teacher forcing)" if fed_back else "")
    else:
        via = t_out.made_by
    if not seq_in:
        return Topology(ONE_TO_MANY, 1, n_out, via)
    return Topology(ENCODER_DECODER, n_in, n_out, via)


def detect(model) -> Topology:
    """The topology of ``model`` (of its first output; ``detect_all`` gives one per output).

    Example::

        >>> model = Sequential([LSTM(5, input_shape=(5, 1), return_sequences=True), TimeDistributed(Dense(1))])
        >>> print(model.topology())
        many-to-many (aligned): 5 input steps -> 5 output steps
    """
    return detect_all(model)[0]


def detect_all(model) -> list[Topology]:
    inputs, _, outputs = trace(model)
    return [classify(inputs, o) for o in outputs]


__all__ = ["Topology", "TimeAxis", "TensorInfo", "Call", "trace", "classify", "detect", "detect_all",
           "recurrent_flags", "KINDS", "ONE_TO_ONE", "ONE_TO_MANY", "MANY_TO_ONE", "MANY_TO_MANY",
           "ENCODER_DECODER"]
