"""Streaming inference: a recurrent model run one time step per call, its states carried between calls.

For online forecasting and dialogue, where each call brings one new step (batch 1 or small) and
answers at once::

    model = Sequential([Input((None, 8)), LSTM(128, return_sequences=True), Dense(1)])
    ...                                       # train it on whole sequences as usual
    stream = Stream(model, batch_size=1)      # the weights are read now (see below)
    for x_t in source:                        # x_t: (1, 8), one step
        y_t = stream.step(x_t)                # (1, 1); the LSTM's states carried to the next call
    stream.reset()                            # a new sequence starts from zero states

``stream.step(x_t)`` computes what ``model`` computes on the whole sequence at that step (the same
as a ``stateful=True`` copy of the model fed one step at a time), with as little work per call as
the library can manage: each LSTM/GRU layer is one call of the native C++ step kernel
(``seqlayers/native/gated_loop.cpp``) on weights transposed and packed once, here, at construction,
and a Dense (or TimeDistributed(Dense)) right after it is computed in that same call (its
activation, if any, applied after); a SimpleRNN one call of its native loop; any other Dense one
``F.linear`` on its weights read once; every other layer (Dropout at inference, Activation...) is called as in
the model, on a ``(B, 1, F)`` step (or ``(B, H)`` after a recurrent layer with
``return_sequences=False``). A recurrent layer that the layer itself would not run natively (the
native library not built, a float64 model, an LSTM large enough that the layer hands it to torch's
kernel: ``rnn_kernel.runs_native`` says) steps through its cell (``cell.call``) in the layer's
dtype: the same results, more overhead. No gradients are kept.

The weights are a snapshot: after training further or loading other weights, make a new ``Stream``.
Only the layers of a ``Sequential`` (or a list of layers) stream; a recurrent layer that runs
backwards, or a ``Bidirectional``, needs the whole sequence and is refused.

Measured per-call latency (LSTM(128), F=8, batch 1): docs/performance.md, "Streaming".
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import native
from ..errors import layer_label
from ..layers.bidirectional import Bidirectional
from ..layers.core import Dense
from ..layers.rnn import RNN
from ..layers.rnn_fused import LOOP_KINDS
from ..layers.rnn_kernel import Direction, runs_native
from ..layers.rnn_native import KINDS
from ..layers.wrappers import TimeDistributed
from .sequential import Sequential


class _RecurrentStep:
    """One recurrent layer's step: ``(B, F) -> (B, H)``, its states kept here."""

    def __init__(self, layer: RNN, batch_size: int):
        self.layer, self.cell, self.batch_size = layer, layer.cell, batch_size
        self.dtype: torch.dtype = layer.dtype_  # the weights' dtype: inputs and states are cast to it, as the layer
        self.kind: str = (self.cell.native_kind if layer._builtin else None) or ""
        self.simple = layer._builtin and self.cell.fused_kind in LOOP_KINDS  # SimpleRNN's native loop
        w: list = [None if t is None else t.detach() for t in self.cell.flat_weights()] if layer._builtin else []
        self.native = layer._builtin and _layer_runs_native(layer, batch_size, w[0].shape[1])
        #: a following Dense computed in the native step call (see fuse): (weight (U, H), bias or None)
        self.head: tuple = (None, None)
        self.head_activation: Callable | None = None
        if self.native and self.kind in KINDS:
            w_ih, w_hh, b_ih, b_hh = (w + [None, None])[:4]
            self.prepared: list = torch.ops.seqlayers_native.gated_rnn_prepare(KINDS[self.kind], w_ih, w_hh, b_ih, b_hh)
        elif self.native:  # SimpleRNN: W^T made once
            bias = w[2] + w[3] if len(w) == 4 else None
            self.prepared = [w[0].t().contiguous(), w[1].t().contiguous(), bias, LOOP_KINDS[self.cell.fused_kind]]
        self.reset()

    def reset(self) -> None:
        self.states = [torch.zeros(self.batch_size, s, dtype=self.dtype) for s in self.layer.state_sizes]

    def __call__(self, x_t: torch.Tensor) -> torch.Tensor:
        # native.BLAS_ONLY: the recurrent product as the layer's own native call computes it (rnn_native, rnn_fused)
        x_t = x_t if x_t.dtype == self.dtype else x_t.to(self.dtype)
        if not self.native:
            out, new = self.cell.call(x_t, list(self.states), training=False)
            self.states = [new] if isinstance(new, torch.Tensor) else list(new)
            return out
        if self.simple:
            w_ih_t, w_hh_t, bias, relu = self.prepared
            out = torch.ops.seqlayers_native.simple_rnn_forward(x_t[:, None], w_ih_t, w_hh_t, bias, self.states[0],
                                                                relu, native.BLAS_ONLY[0])[:, 0]
            self.states = [out]
            return out
        c = self.states[1] if len(self.states) == 2 else None
        y = torch.ops.seqlayers_native.gated_rnn_step(x_t, KINDS[self.kind], self.prepared, self.states[0], c,
                                                      native.BLAS_ONLY[0], *self.head)
        return y if self.head_activation is None else self.head_activation(y)

    def fuse(self, dense: _DenseStep) -> bool:
        """Compute ``dense`` (the next layer) in this step's native call; False where it cannot be."""
        if not (self.native and self.kind in KINDS and self.head[0] is None and self.dtype == torch.float32
                and dense.weight.dtype == torch.float32):
            return False
        self.head, self.head_activation = (dense.weight, dense.bias), dense.activation
        return True


def _layer_runs_native(layer: RNN, batch_size: int, F: int) -> bool:
    """Whether ``layer`` itself runs a native loop at inference over an input of its dtype (no mask)."""
    x = torch.zeros(batch_size, 1, F, dtype=layer.dtype_)  # (B, T=1, F): what the decision reads of an input
    # states None (zeros): the stream keeps its own, and a stateful layer's kept ones stay untouched
    d = Direction(layer._cell_spec(x, training=False), None, layer.go_backwards, allow_fused=layer._allow_fused)
    with torch.no_grad():  # the stream keeps no gradients; the layer decides as in inference
        return runs_native(x, d)


class _DenseStep:
    """A Dense (or TimeDistributed(Dense)) layer's step on its weights read once: one ``F.linear``
    and the activation, without the checks of a layer call (half of a streamed LSTM(128) + Dense's
    per-call time went to the Dense layer's call)."""

    def __init__(self, dense: Dense):
        self.weight = dense.kernel.detach().t().contiguous()  # (units, F)
        self.bias = None if dense.bias is None else dense.bias.detach()
        self.activation = dense.activation

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x if x.dtype == self.weight.dtype else x.to(self.weight.dtype)  # as the layer casts its input
        y = torch.nn.functional.linear(x, self.weight, self.bias)
        return y if self.activation is None else self.activation(y)


def _step_of(layer, batch_size: int) -> Callable:
    if isinstance(layer, RNN):
        return _RecurrentStep(layer, batch_size)
    inner = layer.layer if isinstance(layer, TimeDistributed) else layer
    if type(inner) is Dense:
        return _DenseStep(inner)
    return layer


def _check_layer(layer) -> None:
    if isinstance(layer, Bidirectional) or (isinstance(layer, RNN) and layer.go_backwards):
        raise ValueError(
            f"Stream: {layer_label(layer)} runs backwards in time, which needs the whole sequence; "
            "a stream sees one step per call. Stream a model whose recurrent layers run forwards."
        )


class Stream:
    """Run ``model`` one time step per call, carrying its recurrent states (see the module docstring).

    Args:
        model: a built ``Sequential`` or a list of built layers.
        batch_size: B, the number of streams stepped together (default 1).

    Shape:
        ``step(x_t)``: x_t ``(B, F)`` -> what the model outputs at that step, e.g. ``(B, units)`` of
        its last Dense (the time axis of length 1 removed).
    """

    def __init__(self, model, batch_size: int = 1):
        layers = list(model.layers) if isinstance(model, Sequential) else list(model)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Stream: batch_size must be a positive int, got {batch_size!r}.")
        for layer in layers:
            _check_layer(layer)
            if not getattr(layer, "built", True):
                raise ValueError(f"Stream: {layer_label(layer)} is not built; call the model once on a batch "
                                 "(or give it an Input shape) before streaming it.")
        self.batch_size = batch_size
        #: the model's float type (its first layer's weights'): each step's x_t is cast to it, as the model casts
        self.dtype: torch.dtype = next((p.dtype for layer in layers for p in layer.parameters()
                                        if p.is_floating_point()), torch.float32)
        steps = [_step_of(layer, batch_size) for layer in layers]
        keeps_time = [isinstance(layer, RNN) and layer.return_sequences for layer in layers]
        self._steps: list[Callable] = []
        self._keeps_time: list[bool] = []
        for s, keeps in zip(steps, keeps_time):
            previous = self._steps[-1] if self._steps else None
            if isinstance(s, _DenseStep) and isinstance(previous, _RecurrentStep) and previous.fuse(s):
                continue  # the Dense runs inside the recurrent layer's step call
            self._steps.append(s)
            self._keeps_time.append(keeps)
        self._plain = all(isinstance(s, _DenseStep) or (isinstance(s, _RecurrentStep) and s.native)
                          for s in self._steps)

    def reset(self) -> None:
        """Start a new sequence: every recurrent state back to zeros."""
        for s in self._steps:
            if isinstance(s, _RecurrentStep):
                s.reset()

    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """One time step ``x_t`` (B, F) through the model; returns its output at this step."""
        if x_t.dim() != 2 or x_t.shape[0] != self.batch_size:
            raise ValueError(f"Stream.step: expected one step of shape (batch_size={self.batch_size}, features), "
                             f"got {tuple(x_t.shape)}. Pass x[:, t] of a (batch, time, features) sequence.")
        if self._plain and not x_t.requires_grad:  # native steps, F.linear on detached weights: no graph
            return self._run(x_t if x_t.dtype == self.dtype else x_t.to(self.dtype))
        with torch.no_grad():
            return self._run(x_t.to(self.dtype))

    def _run(self, y: torch.Tensor) -> torch.Tensor:
        # y is (B, F) here; a layer called as in the model sees (B, 1, F) where the model has a time axis
        timed = True
        for s, keeps_time in zip(self._steps, self._keeps_time):
            if isinstance(s, _RecurrentStep):
                y = s(y[:, 0] if y.dim() == 3 else y)
                timed = keeps_time
            elif isinstance(s, _DenseStep):
                y = s(y)  # (B, F) or (B, 1, F) alike
            else:
                y = s(y[:, None] if timed and y.dim() == 2 else y)
        return y[:, 0] if timed and y.dim() == 3 else y


__all__ = ["Stream"]
