"""FoldIntoBatch and UnfoldFromBatch: move an axis into the batch axis and back.

    x = FoldIntoBatch()(x)        # (B, C, T, F) -> (B*C, T, F): each channel is its own sample
    ...                           # any layer that reads (batch, time, features), e.g. GRU
    y = UnfoldFromBatch(C)(y)     # (B*C, H) -> (B, C, H)

``TimeDistributed`` folds time into the batch around one wrapped layer; these two layers make the
same fold explicit in a functional graph, so that several layers (and ``initial_state``) can work
on the folded tensor: channel independence in a forecaster, one sample per (channel, segment) in a
parallel decoder. Row ``b * A + a`` of the folded tensor is ``x[b, a]`` (torch's ``reshape`` order).
"""
from __future__ import annotations

from ..errors import layer_label
from .base import InputSpec, Layer
from .core import check_positive_int


class FoldIntoBatch(Layer):
    """Merge axis 1 into the batch axis: ``(B, A, ...) -> (B * A, ...)`` (a view, no copy).

    Args:
        (none besides the base layer's ``name``, ``dtype``...)

    Shape:
        input: ``(B, A, d1, ...)``, at least 2 axes.
        output: ``(B * A, d1, ...)``; row ``b * A + a`` holds ``input[b, a]``. The symbolic batch
        size is unknown (``None``) unless both ``B`` and ``A`` are known. No mask.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=2, expected="input of shape (batch, axis to fold, ...)",
                                    hint="FoldIntoBatch merges axis 1 into the batch axis; a 1-D input has "
                                         "nothing to fold.")

    def compute_output_shape(self, input_shape):
        B, A = input_shape[0], input_shape[1]
        return (None if B is None or A is None else B * A,) + tuple(input_shape[2:])

    def batch_label(self, label: str, input_shape) -> str:
        """What the output's batch axis holds, for ``explain()``: ``"batch" -> "batch*A"``."""
        return f"{label}*{'?' if input_shape[1] is None else input_shape[1]}"

    def batch_note(self, input_shape) -> str:
        """``explain()``'s line about this layer."""
        return (f"folds axis 1 ({'any' if input_shape[1] is None else input_shape[1]} entries) into the batch: "
                f"each entry is a sample of its own for the layers that follow")

    def call(self, inputs):
        B, A = inputs.shape[:2]
        return inputs.reshape(B * A, *inputs.shape[2:])  # (B, A, ...) -> (B*A, ...)


class UnfoldFromBatch(Layer):
    """Split the batch axis into ``(batch, size)``: ``(B * size, ...) -> (B, size, ...)``, the inverse
    of :class:`FoldIntoBatch` on an axis of ``size`` entries.

    Args:
        size: A, the length of the axis that was folded into the batch.

    Shape:
        input: ``(B * size, d1, ...)``; the batch size must be a multiple of ``size``.
        output: ``(B, size, d1, ...)``. No mask.
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int("UnfoldFromBatch", "size", size)
        self.input_spec = InputSpec(min_ndim=1, expected="input of shape (batch * size, ...)")

    def compute_output_shape(self, input_shape):
        N = input_shape[0]
        if N is not None and N % self.size:
            raise self._error(N)
        return (None if N is None else N // self.size, self.size) + tuple(input_shape[1:])

    def _error(self, n) -> ValueError:
        return ValueError(f"{layer_label(self)}: expected a batch size that is a multiple of size={self.size}, "
                          f"got {n}. Unfold with the size of the axis that FoldIntoBatch merged.")

    def batch_label(self, label: str, input_shape) -> str:
        """What the output's batch axis holds, for ``explain()``: ``"batch*A" -> "batch"``."""
        tail = f"*{self.size}"
        return label[:-len(tail)] if label.endswith(tail) else f"{label}/{self.size}"

    def batch_note(self, input_shape) -> str:
        """``explain()``'s line about this layer."""
        return f"splits the batch: every {self.size} consecutive samples become axis 1 of one sample"

    def call(self, inputs):
        N = inputs.shape[0]
        if N % self.size:
            raise self._error(N)
        return inputs.reshape(N // self.size, self.size, *inputs.shape[1:])  # (B*A, ...) -> (B, A, ...)


__all__ = ["FoldIntoBatch", "UnfoldFromBatch"]
