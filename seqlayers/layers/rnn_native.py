"""LSTM and GRU inference on CPU through the native C++ loops (``seqlayers/native/gated_loop.cpp``).

One GEMM for every step's input projection, then the recurrence with the gates fused (the
vectorised rational tanh/sigmoid of ``loop_math.h``: max abs error 2.9e-7 / 1.8e-7 against float64,
so a layer's output stays within ~2e-6 of torch's kernel), written straight into the batch-first
output; both directions of a ``Bidirectional`` in one call, into one ``(B, T, 2H)`` output; masks of
any shape (right-padded or with holes) with Keras's semantics, the recurrent product running over the
valid rows only, so padded steps cost almost nothing.

``applies(x, directions)`` says whether it may run: float32 CPU, a built and enabled native library,
every direction a native cell (``CellSpec.native``) without dropout masks, not while compiling,
tracing or exporting. ``rnn_kernel.run`` asks it only when no gradient is needed (the loops have no
backward). ``run(...)`` returns, per direction, ``(sequence, last, states)`` and the path
(``"native"``, ``"native_masked"``, ``"native_bidirectional"``; see ``rnn_kernel``). A large LSTM
(``LSTM_MAX_WEIGHTS``) is left to torch's kernel, which was faster there.
"""
from __future__ import annotations

import torch

from .. import native

KINDS = {"lstm": 0, "gru": 1, "gru_reset_before": 2}  #: CellSpec.native -> the C++ loop's ``kind``
#: An LSTM runs natively up to this many weights (4H x (F + H) floats: H <= ~300). Larger, torch's
#: oneDNN LSTM was faster (B=16, T=100, F=8: H=512 41 vs 28 ms; H=256 7.1 vs 6.3, H=128 at par);
#: torch's GRU is not oneDNN's, and the native GRU stayed ahead (H=512: 25 vs 39 ms).
LSTM_MAX_WEIGHTS = 384 * 1024


def applies(x: torch.Tensor, directions) -> bool:
    """True when the native loop may run these directions over ``x`` (nothing checks gradients here)."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() != 3:
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    kinds = {d.cell.native for d in directions}
    if len(kinds) != 1 or None in kinds or not kinds <= KINDS.keys():
        return False
    for d in directions:
        if not d.allow_fused or d.cell.dropout != (None, None):
            return False
        if any(w is not None and w.dtype != torch.float32 for w in d.cell.weights):
            return False
    if len(directions) == 2 and directions[0].cell.weights[1].shape != directions[1].cell.weights[1].shape:
        return False
    w_ih, w_hh = directions[0].cell.weights[:2]
    if kinds == {"lstm"} and w_hh.shape[0] * (w_ih.shape[1] + w_hh.shape[1]) > LSTM_MAX_WEIGHTS:
        return False
    return native.use_native()


def _weights(d):
    w = list(d.cell.weights) + [None, None]
    return w[0], w[1], w[2], w[3]  # w_ih, w_hh, b_ih (or None), b_hh (or None)


def run(x: torch.Tensor, directions, mask=None, zero_output=False, return_sequences=True, head=None):
    """Run one or two directions: ``[(sequence, last, states)]`` per direction, the path, the joint output.

    ``head``: ``(w (U, D*H), b (U) or None, softmax)`` of a Dense after the layer: the sequence returned
    (for every direction) is its ``(B, T, U)`` output ``h @ w^T + b`` instead, ``h`` the ``(B, T, D*H)``
    output (both directions' columns), through a softmax over the U values when ``softmax``; computed in
    the steps (one direction, no mask, the LSTM's and GRU's fused steps), elsewhere over the finished
    output (``seqlayers/native/head.h``).

    ``mask`` (B, T) bool or None. The joint ``(B, T, 2H)`` output (None for one direction, or when
    the second direction does not run backwards) is ``[forward, backward]`` in the order
    ``Bidirectional`` concatenates them.
    """
    if mask is not None and bool(mask.all()):
        mask = None  # an all-valid mask is no mask
    kind = directions[0].cell.native
    ws = [_weights(d) for d in directions]
    states = [list(d.states) if d.states is not None else [None, None] for d in directions]
    out, *rest = torch.ops.seqlayers_native.gated_rnn_forward(
        x, KINDS[kind], [w[0] for w in ws], [w[1] for w in ws], [w[2] for w in ws], [w[3] for w in ws],
        [s[0] for s in states], [s[1] if kind == "lstm" else None for s in states], mask,
        [d.go_backwards for d in directions], [d.time_order for d in directions], zero_output,
        return_sequences, native.BLAS_ONLY[0], *(head if head is not None else (None, None, False)))
    n_states = 2 if kind == "lstm" else 1
    H = ws[0][1].shape[1]
    results = []
    for i in range(len(directions)):
        last, *final = rest[i * (1 + n_states):(i + 1) * (1 + n_states)]
        seq = None
        if return_sequences:
            seq = out if len(directions) == 1 or head is not None else out[..., i * H:(i + 1) * H]  # (B, T, H)
        results.append((seq, last, final))
    joint = out if return_sequences and len(directions) == 2 and directions[1].go_backwards and head is None else None
    path = "native_masked" if mask is not None else ("native_bidirectional" if len(directions) == 2 else "native")
    return results, path, joint


__all__ = ["KINDS", "applies", "run"]
