"""``StackedRNNCells``: a list of cells run as one cell (Keras 3's semantics and state layout).

Each step feeds the input to the first cell, its output to the second, and so on; the output of
the step is the last cell's. ``state_size`` is the list of the cells' state sizes (nested: an LSTM
cell contributes ``[H, H]``), states are passed and returned per cell in that order, and the
weights are the cells' Keras-layout weights one cell after the other. ``RNN([cell, cell])`` wraps
the list in a ``StackedRNNCells``; ``RNN`` runs it through the exact step loop (``rnn_loop.py``),
with each built-in cell's dropout masks drawn once per batch. A built-in first cell's input half
``x @ W + b`` is one product over all steps (``project``), as a single cell's; each later cell's input
is the previous cell's output at that step, so it is projected inside the step.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import fmt_shape, layer_label
from .base import Layer
from .cells import _GatedCell


def _sizes(size) -> list:
    return [size] if isinstance(size, int) else list(size)


def _output_size(cell) -> int:
    """A cell's output size: its ``output_size``, else its first state's size (the next cell's input)."""
    return getattr(cell, "output_size", None) or _sizes(cell.state_size)[0]


class StackedRNNCells(Layer):
    """A stack of recurrent cells that behaves as a single cell (``RNN(StackedRNNCells([...]))``).

    Args:
        cells: a non-empty list of cells (built-in ``LSTMCell``/``GRUCell``/``SimpleRNNCell`` or any
            module with ``state_size`` and ``call(x_t, states)``); cell k's input is cell k-1's output.
        **kwargs: ``name``, ``dtype``, ``trainable`` (see ``Layer``).

    Shape:
        input: ``(B, F)``; states: one entry per cell (a list ``[h, c]`` for an LSTM cell, ``[h]``
        for the others), each ``(B, size)``; output: the last cell's ``(B, H_last)``.
        weights (Keras layout): the cells' weights in order (kernel, recurrent_kernel, bias per cell).
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells: cells must be a non-empty list of cells, got {cells!r}. "
                             f"Pass e.g. [LSTMCell(8), LSTMCell(8)].")
        for i, cell in enumerate(cells):
            size = getattr(cell, "state_size", None)
            if not callable(getattr(cell, "call", None)) or not (
                    isinstance(size, int) or (isinstance(size, (list, tuple)) and
                                              all(isinstance(s, int) for s in size))):
                raise TypeError(f"StackedRNNCells: cells[{i}] needs a call(x_t, states) method and a "
                                f"state_size (an int or a list of ints), got {type(cell).__name__} with "
                                f"state_size={size!r}. Use a cell such as LSTMCell(8), not a layer.")
        self.cells = nn.ModuleList(cells)

    # -------------------------------------------------------------- sizes
    @property
    def state_size(self) -> list:
        return [c.state_size for c in self.cells]

    @property
    def flat_state_sizes(self) -> list:
        return [s for c in self.cells for s in _sizes(c.state_size)]

    @property
    def output_size(self) -> int:
        return _output_size(self.cells[-1])

    def nest_states(self, flat) -> list:
        """Flat states (in order) -> one entry per cell, as Keras returns them: a list for a built-in
        cell (``[h, c]``, ``[h]``: their initial states are lists) or a cell with a list state_size,
        the tensor itself for another cell with an int state_size."""
        out, i = [], 0
        for c in self.cells:
            n = len(_sizes(c.state_size))
            one = isinstance(c.state_size, int) and not isinstance(c, _GatedCell)
            out.append(flat[i] if one else list(flat[i:i + n]))
            i += n
        return out

    def flatten_states(self, states) -> list:
        """Per-cell states (a list per cell, or a tensor for a one-state cell) -> a flat list; a list
        already flat (one tensor per state) is returned as is."""
        states = list(states)
        if len(states) == len(self.cells) and any(isinstance(s, (list, tuple)) for s in states):
            return [t for s in states for t in (s if isinstance(s, (list, tuple)) else [s])]
        return states

    # -------------------------------------------------------------- parameters
    def build(self, input_shape):
        B, F_ = input_shape[0], input_shape[-1]
        for c in self.cells:
            if isinstance(c, Layer):
                c.build_from_shape((B, F_))
            F_ = _output_size(c)

    @property
    def weights(self):
        return [w for c in self.cells for w in (c.weights if isinstance(c, Layer) else list(c.parameters()))]

    def get_weights(self):
        self._require_built("get_weights")
        return [w.detach().cpu().numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        weights = list(weights)
        counts = [len(c.weights) for c in self.cells]
        if len(weights) != sum(counts):
            raise ValueError(f"{layer_label(self)}: set_weights expected {sum(counts)} arrays (the cells' "
                             f"weights in order: {counts}), got {len(weights)}: "
                             f"{', '.join(fmt_shape(w.shape) for w in weights) or 'none'}.")
        i = 0
        for c, n in zip(self.cells, counts):
            c.set_weights(weights[i:i + n])
            i += n

    # -------------------------------------------------------------- the step
    def dropout_masks(self, x: torch.Tensor, training: bool):
        """``(input_mask, per_cell)``: the first cell's input mask (``project`` applies it) and each built-in
        cell's ``(input, recurrent)`` masks for this batch (None when no cell has one)."""
        masks, F_ = [], x.shape[-1]
        for c in self.cells:
            probe = x.new_empty(x.shape[0], 1, F_)
            masks.append(c.dropout_masks(probe, training) if isinstance(c, _GatedCell) else (None, None))
            F_ = _output_size(c)
        return masks[0][0], (masks if any(m != (None, None) for m in masks) else None)

    def project(self, x, in_mask=None):
        """The first cell's input half for every step at once (one matmul, ``(B, T, F) -> (B, T, G*H)``) when
        it is a built-in cell; another first cell, and every later cell, takes its input inside the step."""
        first = self.cells[0]
        return first.project(x, in_mask) if isinstance(first, _GatedCell) else x

    def recur(self, xw_t, flat_states, masks=None, training=False):
        """One step over flat states from ``project``'s step ``xw_t``: ``(output, new flat states)``."""
        new, i, x_t = [], 0, xw_t
        for k, c in enumerate(self.cells):
            n = len(_sizes(c.state_size))
            states = list(flat_states[i:i + n])
            i += n
            if isinstance(c, _GatedCell):
                in_mask, rec_mask = masks[k] if masks is not None else (None, None)
                xw = x_t if k == 0 else c.project(x_t[:, None, :], in_mask)[:, 0]  # the first: project's
                x_t, out = c.recur(xw, states, rec_mask)
            else:
                x_t, out = c.call(x_t, states)
                out = [out] if isinstance(out, torch.Tensor) else list(out)
            new.extend(out)
        return x_t, new

    def call(self, inputs, states, training=False):
        """One step: ``states`` one entry per cell; returns ``(output, new states per cell)``."""
        flat = self.flatten_states(states)
        x = inputs[:, None, :]  # (B, 1, F): one step
        in_mask, masks = self.dropout_masks(x, training)
        out, new = self.recur(self.project(x, in_mask)[:, 0], flat, masks)
        return out, self.nest_states(new)


__all__ = ["StackedRNNCells"]
