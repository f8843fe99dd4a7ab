"""regularizers.py and the layer penalties: equal to Keras 3's (torch backend) with the same weights,
listed in layer.losses / model.losses, added to the training loss by fit as Keras adds them."""
import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

import seqlayers as sl  # noqa: E402
from seqlayers import regularizers  # noqa: E402

CASES = [
    (regularizers.L1(0.3), keras.regularizers.L1(0.3)),
    (regularizers.L2(0.2), keras.regularizers.L2(0.2)),
    (regularizers.L1L2(0.1, 0.4), keras.regularizers.L1L2(0.1, 0.4)),
    (regularizers.OrthogonalRegularizer(0.5, "rows"), keras.regularizers.OrthogonalRegularizer(0.5, "rows")),
    (regularizers.OrthogonalRegularizer(0.5, "columns"),
     keras.regularizers.OrthogonalRegularizer(0.5, "columns")),
]


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


@pytest.mark.parametrize("mine,theirs", CASES, ids=[repr(m) for m, _ in CASES])
def test_penalty_equals_keras(mine, theirs):
    w = torch.from_numpy(np.random.RandomState(0).randn(5, 4).astype("float32"))
    np.testing.assert_allclose(_np(mine(w)), _np(theirs(w)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["l1", "l2", "L1", "L2", "L1L2", "l1l2", "orthogonal_regularizer"])
def test_keras_names_give_keras_defaults(name):
    w = torch.from_numpy(np.random.RandomState(1).randn(4, 3).astype("float32"))
    np.testing.assert_allclose(_np(regularizers.get(name)(w)), _np(keras.regularizers.get(name)(w)), rtol=1e-5)


def test_keras_config_dicts_and_unknown_names():
    keras_dict = keras.regularizers.serialize(keras.regularizers.L2(0.3))
    assert regularizers.get(keras_dict) == regularizers.L2(0.3)
    with pytest.raises(ValueError, match=r"Dense: unknown regularizer 'l3'\. Did you mean 'l2' or 'l1'"):
        sl.Dense(2, kernel_regularizer="l3")  # refused at construction, not at the first call
    with pytest.raises(ValueError, match=r"L2: l2 must be a non-negative number, got -1"):
        regularizers.L2(-1)


def _copy_weights(mine, theirs, x):
    theirs(x)
    mine(torch.as_tensor(x))
    mine.set_weights(theirs.get_weights())


LAYERS = [
    ("dense", lambda m: m.Dense(3, kernel_regularizer=m.regularizers.L2(0.5), bias_regularizer="l1",
                                activity_regularizer=m.regularizers.L1(0.1), bias_initializer="ones"),
     (4, 5)),
    ("lstm", lambda m: m.LSTM(3, kernel_regularizer=m.regularizers.L1(0.2),
                              recurrent_regularizer=m.regularizers.OrthogonalRegularizer(0.3),
                              bias_regularizer=m.regularizers.L2(0.4), activity_regularizer="l2"), (2, 4, 5)),
    ("gru", lambda m: m.GRU(3, kernel_regularizer=m.regularizers.OrthogonalRegularizer(0.3, "columns"),
                            bias_regularizer=m.regularizers.L2(0.4), bias_initializer="ones"), (2, 4, 5)),
    ("simple_rnn", lambda m: m.SimpleRNN(3, recurrent_regularizer="l2"), (2, 4, 5)),
]


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_losses_equal_keras_with_the_same_weights(name, make, shape):
    x = np.random.RandomState(2).randn(*shape).astype("float32")
    theirs = make(_KerasNS)
    mine = make(sl)
    _copy_weights(mine, theirs, x)
    theirs(x)
    mine(torch.as_tensor(x))
    got = sorted(float(v) for v in mine.losses)
    want = sorted(float(_np(v)) for v in theirs.losses)
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _KerasNS:
    Dense, LSTM, GRU, SimpleRNN = keras.layers.Dense, keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN
    regularizers = keras.regularizers


def test_embedding_regularizer_and_model_losses():
    emb = sl.Embedding(6, 2, embeddings_regularizer=regularizers.L2(0.5))
    model = sl.Sequential([emb, sl.LSTM(2, kernel_regularizer="l1")])
    model(torch.tensor([[1, 2, 3]]))
    w = emb.get_weights()[0]
    assert len(model.losses) == 2
    np.testing.assert_allclose(float(emb.losses[0]), 0.5 * (w ** 2).sum(), rtol=1e-6)


def test_activity_losses_are_those_of_the_last_top_level_call():
    layer = sl.Dense(2, activity_regularizer="l2")
    layer(torch.ones(4, 3))
    first = float(layer.losses[0])
    layer(torch.zeros(4, 3))
    assert len(layer.losses) == 1 and float(layer.losses[0]) != first
    frozen = sl.Dense(2, kernel_regularizer="l2", trainable=False)
    frozen(torch.ones(1, 3))
    assert frozen.losses == []  # Keras: only trainable weights are regularized


def test_fit_adds_the_penalties_to_the_loss_as_keras_does():
    rng = np.random.RandomState(3)
    x, y = rng.randn(8, 4).astype("float32"), rng.randn(8, 2).astype("float32")
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.3),
                                                                 activity_regularizer=keras.regularizers.L1(0.2))])
    m = sl.Sequential([sl.Dense(2, input_shape=(4,), kernel_regularizer=regularizers.L2(0.3),
                                activity_regularizer=regularizers.L1(0.2))])
    m.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    m.compile(optimizer=sl.optimizers.SGD(0.1), loss="mse")
    hk = k.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    hm = m.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(hm.history["loss"], hk.history["loss"], rtol=1e-5)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_regularizer_objects_survive_save_and_load(tmp_path):
    m = sl.Sequential([sl.LSTM(2, input_shape=(3, 2), kernel_regularizer=regularizers.L1L2(0.1, 0.2),
                               recurrent_regularizer="l2"), sl.Dense(1, bias_regularizer=regularizers.L1(0.5))])
    m.save(tmp_path / "m.seqlayers")
    again = sl.load_model(tmp_path / "m.seqlayers")
    assert again.layers[0].kernel_regularizer == regularizers.L1L2(0.1, 0.2)
    assert again.layers[1].get_config()["bias_regularizer"] == regularizers.L1(0.5)
    x = torch.randn(2, 3, 2)
    m(x), again(x)
    np.testing.assert_allclose([float(v) for v in again.losses], [float(v) for v in m.losses], rtol=1e-6)
