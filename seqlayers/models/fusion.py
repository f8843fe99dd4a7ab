"""Sequential's one fusion: a recurrent layer returning sequences, then a per-step ``Dense``.

``LSTM(H, return_sequences=True) -> TimeDistributed(Dense(U))`` (or ``Dense(U)`` on the steps) is the
many-to-many model of most of our users' questions. In inference with the native LSTM/GRU/SimpleRNN loops
on CPU, ``rnn_then_dense`` runs the pair as one native call: the Dense (up to ``rnn_kernel.MAX_HEAD_UNITS``
units, and its softmax when it has one) is computed right after each step from the new ``h``, so the
``(B, T, H)`` sequence is neither written nor read back (W1, ``LSTM(128) -> TimeDistributed(Dense(1))``;
W4, ``SimpleRNN(200) -> TimeDistributed(Dense(1))``; W3's decoder and ``TimeDistributed(Dense(12,
"softmax"))``: see docs/performance.md, and ``seqlayers/native/head.h`` for the kernels). The result is the
two layers' output, to float32 rounding (the Dense's sum runs in another order). Anything else, and any
case the kernels refuse, runs the two layers as before: a gradient needed, training mode, autocast, a
mask on the input, hooks on either module, an activity regularizer, a Dense of more units, a subclass of
the recurrent layer (its own ``call`` may do something else).
"""
from __future__ import annotations

import torch
from torch.nn.modules import module as nn_module

from .. import activations
from ..layers.base import get_mask
from ..layers.core import Dense
from ..layers.rnn import GRU, LSTM, RNN, SimpleRNN
from ..layers.wrappers import TimeDistributed

_RNNS = (RNN, LSTM, GRU, SimpleRNN)


def _dense_of(layer) -> Dense | None:
    """The Dense that ``layer`` applies at every step: itself, or the one a TimeDistributed wraps."""
    if type(layer) is TimeDistributed and layer.activity_regularizer is None:
        layer = layer._modules["layer"]
    return layer if type(layer) is Dense else None


def _hooked(*modules) -> bool:
    return bool(nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in modules)


def rnn_then_dense(rnn, nxt, x) -> torch.Tensor | None:
    """``nxt(rnn(x))`` in one native call, or None where that does not apply (then call them as usual).
    ``Sequential`` asks only in inference (not training)."""
    # the exact classes only: a subclass may override call (or forward), which the fusion would skip
    if torch.is_grad_enabled() or type(rnn) not in _RNNS or type(x) is not torch.Tensor:
        return None
    if torch.is_autocast_enabled(x.device.type):  # the Dense's own call computes in the autocast dtype
        return None
    dense = _dense_of(nxt)
    if (dense is None or not (rnn.built and nxt.built and dense.built) or rnn.activity_regularizer is not None
            or dense.activity_regularizer is not None or get_mask(x) is not None or _hooked(rnn, nxt, dense)):
        return None
    softmax = dense.activation is activations.softmax  # computed in the steps too
    y = rnn.call_with_head(x, dense.kernel.t(), dense.bias, softmax)  # (U, H): a view, the op copies it once
    if y is None:
        return None
    if dense.activation is None or softmax:
        return y
    if dense is nxt:
        return dense.activation(y)  # (B, T, U), as Dense's own call on the steps
    B, T, U = y.shape  # TimeDistributed hands its Dense the steps folded: (B*T, U), as there
    return dense.activation(y.reshape(B * T, U)).reshape(B, T, -1)
