"""constraints.py: equal to Keras 3's (torch backend), applied by fit after each optimizer step."""
import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

import seqlayers as sl  # noqa: E402
from seqlayers import constraints  # noqa: E402

CASES = [
    (constraints.MaxNorm(1.5), keras.constraints.MaxNorm(1.5)),
    (constraints.MaxNorm(0.7, axis=1), keras.constraints.MaxNorm(0.7, axis=1)),
    (constraints.NonNeg(), keras.constraints.NonNeg()),
    (constraints.UnitNorm(), keras.constraints.UnitNorm()),
    (constraints.UnitNorm(axis=[0, 1]), keras.constraints.UnitNorm(axis=[0, 1])),
    (constraints.MinMaxNorm(0.5, 1.0, rate=0.7), keras.constraints.MinMaxNorm(0.5, 1.0, rate=0.7)),
]


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


@pytest.mark.parametrize("mine,theirs", CASES, ids=[repr(m) for m, _ in CASES])
def test_projection_equals_keras(mine, theirs):
    w = torch.from_numpy(np.random.RandomState(0).randn(5, 4).astype("float32") * 2)
    np.testing.assert_allclose(_np(mine(w)), _np(theirs(w)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["max_norm", "non_neg", "unit_norm", "min_max_norm", "MaxNorm"])
def test_keras_names(name):
    w = torch.from_numpy(np.random.RandomState(1).randn(4, 3).astype("float32") * 3)
    np.testing.assert_allclose(_np(constraints.get(name)(w)), _np(keras.constraints.get(name)(w)), rtol=1e-5)


def test_unknown_name_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"Dense: unknown constraint 'nonneg'\. Did you mean 'non_neg'"):
        sl.Dense(2, kernel_constraint="nonneg")


def _fit_both(make_mine, make_theirs, x, y, epochs=2):
    k, m = make_theirs(), make_mine()
    m.set_weights(k.get_weights())
    k.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    m.compile(optimizer=sl.optimizers.SGD(0.5), loss="mse")
    k.fit(x, y, batch_size=len(x), epochs=epochs, verbose=0, shuffle=False)
    m.fit(x, y, batch_size=len(x), epochs=epochs, verbose=0, shuffle=False)
    return m, k


def test_fit_applies_dense_constraints_after_each_step_as_keras():
    rng = np.random.RandomState(3)
    x, y = rng.randn(8, 4).astype("float32"), 5 * rng.randn(8, 3).astype("float32")
    m, k = _fit_both(
        lambda: sl.Sequential([sl.Dense(3, input_shape=(4,), kernel_constraint=constraints.MaxNorm(0.5),
                                        bias_constraint=constraints.NonNeg())]),
        lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(
            3, kernel_constraint=keras.constraints.MaxNorm(0.5), bias_constraint=keras.constraints.NonNeg())]),
        x, y)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(m.get_weights()[0], axis=0).max() <= 0.5 + 1e-6 and m.get_weights()[1].min() >= 0


@pytest.mark.parametrize("family", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_constraints_act_on_keras_layout(family):
    rng = np.random.RandomState(4)
    x, y = rng.randn(6, 5, 3).astype("float32"), 3 * rng.randn(6, 2).astype("float32")
    kw = dict(kernel_constraint="unit_norm", recurrent_constraint=constraints.MaxNorm(0.3), bias_constraint="non_neg")
    kkw = dict(kernel_constraint="unit_norm", recurrent_constraint=keras.constraints.MaxNorm(0.3),
               bias_constraint="non_neg")
    m, k = _fit_both(lambda: sl.Sequential([getattr(sl, family)(2, input_shape=(5, 3), **kw)]),
                     lambda: keras.Sequential([keras.Input((5, 3)), getattr(keras.layers, family)(2, **kkw)]), x, y)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_embedding_constraint_and_save_load(tmp_path):
    m = sl.Sequential([sl.Embedding(5, 3, input_shape=(4,), embeddings_constraint=constraints.MinMaxNorm(0.1, 0.2,
                                                                                                      axis=1))])
    m.save(tmp_path / "m.seqlayers")
    again = sl.load_model(tmp_path / "m.seqlayers")
    assert again.layers[0].embeddings.constraint == constraints.MinMaxNorm(0.1, 0.2, axis=1)
    constraints.apply_constraints(again)
    norms = np.linalg.norm(again.get_weights()[0], axis=1)
    assert norms.min() >= 0.1 - 1e-6 and norms.max() <= 0.2 + 1e-6
