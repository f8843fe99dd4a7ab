"""Agreement with Keras 3 (torch backend, the reference): same weights, same outputs and states.

Grid: cell type x return_sequences x return_state x go_backwards x mask (none, right-padded,
arbitrary) x zero_output_for_mask; Bidirectional merge modes; stateful over consecutive calls;
initial_state. Dropout-free (Keras's random streams are its own). Sizes are tiny: Keras on CPU is slow.
"""
import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

from seqlayers import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: E402

B, T, F, H = 3, 5, 4, 3
TOL = dict(atol=1e-5, rtol=1e-5)

FAMILIES = {
    "lstm": (LSTM, keras.layers.LSTM, {}),
    "gru": (GRU, keras.layers.GRU, {}),
    "gru_reset_before": (GRU, keras.layers.GRU, {"reset_after": False}),
    "simple_rnn": (SimpleRNN, keras.layers.SimpleRNN, {}),
}
MASKS = {
    "none": None,
    "right": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool),
    "arbitrary": np.array([[1, 0, 1, 0, 1], [0, 0, 1, 1, 0], [1, 1, 0, 1, 1]], bool),
}


def _data(seed=0):
    return np.random.RandomState(seed).randn(B, T, F).astype("float32")


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _assert_outputs_equal(keras_out, ours):
    keras_out, ours = _as_list(keras_out), _as_list(ours)
    assert len(keras_out) == len(ours)
    for k, o in zip(keras_out, ours):
        assert tuple(k.shape) == tuple(o.shape)
        np.testing.assert_allclose(_np(o), _np(k), **TOL)


def _pair(ours_layer, keras_layer, x, mask=None):
    """Call Keras, then build ours and copy Keras's weights into it."""
    keras_out = keras_layer(x, mask=mask)
    ours_layer(torch.from_numpy(x))
    ours_layer.set_weights(keras_layer.get_weights())
    return keras_out


def _mask_t(mask):
    return None if mask is None else torch.from_numpy(mask)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences,return_state,zero_output", [
    (False, False, False), (True, False, False), (False, True, False), (True, True, False), (True, True, True),
    (False, True, True),
])
def test_layer_matches_keras(family, mask, go_backwards, return_sequences, return_state, zero_output):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
              zero_output_for_mask=zero_output, **extra)
    x, m = _data(), MASKS[mask]
    ours = ours_cls(H, **kw)
    keras_out = _pair(ours, keras_cls(H, **kw), x, m)
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), mask=_mask_t(m)))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_parameter_layout_and_count_match_keras(family):
    ours_cls, keras_cls, extra = FAMILIES[family]
    k = keras_cls(H, **extra)
    k.build((None, T, F))
    ours = ours_cls(H, input_dim=F, **extra)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    assert ours.count_params() == k.count_params()


@pytest.mark.parametrize("family", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("mask", list(MASKS))
def test_bidirectional_merge_modes_match_keras(family, merge_mode, mask):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(return_sequences=True, return_state=True, **extra)
    x, m = _data(1), MASKS[mask]
    ours = Bidirectional(ours_cls(H, **kw), merge_mode=merge_mode)
    keras_out = _pair(ours, keras.layers.Bidirectional(keras_cls(H, **kw), merge_mode=merge_mode), x, m)
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), mask=_mask_t(m)))


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("return_sequences,return_state", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("mask", list(MASKS))
def test_bidirectional_return_flags_match_keras(family, return_sequences, return_state, mask):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(return_sequences=return_sequences, return_state=return_state, **extra)
    x, m = _data(2), MASKS[mask]
    ours = Bidirectional(ours_cls(H, **kw))
    keras_out = _pair(ours, keras.layers.Bidirectional(keras_cls(H, **kw)), x, m)
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), mask=_mask_t(m)))


@pytest.mark.parametrize("family", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("mask", ["none", "right", "arbitrary"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_stateful_two_calls_match_keras(family, mask, go_backwards):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(stateful=True, return_sequences=True, return_state=True, go_backwards=go_backwards, **extra)
    x1, x2, m = _data(3), _data(4), MASKS[mask]
    k = keras_cls(H, **kw)
    ours = ours_cls(H, **kw)
    first = _pair(ours, k, x1, m)
    ours.reset_states()
    _assert_outputs_equal(first, ours(torch.from_numpy(x1), mask=_mask_t(m)))
    _assert_outputs_equal(k(x2, mask=m), ours(torch.from_numpy(x2), mask=_mask_t(m)))  # carries the states
    k.reset_states()
    ours.reset_states()
    _assert_outputs_equal(k(x2), ours(torch.from_numpy(x2)))


@pytest.mark.parametrize("family", ["lstm", "gru", "simple_rnn"])
def test_stateful_bidirectional_matches_keras(family):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(stateful=True, return_sequences=True, **extra)
    x1, x2 = _data(5), _data(6)
    k = keras.layers.Bidirectional(keras_cls(H, **kw))
    ours = Bidirectional(ours_cls(H, **kw))
    first = _pair(ours, k, x1)
    ours.reset_states()
    _assert_outputs_equal(first, ours(torch.from_numpy(x1)))
    _assert_outputs_equal(k(x2), ours(torch.from_numpy(x2)))


@pytest.mark.parametrize("family", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("mask", ["none", "right", "arbitrary"])
def test_initial_state_matches_keras(family, mask):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(return_sequences=True, return_state=True, **extra)
    x, m = _data(7), MASKS[mask]
    n_states = 2 if family == "lstm" else 1
    init = [np.random.RandomState(8 + i).randn(B, H).astype("float32") for i in range(n_states)]
    k = keras_cls(H, **kw)
    ours = ours_cls(H, **kw)
    keras_out = k(x, initial_state=init, mask=m)
    ours(torch.from_numpy(x))
    ours.set_weights(k.get_weights())
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in init],
                                          mask=_mask_t(m)))


def test_bidirectional_initial_state_matches_keras():
    kw = dict(return_sequences=True, return_state=True)
    x = _data(9)
    init = [np.random.RandomState(10 + i).randn(B, H).astype("float32") for i in range(4)]
    k = keras.layers.Bidirectional(keras.layers.LSTM(H, **kw))
    ours = Bidirectional(LSTM(H, **kw))
    keras_out = k(x, initial_state=init)
    ours(torch.from_numpy(x))
    ours.set_weights(k.get_weights())
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), initial_state=[torch.from_numpy(s) for s in init]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_other_activations_match_keras(activation):
    x, m = _data(11), MASKS["right"]
    for ours_cls, keras_cls in ((LSTM, keras.layers.LSTM), (GRU, keras.layers.GRU),
                                (SimpleRNN, keras.layers.SimpleRNN)):
        ours = ours_cls(H, activation=activation, return_sequences=True)
        keras_out = _pair(ours, keras_cls(H, activation=activation, return_sequences=True), x, m)
        _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), mask=_mask_t(m)))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_without_bias_matches_keras(family):
    ours_cls, keras_cls, extra = FAMILIES[family]
    kw = dict(use_bias=False, return_sequences=True, return_state=True, **extra)
    x, m = _data(12), MASKS["right"]
    ours = ours_cls(H, **kw)
    keras_out = _pair(ours, keras_cls(H, **kw), x, m)
    _assert_outputs_equal(keras_out, ours(torch.from_numpy(x), mask=_mask_t(m)))
    assert len(ours.get_weights()) == 2
