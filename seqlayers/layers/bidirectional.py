"""Bidirectional: run a recurrent layer forwards and a copy of it backwards, merge the two."""
from __future__ import annotations

from typing import cast

import torch

from ..errors import layer_label
from . import rnn_kernel
from .base import Layer
from .rnn import RNN, StatefulBatch, check_steps, head_input
from .rnn_masks import check_mask

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(StatefulBatch, Layer):
    """Bidirectional wrapper for recurrent layers, with Keras 3's semantics.

    The backward layer is a fresh copy of ``layer``'s configuration with ``go_backwards=True``
    (or ``backward_layer`` when given). Its outputs are put back into time order before merging, so
    at step ``t`` the forward half has read ``x[:t+1]`` and the backward half ``x[t:]``. With a mask,
    each sequence is reversed within its own length (padding stays at the end), as flax's
    ``flip_sequences`` does; as in Keras, both halves output zeros at padded steps when
    ``return_sequences`` (asked of the kernel per call: the sub-layers' own
    ``zero_output_for_mask`` stays what their config says).

    Both directions run in one ``rnn_kernel.run`` call, as ``RNN`` does: without a mask, two fused
    directions of the same cell type run as ONE bidirectional torch kernel call (cuDNN runs both
    directions at once); with a right-padded mask, LSTM and GRU still do when the backward direction
    starts from zeros (no ``initial_state``): padded steps keep the states exactly, so running
    backwards through the padding reaches each sequence's end with zero states, as Keras's reversal
    within the lengths does. Otherwise each direction runs its own fused call, sharing one look at
    the mask (``last_path`` tells which).

    Like Keras, the wrapped ``layer`` itself is not used: both directions are new layers built
    from its config (named ``forward_<name>`` and ``backward_<name>``), with their own weights.

    Args:
        layer: a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN(cell)``).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"``, or None for
            ``[forward_output, backward_output]``.
        backward_layer: an explicit backward layer (it must have the opposite ``go_backwards``
            and the same ``return_sequences``, ``return_state`` and ``stateful``).

    Call arguments: ``mask``, ``training``, ``initial_state`` (forward states then backward states).

    Shape:
        input: ``(B, T, F)``
        output: ``(B, T, 2H)`` (concat) or ``(B, T, H)`` with ``return_sequences``, else ``(B, 2H)`` /
        ``(B, H)``; with ``return_state``: ``[output(s), *forward_states, *backward_states]``.
        weights: the forward layer's then the backward layer's (Keras order).
    """

    supports_masking = True
    _input_dim_rank = 3

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, RNN):
            raise TypeError(
                f"Bidirectional: expected a recurrent layer to wrap (LSTM, GRU, SimpleRNN or RNN(cell)), "
                f"got {type(layer).__name__}. Write Bidirectional(LSTM(64)), not Bidirectional(64)."
            )
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise TypeError(f"Bidirectional: backward_layer must be a recurrent layer, got "
                            f"{type(backward_layer).__name__}.")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None, "
                             f"got {merge_mode!r}.")
        self.merge_mode = merge_mode
        base_name = layer.display_name
        self.forward_layer = _copy(layer, name=f"forward_{base_name}")
        if backward_layer is None:
            backward_layer = _copy(layer, name=f"backward_{base_name}", go_backwards=not layer.go_backwards)
        self.backward_layer = backward_layer
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(
                f"Bidirectional: the forward and backward layers need different go_backwards values, got "
                f"{fwd.go_backwards} for both. Leave backward_layer=None to get a copy with go_backwards=True."
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must agree on {attr}, got "
                    f"{getattr(fwd, attr)} (forward) and {getattr(bwd, attr)} (backward)."
                )
        self.return_sequences = fwd.return_sequences
        self.return_state = fwd.return_state
        self.stateful = fwd.stateful
        self.input_spec = fwd.input_spec
        if self.declared_input_shape is None:  # Bidirectional(LSTM(8, input_shape=(T, F)))
            self.declared_input_shape = layer.declared_input_shape
        if self._config.get("dtype") is None:  # Bidirectional(LSTM(8, dtype="float64"))
            self.dtype_ = fwd.dtype_
        else:  # Bidirectional(LSTM(8), dtype="float64"): both directions compute in that dtype
            fwd.dtype_ = bwd.dtype_ = self.dtype_

    # -------------------------------------------------------------- shapes and masks
    def build(self, input_shape):
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (shape[-1] * 2,)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            bwd_states = self.backward_layer.compute_output_shape(input_shape)[1:]
            return outputs + list(states) + list(bwd_states)
        return outputs if self.merge_mode is None else shape

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            n = len(self.forward_layer.state_sizes) + len(self.backward_layer.state_sizes)
            return outs + [None] * n
        return outs if self.merge_mode is None else out

    # -------------------------------------------------------------- weights and states
    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def get_weights(self):
        self._require_built("get_weights")
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights):
        self._require_built("set_weights")
        weights = list(weights)
        n = len(self.forward_layer.weights)
        if len(weights) != n + len(self.backward_layer.weights):
            raise ValueError(
                f"{layer_label(self)}: set_weights expected {n + len(self.backward_layer.weights)} arrays "
                f"(the forward layer's {n}, then the backward layer's), got {len(weights)}."
            )
        self.forward_layer.set_weights(weights[:n])
        self.backward_layer.set_weights(weights[n:])

    def reset_states(self, states=None):
        """Zero the kept states of both directions (stateful layers)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
        else:
            n = len(self.forward_layer.state_sizes)
            self.forward_layer.reset_states(states[:n])
            self.backward_layer.reset_states(states[n:])

    reset_state = reset_states

    @property
    def last_path(self):
        """The paths the two directions took, e.g. ``("fused_padded", "fused_padded")``.

        ``"fused_bidirectional"``: without a mask, both directions ran in ONE bidirectional kernel
        call (same fused cell type, no dropout in training, not stateful);
        ``"fused_bidirectional_padded"``: the same with a right-padded mask (LSTM/GRU, no backward
        initial state).
        """
        return self.forward_layer.last_path, self.backward_layer.last_path

    # -------------------------------------------------------------- calling
    def call(self, inputs, initial_state=None, mask=None, training=None):
        fwd, bwd = self._modules["forward_layer"], self._modules["backward_layer"]  # (not through __getattr__)
        fwd_state = bwd_state = None
        if initial_state is not None:
            n_f, n_b = len(fwd.state_sizes), len(bwd.state_sizes)
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n_f + n_b:
                got = len(initial_state) if isinstance(initial_state, (list, tuple)) else type(initial_state).__name__
                raise ValueError(
                    f"{layer_label(self)}: initial_state must be a list of {n_f + n_b} tensors (the forward "
                    f"layer's {n_f} states, then the backward layer's {n_b}), got {got}."
                )
            fwd_state, bwd_state = list(initial_state[:n_f]), list(initial_state[n_f:])
        x = inputs
        B, T, _ = x.shape
        check_steps(fwd, x)  # (the errors name the forward layer, which meets the input first)
        mask = check_mask(fwd, mask, B, T, x.device)
        training = bool(training)
        directions = self._directions(x, fwd_state, bwd_state, training)
        res_f, res_b = rnn_kernel.run(x, directions, mask=mask, zero_output_for_mask=self.return_sequences,
                                      return_sequences=self.return_sequences,
                                      need_states=self.return_state or self.stateful, training=training)
        fwd.record_run(res_f)
        bwd.record_run(res_b)
        states = list(res_f.states) + list(res_b.states) if self.return_state else []
        if not self.return_sequences:
            return self._merge(res_f.last, res_b.last, states)
        if res_f.joint is not None and self.merge_mode == "concat":
            return [res_f.joint] + states if self.return_state else res_f.joint  # already [forward, backward]
        y, y_rev = res_f.sequence, res_b.sequence
        if not bwd.go_backwards:
            y_rev = y_rev.flip(1)  # Keras flips the backward output, whatever its direction
        return self._merge(y, y_rev, states)

    def call_with_head(self, inputs, w: torch.Tensor, b: torch.Tensor | None, softmax: bool = False,
                       mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """Inference of both directions and a Dense after them in one native call (``rnn_kernel.run_head``):
        ``inputs`` (B, T, F) -> the Dense's ``(B, T, U)`` output before its activation, ``w`` (U, 2H) reading
        the concatenated ``[forward, backward]`` outputs, ``b`` (U,) or None (after a softmax over the U
        values with ``softmax``). ``mask``: the input's (B, T) mask, or None. None where it does not apply
        (merge_mode other than "concat", states returned or kept, a backward layer that does not run
        backwards, either layer unfit for ``RNN.call_with_head``, whatever ``run_head`` refuses): then call
        the two layers as usual. ``Sequential`` calls it."""
        fwd, bwd = cast(RNN, self._modules["forward_layer"]), cast(RNN, self._modules["backward_layer"])
        if (self.merge_mode != "concat" or self.return_state or self.stateful or not self.return_sequences
                or fwd.go_backwards or not bwd.go_backwards or not fwd.fusable_with_head()
                or not bwd.fusable_with_head()):
            return None
        checked = head_input(self, fwd, inputs, mask)
        if checked is None:
            return None
        x, mask = checked
        results = rnn_kernel.run_head(x, self._directions(x), w, b, softmax, mask=mask, zero_output_for_mask=True)
        if results is None:
            return None
        fwd.record_run(results[0])
        bwd.record_run(results[1])
        return results[0].sequence

    def _directions(self, x, fwd_state=None, bwd_state=None, training=False) -> list:
        """Both layers' sides of an ``rnn_kernel`` call on ``x``; the backward sequence comes back in time
        order (no extra flip) when it runs backwards."""
        fwd, bwd = cast(RNN, self._modules["forward_layer"]), cast(RNN, self._modules["backward_layer"])
        return [fwd.kernel_direction(x, fwd_state, training),
                bwd.kernel_direction(x, bwd_state, training)._replace(time_order=bwd.go_backwards)]

    def _merge(self, y, y_rev, states):
        if self.merge_mode == "concat":
            out = [torch.cat([y, y_rev], dim=-1)]  # (B, ..., 2H)
        elif self.merge_mode == "sum":
            out = [y + y_rev]
        elif self.merge_mode == "ave":
            out = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            out = [y * y_rev]
        else:
            out = [y, y_rev]
        if self.return_state or self.merge_mode is None:
            return out + states
        return out[0]


def _copy(layer: RNN, name: str, **changes) -> RNN:
    """A new layer from ``layer``'s config (fresh weights), with ``changes`` applied."""
    cfg = layer.get_config()
    cfg.update(changes, name=name)
    return type(layer).from_config(cfg)


__all__ = ["Bidirectional"]
