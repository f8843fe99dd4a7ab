"""The one recurrent kernel interface: tensors in, tensors out, and which path ran.

``run(x, directions, mask=..., ...)`` runs one direction (``RNN``) or two (``Bidirectional``) over
``x`` ``(B, T, F)``. Each ``Direction`` carries a ``CellSpec`` (what the kernel needs to know of a
cell: its flat weights in torch's layout, the fused torch kernel that computes it if any, the two
halves of its step for the loop, this batch's dropout masks), its initial states and its direction.
It returns one ``Result`` per direction: the output sequence, the last output, the final states and
the path that ran. It writes nothing anywhere; the layers keep what they need from the result.

Paths (``layer.last_path``, one vocabulary for every recurrent layer):

* ``"fused"`` / ``"fused_padded"``: torch's fused kernel (oneDNN on CPU, cuDNN on GPU), without a
  mask / with a right-padded one (``rnn_fused.py``); an LSTM, GRU or SimpleRNN that needs a gradient on CPU
  (float32, the native library built) runs the native training pass there instead (``rnn_train.py``:
  the same one call over the whole sequence, with its own backward), under the same path names;
* ``"fused_bidirectional"``: both directions of a ``Bidirectional`` in ONE bidirectional kernel call
  (no mask, the same fused cell type, no dropout mask drawn);
* ``"fused_bidirectional_padded"``: the same with a right-padded mask, LSTM or GRU, the backward
  direction starting from zero states (``rnn_fused.run_bidirectional_padded``);
* ``"native"`` / ``"native_padded"``, ``"scripted"`` / ``"scripted_padded"``: SimpleRNN inference on
  CPU, where the native C++ loop or the TorchScript loop runs instead of torch's kernel;
* ``"exported"``: under ``torch.export``, one ``seqlayers::recurrence`` custom op per direction
  (``rnn_op.py``), so the exported program keeps a dynamic batch and time axis;
* ``"native"`` / ``"native_masked"`` / ``"native_bidirectional"``: LSTM and GRU (both ``reset_after``
  variants) inference on CPU when nothing needs a gradient: the native C++ loops (``rnn_native.py``),
  without a mask / with any mask / both directions of a ``Bidirectional`` in one call;
* ``"loop"``: the exact step loop (``rnn_loop.py``): a cell no fused kernel computes, recurrent
  dropout in training, a mask that is not right-padded; under ``torch.compile``, a masked call
  (telling right padding apart needs a device sync, which would break the graph) and a call that
  needs gradients (AOT autograd cannot differentiate torch's fused RNN kernels in torch 2.13).

Imports point one way: rnn.py / bidirectional.py -> rnn_kernel -> rnn_native, rnn_op -> rnn_fused, rnn_loop
-> rnn_masks; rnn_fused -> rnn_train.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from . import rnn_native
from .rnn_fused import (
    native_loop_applies,
    run_bidirectional,
    run_bidirectional_padded,
    run_dense,
    run_right_padded,
    run_with_head,
)
from .rnn_loop import run_loop
from .rnn_masks import right_padding
from .rnn_op import run_op


class CellSpec(NamedTuple):
    """A cell as the kernel sees it."""

    fused: str | None  #: "lstm", "gru", "rnn_tanh" or "rnn_relu": the torch kernel computing it exactly; None: loop
    weights: list  #: flat weights ``[w_ih, w_hh(, b_ih, b_hh)]`` in torch's layout (no copies)
    project: Callable  #: ``(x (B, T, F), input dropout mask) -> (B, T, G*H)``
    recur: Callable  #: ``(xw_t, states, recurrent dropout mask) -> (output, new_states)``
    dropout: tuple = (None, None)  #: this batch's ``(input, recurrent)`` dropout masks (None: inactive)
    native: str | None = None  #: "lstm", "gru" or "gru_reset_before": the native inference loop computing it


class Direction(NamedTuple):
    """One direction of a run."""

    cell: CellSpec
    states: list | None  #: initial states, each ``(B, size)``; None: zeros (a fused cell only)
    go_backwards: bool = False
    time_order: bool = False  #: hand a ``go_backwards`` sequence back in time order (Bidirectional)
    allow_fused: bool = True  #: False: always the step loop (tests compare the paths with it)


class Result(NamedTuple):
    """What one direction computed."""

    sequence: torch.Tensor | None  #: ``(B, T, H)``, when ``return_sequences``
    last: torch.Tensor | None  #: ``(B, H)``: the output of the last processed step (None: not asked for)
    states: list  #: the final states, each ``(B, size)`` (a one-call Bidirectional: empty when not asked for)
    path: str  #: which kernel ran (see the module docstring)
    joint: torch.Tensor | None = None  #: ``"fused_bidirectional"``: both sequences as one ``(B, T, 2H)``


def _fusable(d: Direction) -> bool:
    """The direction can run torch's kernel (its recurrent dropout mask, if any, needs the loop)."""
    return d.allow_fused and d.cell.fused is not None and d.cell.dropout[1] is None


def _needs_grad(x, directions) -> bool:
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or any(t.requires_grad for d in directions for t in [*d.cell.weights, *(d.states or ())])


def _zero_states(d: Direction, x, lead=()) -> list:
    """A fused cell's zero start states ``lead + (B, H)`` (H read off its recurrent kernel)."""
    zeros = x.new_zeros(*lead, x.shape[0], d.cell.weights[1].shape[1])
    return [zeros, zeros] if d.cell.fused == "lstm" else [zeros]  # (read only: one tensor serves both)


def _start_states(d: Direction, x) -> list:
    """The states ``d`` starts from: its own, or a fused cell's zeros."""
    return _zero_states(d, x) if d.states is None else d.states


def _one_call(directions) -> bool:
    """Two directions that fit one bidirectional torch kernel call."""
    if len(directions) != 2:
        return False
    f, b = directions
    return (_fusable(f) and _fusable(b) and f.cell.fused == b.cell.fused and not f.go_backwards
            and b.go_backwards and f.cell.dropout[0] is None and b.cell.dropout[0] is None
            and len(f.cell.weights) == len(b.cell.weights)
            and all(u.shape == v.shape for u, v in zip(f.cell.weights, b.cell.weights)))


def run(x: torch.Tensor, directions, *, mask=None, zero_output_for_mask=False, return_sequences=True,
        need_states=True, training=False) -> list:
    """Run each direction over ``x`` (B, T, F); one ``Result`` per direction, in order.

    ``mask``: None or a ``(B, T)`` bool tensor (True at valid steps). ``need_states``: the caller reads
    the final states (``return_state`` or ``stateful``); without it an LSTM's final ``c`` may be
    skipped on the padded path, and a one-call Bidirectional returning sequences leaves the last
    outputs None and the states empty.
    """
    if torch.compiler.is_exporting() and all(_fusable(d) for d in directions):
        return [_run_exported(x, d, mask, zero_output_for_mask, return_sequences) for d in directions]
    if torch.compiler.is_compiling() and _needs_grad(x, directions):
        # AOT autograd (torch.compile's training path) cannot differentiate torch's fused RNN kernels
        # in torch 2.13 (nn.LSTM itself does not compile): the loop, whose steps it can
        directions = [d._replace(allow_fused=False) for d in directions]
    if not _needs_grad(x, directions) and rnn_native.applies(x, directions):
        return _run_native(x, directions, mask, zero_output_for_mask, return_sequences)
    ends = not return_sequences or need_states  # the caller reads the last outputs or the final states
    if mask is None and _one_call(directions):
        return _run_one_call(x, directions, training, ends)
    kind, lengths = "full", None
    if mask is not None:
        if torch.compiler.is_compiling() or not any(_fusable(d) for d in directions):
            kind = "other"  # the loop handles any mask without a data-dependent branch
        else:
            lengths, kind = right_padding(mask)  # one device sync, shared by both directions
    if kind == "right" and _one_call(directions) and directions[0].cell.fused in ("lstm", "gru") \
            and directions[1].states is None and directions[1].time_order:
        return _run_one_call_padded(x, directions, mask, lengths, zero_output_for_mask, return_sequences, training,
                                    ends)
    return [_run_direction(x, d, mask, kind, lengths, zero_output_for_mask, return_sequences, need_states,
                           training) for d in directions]


#: The most units of a Dense that ``run_head`` computes natively (head.h's kMaxHeadUnits).
MAX_HEAD_UNITS = 32


def run_head(x: torch.Tensor, directions, w: torch.Tensor, b: torch.Tensor | None, softmax: bool = False, *,
             mask=None, zero_output_for_mask=False) -> list | None:
    """One direction (``RNN``) or two (``Bidirectional``, the backward one in time order) over ``x`` (B, T, F)
    with a Dense after them (``w`` (U, D*H), ``b`` (U,) or None) computed natively: one ``Result`` per
    direction, each ``sequence`` the Dense's ``(B, T, U)`` output before its activation (after a softmax
    over the U values with ``softmax``: Keras's ``Dense(U, activation="softmax")``), where the layers' own
    calls would give it the ``(B, T, D*H)`` output (both directions' columns). The LSTM's and GRU's fused
    steps, and SimpleRNN's (one direction, no mask), compute it right after each step, and the sequence is
    never written; elsewhere the op computes it over its finished output. ``mask``: None or ``(B, T)``
    bool, with ``zero_output_for_mask`` as in ``run`` (LSTM and GRU). None where that does not run (a
    gradient needed, no native loop, more than ``MAX_HEAD_UNITS`` units, other dtypes): the caller runs
    the layers as usual. (SimpleRNN's result has no last output or final states: its loop keeps only the
    head's outputs.)"""
    width = sum(d.cell.weights[1].shape[1] for d in directions)  # the D*H columns the Dense reads
    if (_needs_grad(x, directions) or w.requires_grad and torch.is_grad_enabled() or w.dim() != 2
            or w.shape[0] > MAX_HEAD_UNITS
            or w.shape[1] != width  # a Dense built for another width: its own call says so
            or w.dtype != torch.float32 or b is not None and b.dtype != torch.float32):
        return None
    if rnn_native.applies(x, directions):
        outs, path, _ = rnn_native.run(x, directions, mask, zero_output_for_mask, True, head=(w, b, softmax))
        return [Result(seq, last, final, path) for seq, last, final in outs]
    d = directions[0]
    if (len(directions) == 1 and mask is None and d.cell.fused in ("rnn_tanh", "rnn_relu") and _fusable(d)
            and d.cell.dropout[0] is None):
        h0 = _start_states(d, x)[0]
        if native_loop_applies(d.cell.fused, x, h0, d.cell.weights):
            y = run_with_head(d.cell.fused, d.cell.weights, x, h0, d.go_backwards, d.time_order, (w, b, softmax))
            return [Result(y, None, [], "native")]
    return None


def runs_native(x, d: Direction) -> bool:
    """Whether ``run(x, [d])`` without a mask, needing no gradient, runs a native C++ loop: the LSTM/GRU
    loops (``rnn_native.applies``) or SimpleRNN's (``rnn_fused.native_loop_applies``). ``Stream`` asks it."""
    if rnn_native.applies(x, [d]):
        return True
    if not _fusable(d):
        return False
    h0 = _start_states(d, x)[0]
    return native_loop_applies(d.cell.fused, x, h0, d.cell.weights)


def _run_direction(x, d: Direction, mask, kind, lengths, zero_output, return_sequences, need_states, training):
    states = _start_states(d, x)
    cell = d.cell
    if _fusable(d) and kind != "other":
        in_mask = cell.dropout[0]
        if in_mask is not None:
            x = x * in_mask[:, None, :]  # the same input dropout mask at every step
        if kind == "full":
            return Result(*run_dense(cell.fused, cell.weights, x, states, training, d.go_backwards, d.time_order))
        seq, last, final, path = run_right_padded(
            cell.fused, cell.weights, x, states, training, mask, lengths, d.go_backwards, zero_output,
            d.time_order, return_sequences, need_states=need_states)
        return Result(seq, last, final, f"{path}_padded")
    seq, last, final = run_loop(x, states, cell.project, cell.recur, mask=mask, dropout=cell.dropout,
                                go_backwards=d.go_backwards, zero_output=zero_output,
                                return_sequences=return_sequences, time_order=d.time_order)
    return Result(seq, last, final, "loop")


def _run_exported(x, d: Direction, mask, zero_output, return_sequences):
    """Under ``torch.export``: one ``seqlayers::recurrence`` node, dynamic in B and T (``rnn_op.py``)."""
    states = _start_states(d, x)
    if d.cell.dropout[0] is not None:
        x = x * d.cell.dropout[0][:, None, :]  # the same input dropout mask at every step
    seq, last, final = run_op(x, d.cell.fused, d.cell.weights, states, mask, d.go_backwards, zero_output,
                              d.time_order, return_sequences)
    return Result(seq, last, final, "exported")


def _run_native(x, directions, mask, zero_output, return_sequences):
    outs, path, joint = rnn_native.run(x, directions, mask, zero_output, return_sequences)
    return [Result(seq, last, final, path, joint) for seq, last, final in outs]


def _joint_states(x, f: Direction, b: Direction) -> list:
    """Both directions' start states, each ``(2, B, H)`` (forward, backward); zeros where None."""
    if f.states is None and b.states is None:
        return _zero_states(f, x, lead=(2,))  # each (2, B, H), made at once
    sf = _zero_states(f, x) if f.states is None else f.states
    sb = _zero_states(b, x) if b.states is None else b.states
    return [torch.stack([s, t]) for s, t in zip(sf, sb)]


def _run_one_call_padded(x, directions, mask, lengths, zero_output, return_sequences, training, ends):
    """A right-padded mask, both directions in one bidirectional kernel call (``run_bidirectional_padded``);
    without ``ends`` the last outputs are None and the final states empty (nobody reads them)."""
    f, b = directions
    H = f.cell.weights[1].shape[1]
    joint, (last_f, last_b), final_f, final_b = run_bidirectional_padded(
        f.cell.fused, list(f.cell.weights) + list(b.cell.weights), x, _joint_states(x, f, b), training, mask,
        lengths, zero_output, return_sequences, ends)
    path = "fused_bidirectional_padded"
    seq_f, seq_b = (None, None) if joint is None else (joint[..., :H], joint[..., H:])
    return [Result(seq_f, last_f, final_f, path, joint), Result(seq_b, last_b, final_b, path, joint)]


def _run_one_call(x, directions, training, ends):
    """No mask, both directions in one bidirectional kernel call; without ``ends`` the last outputs are
    None and the final states empty (nobody reads them: each select is an autograd node)."""
    f, b = directions
    H = f.cell.weights[1].shape[1]
    states = _joint_states(x, f, b)
    out, final = run_bidirectional(f.cell.fused, list(f.cell.weights) + list(b.cell.weights), x, states, training)
    # out (B, T, 2H) in time order; the last outputs are the final h of each direction
    path = "fused_bidirectional"
    if not ends:
        return [Result(out[..., :H], None, [], path, out), Result(out[..., H:], None, [], path, out)]
    fwd = Result(out[..., :H], final[0][0], [s[0] for s in final], path, out)
    bwd = Result(out[..., H:], final[0][1], [s[1] for s in final], path, out)
    return [fwd, bwd]


__all__ = ["CellSpec", "Direction", "Result", "run", "runs_native"]
