"""TimeDistributed's output values and mask against Keras 3's (torch backend), on the same inputs and mask.

Keras 3's TimeDistributed returns the mask it was given and never asks the wrapped layer; seqlayers returns
the wrapped layer's own mask of each step (unfolded), else the given one. The two agree whenever the wrapped
layer keeps the mask it is given at the valid steps: a pass-through (Dense, Dropout) or a compute_mask that
narrows it only where it was already padded — the cases below. Where a wrapped layer makes a mask of its own
without one coming in (Embedding(mask_zero=True) over the words of each turn, Masking), Keras 3 returns none;
tests/layers/test_core.py and test_wrappers_base.py pin ours.
"""
import numpy as np
import pytest

from seqlayers import Dense, Dropout, Lambda, TimeDistributed
from tests.layers.keras_reference import assert_same_as_keras, keras
from tests.layers.test_wrappers_base import NonZeroSteps


class KerasNonZeroSteps(keras.layers.Layer):
    """Keras's twin of NonZeroSteps: passes its input through, narrows the given mask to non-zero rows."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        own = keras.ops.any(keras.ops.not_equal(inputs, 0), axis=-1)
        return own if mask is None else keras.ops.logical_and(own, mask)


def _keras_non_zero(t, m):
    own = keras.ops.any(keras.ops.not_equal(t, 0), axis=-1)
    return own if m is None else keras.ops.logical_and(m, own)


def _non_zero(t, m):
    return (t != 0).any(-1) if m is None else m & (t != 0).any(-1)


# B=3, T=4, F=2: every valid step has a non-zero value; padded steps hold values too (a layer before may leave
# them), so a TimeDistributed that dropped the given mask would mark them valid
X = np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 4, 2)).astype("float32")
MASK = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: Dense(3, activation="tanh"), lambda: keras.layers.Dense(3, activation="tanh")),
    (lambda: Dropout(0.5), lambda: keras.layers.Dropout(0.5)),
    (NonZeroSteps, KerasNonZeroSteps),
    (lambda: Lambda(lambda t: t * 2.0, mask=_non_zero),
     lambda: keras.layers.Lambda(lambda t: t * 2.0, mask=_keras_non_zero)),
], ids=["dense", "dropout", "narrowing_compute_mask", "lambda_with_a_mask_function"])
def test_time_distributed_output_and_mask_match_keras_for_a_given_mask(ours, theirs):
    _, (mask,) = assert_same_as_keras(TimeDistributed(ours()), keras.layers.TimeDistributed(theirs()), X, MASK)
    np.testing.assert_array_equal(mask, MASK)  # the padded steps stay padded
