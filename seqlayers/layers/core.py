"""Core layers: Dense, Activation, Dropout, Lambda."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import activations, constraints, initializers, regularizers
from ..errors import fmt_shape, known_axis, layer_label
from ..utils import flatten
from .base import InputSpec, Layer


def check_positive_int(layer_name: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{layer_name}: {arg} must be a positive integer, got {value!r}.")
    return value


class Dense(Layer):
    """A fully connected layer on the last axis: ``y = activation(x @ kernel + bias)``.

    On a 3-D input it acts on each time step with the same weights, so ``Dense`` on ``(B, T, F)``
    equals ``TimeDistributed(Dense)`` (Keras 2+ behaviour; seed 002's question).

    Args:
        units: H, the output size.
        activation: a name (``"relu"``, ``"softmax"``...) or a callable; None is linear.
        use_bias: add a bias vector.
        kernel_initializer, bias_initializer: Keras initializer names or callables.
        kernel_regularizer, bias_regularizer: penalties on the weights (``"l2"``, ``regularizers.L1(0.01)``),
            listed in ``layer.losses`` and added to the training loss.
        kernel_constraint, bias_constraint: projections applied after each optimizer step
            (``constraints.MaxNorm(2.0)``, ``"non_neg"``).
        activity_regularizer: a penalty on the output (see ``Layer``).

    Shape:
        input: ``(B, ..., F)`` (any rank >= 2)
        output: ``(B, ..., H)``
        weights (Keras layout): kernel ``(F, H)``, bias ``(H,)``.
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("Dense", "units", units)
        self.activation = activations.get(activation, "Dense")
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer, "Dense")
        initializers.get(bias_initializer, "Dense")
        for reg in (kernel_regularizer, bias_regularizer):
            regularizers.get(reg, "Dense")  # a bad name fails here, not at the first call
        for con in (kernel_constraint, bias_constraint):
            constraints.get(con, "Dense")
        self.input_spec = InputSpec(min_ndim=2, dtype="float", expected="input of shape (batch, ..., features)",
                                    hint="Dense needs at least a batch and a feature axis; reshape a 1-D "
                                         "vector to (batch, features), e.g. x[None, :] or x.reshape(-1, 1).")

    def build(self, input_shape):
        F_ = known_axis(self, input_shape, -1, "last axis (features)")
        cfg = self._config
        self.kernel = self.add_weight((F_, self.units), cfg["kernel_initializer"],
                                      regularizer=cfg["kernel_regularizer"],
                                      constraint=cfg["kernel_constraint"], name="kernel")
        self.bias = self.add_weight((self.units,), cfg["bias_initializer"], regularizer=cfg["bias_regularizer"],
                                    constraint=cfg["bias_constraint"], name="bias") if self.use_bias else None
        self.input_spec.axes = {-1: F_}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, inputs):
        if inputs.dim() == 2 and self.bias is not None:  # F.linear's own 2-D path, the kernel not transposed twice
            y = torch.addmm(self.bias, inputs, self.kernel)  # (B, F) @ (F, H) + (H,) -> (B, H)
        else:
            y = F.linear(inputs, self.kernel.t(), self.bias)  # (B, ..., F) @ (F, H) -> (B, ..., H)
        return y if self.activation is None else self.activation(y)  # None set after construction: linear


class Activation(Layer):
    """Apply an activation function element-wise (``softmax`` on the last axis).

    Args:
        activation: a name (``"relu"``, ``"softmax"``...) or a callable.

    Shape:
        input and output: ``(B, ...)``, unchanged.
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, "Activation")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        return self.activation(inputs)


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs during training, scaling the rest by ``1/(1-rate)``.

    ``noise_shape`` (e.g. ``(None, 1, F)``) shares one dropout mask along the axes of size 1,
    such as every time step of a sequence; None entries take the input's size.

    Args:
        rate: the fraction to drop, in ``[0, 1)``.
        noise_shape: optional; the shape of the dropout mask, broadcast over the axes of size 1.
        seed: accepted for Keras compatibility and not used; call ``torch.manual_seed`` for repeatable masks.

    Shape:
        input and output: ``(B, ...)``, unchanged.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.noise_shape = _noise_shape(noise_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, training=True)
        shape = [s if n is None else n for n, s in zip(self.noise_shape, inputs.shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1.0 - self.rate)
        return inputs * keep / (1.0 - self.rate)


def _noise_shape(value) -> tuple | None:
    """``noise_shape`` as a tuple of positive ints and Nones (Keras's checks), or None."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"Dropout: noise_shape must be a tuple or list of integers (None for the input's size), "
                        f"got {type(value).__name__} {value!r}. E.g. noise_shape=(None, 1, features).")
    for d in value:
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))):
            raise TypeError(f"Dropout: every entry of noise_shape must be an integer or None, got {d!r} in "
                            f"{tuple(value)!r}.")
        if d is not None and d <= 0:
            raise ValueError(f"Dropout: every entry of noise_shape must be a positive integer or None, got {d!r} "
                             f"in {tuple(value)!r}. Use 1 to share the mask along an axis, None for its full size.")
    return tuple(None if d is None else int(d) for d in value)


def _lambda_result_error(layer, out, bad) -> str:
    name = getattr(layer.function, "__name__", "the function")
    head = f"{layer_label(layer)}: expected {name}(inputs) to return a torch tensor (or a list/tuple/dict of tensors), "
    if out is None:
        return head + "got None. Did the function forget its `return`?"
    if isinstance(bad, np.ndarray):
        return head + (f"got a numpy array of shape {fmt_shape(bad.shape)}. Use torch operations (torch.tanh rather "
                       f"than np.tanh), so the result stays on the device and gradients flow through it.")
    return head + f"got {type(bad).__name__} {bad!r:.40}. Wrap numbers with torch.as_tensor(..., device=inputs.device)."


class Lambda(Layer):
    """Wrap any callable as a layer, e.g. ``Lambda(lambda x: x[:, -N:, :])`` (keep the last N steps).

    Args:
        function: called as ``function(inputs, **arguments)``.
        output_shape: optional; a tuple (without the batch axis) or a callable on the input shape.
            When omitted it is found by running the function on zeros.
        mask: optional; a tensor, or a callable ``mask(inputs, input_mask)`` giving the output mask.
        arguments: optional keyword arguments for ``function``.

    Shape:
        whatever ``function`` returns; weights: none.

    Saving a model with a Lambda stores the function by its importable name (``module:qualname``);
    an anonymous ``lambda`` cannot be saved (see ``seqlayers.io``).
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}.")
        self.function = function
        self.output_shape_arg = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    def compute_output_shape(self, input_shape):
        if self.output_shape_arg is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape_arg):
            shape = self.output_shape_arg(input_shape)
            if not isinstance(shape, (tuple, list)):
                raise TypeError(f"{layer_label(self)}: output_shape({input_shape}) must return a shape tuple with "
                                f"the batch axis first, e.g. (B, T, F), got {type(shape).__name__} {shape!r:.30}.")
            return tuple(shape)
        first = input_shape[0] if input_shape and isinstance(input_shape[0], (list, tuple)) else input_shape
        return (first[0],) + tuple(self.output_shape_arg)

    def compute_output_dtype(self, input_dtype):
        return input_dtype

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def call(self, inputs):
        out = self.function(inputs, **self.arguments)
        bad = [v for v in flatten(out) if not isinstance(v, torch.Tensor)] if out is not None else [None]
        if bad:
            raise TypeError(_lambda_result_error(self, out, bad[0]))
        return out

    def function_name(self) -> str | None:
        """``module:qualname`` when the function is importable by name, else None."""
        fn = self.function
        qual = getattr(fn, "__qualname__", "")
        mod = getattr(fn, "__module__", None)
        if not mod or "<lambda>" in qual or "<locals>" in qual:
            return None
        return f"{mod}:{qual}"


__all__ = ["Dense", "Activation", "Dropout", "Lambda"]
