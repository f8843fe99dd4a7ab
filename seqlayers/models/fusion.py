"""Sequential's one fusion: a recurrent layer returning sequences, then a per-step ``Dense``.

``LSTM(H, return_sequences=True) -> TimeDistributed(Dense(U))`` (or ``Dense(U)`` on the steps) is the
many-to-many model of most of our users' questions, and ``Bidirectional(LSTM(H, return_sequences=True))
-> TimeDistributed(Dense(K, "softmax"))`` the tagger. In inference with the native LSTM/GRU/SimpleRNN
loops on CPU, ``rnn_then_dense`` runs the pair as one native call, the Dense (up to
``rnn_kernel.MAX_HEAD_UNITS`` units, and its softmax when it has one) computed by the kernels of
``seqlayers/native/head.h``: right after each step from the new ``h`` where the fused steps run (one
direction, no mask), so the ``(B, T, H)`` sequence is neither written nor read back (W1, ``LSTM(128) ->
TimeDistributed(Dense(1))``; W4, ``SimpleRNN(200) -> TimeDistributed(Dense(1))``; W3's decoder and
``TimeDistributed(Dense(12, "softmax"))``), else over the op's finished output (a ``Bidirectional``: W2;
a mask: W5; ``GRU(reset_after=False)``; an LSTM past the fused steps' size), in place of torch's addmm
and softmax (see docs/performance.md). The result is the two layers' output, to float32 rounding (the
Dense's sum runs in another order), with the mask their own calls attach. Anything else, and any case the
kernels refuse, runs the two layers as before: a gradient needed, training mode, autocast, hooks on
either module, an activity regularizer, a Dense of more units, a masked SimpleRNN, a ``Bidirectional``
that does not concatenate or whose backward layer does not run backwards, a subclass of the recurrent
layer (its own ``call`` may do something else).
"""
from __future__ import annotations

import torch
from torch.nn.modules import module as nn_module

from .. import activations
from ..layers.base import get_mask, set_mask
from ..layers.bidirectional import Bidirectional
from ..layers.core import Dense
from ..layers.rnn import GRU, LSTM, RNN, SimpleRNN
from ..layers.wrappers import TimeDistributed

_RNNS = (RNN, LSTM, GRU, SimpleRNN, Bidirectional)


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
    ``Sequential`` asks only in inference (not training). A mask on ``x`` goes to the recurrent layer, and
    the result carries the mask the two layers' own calls would have attached."""
    # the exact classes only: a subclass may override call (or forward), which the fusion would skip
    if torch.is_grad_enabled() or type(rnn) not in _RNNS or type(x) is not torch.Tensor:
        return None
    if torch.is_autocast_enabled(x.device.type):  # the Dense's own call computes in the autocast dtype
        return None
    dense = _dense_of(nxt)
    if (dense is None or not (rnn.built and nxt.built and dense.built) or rnn.activity_regularizer is not None
            or dense.activity_regularizer is not None or _hooked(rnn, nxt, dense)):
        return None
    mask = get_mask(x)
    if mask is not None and not isinstance(mask, torch.Tensor):
        return None  # (a nest of masks: not a recurrent layer's input)
    softmax = dense.activation is activations.softmax  # computed in the op too
    y = rnn.call_with_head(x, dense.kernel.t(), dense.bias, softmax, mask=mask)  # (U, D*H): a view, copied once
    if y is None:
        return None
    if dense.activation is not None and not softmax:
        if dense is nxt:
            y = dense.activation(y)  # (B, T, U), as Dense's own call on the steps
        else:
            B, T, U = y.shape  # TimeDistributed hands its Dense the steps folded: (B*T, U), as there
            y = dense.activation(y.reshape(B * T, U)).reshape(B, T, -1)
    if mask is not None:
        set_mask(y, _output_mask(rnn, nxt, x, mask, dense.kernel.shape[0]))
    return y


def _output_mask(rnn, nxt, x, mask, width):
    """The mask the two layers' own calls attach (``Layer.forward``: each layer's ``compute_mask``), from
    the input's; the recurrent layer's output, which the fusion does not make, stands as a zero-stride
    ``(B, T, width)`` tensor of its shape."""
    inner = rnn.compute_mask(x, mask) if rnn._sets_output_mask else None
    if not nxt._sets_output_mask or (inner is None and nxt._base_compute_mask):
        return None
    return nxt.compute_mask(x.new_zeros(()).expand(x.shape[0], x.shape[1], width), inner)
