"""Wrapper (the base of wrappers users write), the per-step mask TimeDistributed hands to the wrapped layer
and the output mask it returns."""
import numpy as np
import pytest
import torch

from seqlayers import Dense, Input, Lambda, Masking, Model, Sequential, TimeDistributed, Wrapper
from seqlayers.layers.base import Layer, get_mask
from seqlayers.models import Functional, model_from_json


class ZeroMasked(Wrapper):
    """Runs the wrapped layer and zeroes the rows the mask marks padded."""

    def call(self, inputs, mask=None, training=None):
        out = self.layer(inputs)
        return out if mask is None else out * mask.to(out.dtype).unsqueeze(-1)


def test_the_base_runs_the_wrapped_layer_and_holds_its_weights():
    inner = Dense(3)
    w = Wrapper(inner)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(w(x), inner(x))
    assert [id(p) for p in w.weights] == [id(p) for p in inner.weights] and w.count_params() == 4 * 3 + 3


def test_time_distributed_gives_a_per_step_wrapper_the_folded_mask():
    x = torch.arange(24, dtype=torch.float32).reshape(3, 2, 4)
    mask = torch.tensor([[False, True], [True, False], [True, True]])
    inner = ZeroMasked(Dense(1, use_bias=False, kernel_initializer="ones"))
    out = TimeDistributed(inner)(x, mask=mask)
    expected = x.sum(-1, keepdim=True) * mask.unsqueeze(-1)  # brute force: the row sum where valid, else 0
    torch.testing.assert_close(out, expected)


def test_a_wrapped_model_round_trips_through_its_config():
    model = Sequential([Input((4, 3)), TimeDistributed(Wrapper(Dense(2)))])
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    assert isinstance(again.layers[-1].layer, Wrapper) and isinstance(again.layers[-1].layer.layer, Dense)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_wrapper_refuses_a_non_layer():
    with pytest.raises(TypeError, match=r"Wrapper: expected a layer .* got int.*Wrapper\(Dense\(3\)\)"):
        Wrapper(3)


def test_functional_is_the_functional_model():
    assert Functional is Model


def test_time_distributed_dense_on_time_major_storage_folds_time_first_without_a_copy():
    """A fused LSTM's (B, T, H) output is a view of (T, B, H) storage: TimeDistributed(Dense) folds it as
    (T*B) rows in place; values, gradients and the output mask equal the batch-major fold of a copy."""
    from seqlayers.layers.base import get_mask, set_mask

    torch.manual_seed(0)
    td = TimeDistributed(Dense(3, activation="softmax"))
    storage = torch.randn(5, 4, 6)  # (T, B, H)
    xs = [storage.transpose(0, 1).requires_grad_(True),  # (B, T, H) view of time-major storage
          storage.transpose(0, 1).contiguous().requires_grad_(True)]  # the same values, batch-major
    assert not xs[0].is_contiguous() and xs[1].is_contiguous()
    mask = torch.arange(5)[None, :] < torch.tensor([5, 2, 0, 3])[:, None]  # (B, T)
    outs = []
    for xi in xs:
        set_mask(xi, mask)
        y = td(xi)
        torch.manual_seed(1)
        (y * torch.randn(y.shape)).sum().backward()
        outs.append((y.detach(), xi.grad, get_mask(y), [p.grad.clone() for p in td.parameters()]))
        td.zero_grad()
    (y_tm, g_tm, m_tm, p_tm), (y_bm, g_bm, m_bm, p_bm) = outs
    assert y_tm.shape == (4, 5, 3) and y_tm.transpose(0, 1).is_contiguous()  # (B, T, 3) view of (T, B, 3)
    assert g_tm.transpose(0, 1).is_contiguous()  # the gradient lands in the storage's own layout
    torch.testing.assert_close(y_tm, y_bm, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g_tm, g_bm, rtol=1e-6, atol=1e-7)
    for a, b in zip(p_tm, p_bm):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert torch.equal(m_tm, mask) and torch.equal(m_bm, mask)


class NonZeroSteps(Layer):
    """Passes its input through; its mask narrows the mask it is given to the rows that are not all zero."""

    supports_masking = True

    def call(self, inputs, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        own = (inputs != 0).any(dim=-1)
        return own if mask is None else own & mask


def _non_zero_lambda():
    return Lambda(lambda t: t, mask=lambda t, m: (t != 0).any(-1) if m is None else m & (t != 0).any(-1))


@pytest.mark.parametrize("make, x, mask", [
    # per-step vectors (B=2, T=3, F=2): the padded steps hold values (as a layer before may leave them)
    (NonZeroSteps, [[[1., 2.], [3., 0.], [5., 5.]], [[0., 0.], [2., 2.], [7., 1.]]], [[1, 1, 0], [1, 0, 0]]),
    (_non_zero_lambda, [[[1., 2.], [3., 0.], [5., 5.]], [[0., 0.], [2., 2.], [7., 1.]]], [[1, 1, 0], [1, 0, 0]]),
    (NonZeroSteps, [[[1., 2.], [0., 0.], [5., 5.]]], None),
    # words inside turns (B=2, turns=2, words=3, F=1), the outer mask over (turns, words)
    (lambda: Masking(0.0), [[[[1.], [2.], [0.]], [[0.], [0.], [0.]]], [[[3.], [0.], [0.]], [[4.], [5.], [6.]]]],
     [[[1, 1, 0], [0, 0, 0]], [[1, 0, 0], [1, 1, 1]]]),
    (NonZeroSteps, [[[[1.], [2.], [0.]], [[7.], [0.], [0.]]], [[[3.], [0.], [9.]], [[4.], [5.], [6.]]]],
     [[[1, 1, 0], [0, 0, 0]], [[1, 0, 0], [1, 1, 1]]]),
])
def test_time_distributed_output_mask_is_the_wrapped_layers_mask_of_each_step_alone(make, x, mask):
    """Brute force: the wrapped layer's compute_mask run on each step (x[:, t], mask[:, t]) by itself and stacked
    over time; folding time into the batch must hand it the same inputs and the same mask."""
    x = torch.tensor(x)
    mask = None if mask is None else torch.tensor(mask, dtype=torch.bool)
    layer = make()
    steps = [layer.compute_mask(x[:, t], None if mask is None else mask[:, t]) for t in range(x.shape[1])]
    expected = torch.stack(steps, dim=1)  # (B, T, ...)
    td = TimeDistributed(layer)
    torch.testing.assert_close(td.compute_mask(x, mask), expected)
    torch.testing.assert_close(get_mask(td(x, mask=mask)), expected)
