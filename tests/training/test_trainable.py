"""Freezing during training, as Keras 3 does it (measured on Keras 3 with the torch backend): a layer frozen
after compile gets no update at once (no momentum, no weight decay); unfrozen again it trains; weights the
optimizer was built without need compile again; a model with nothing trainable warns and changes nothing.
Each program is written once against a module argument K and run with K = keras and K = seqlayers."""
import warnings

import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")


def _data():
    r = np.random.default_rng(0)
    x = r.normal(size=(16, 4)).astype("float32")
    y = np.stack([x.sum(-1), x[:, 0] - x[:, 1]], -1).astype("float32")
    weights = [r.normal(size=s).astype("float32") * 0.5 for s in [(4, 3), (3,), (3, 2), (2,)]]
    return x, y, weights


def _model(K, weights, optimizer):
    model = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="tanh"), K.layers.Dense(2)])
    model.set_weights(weights)
    model.compile(optimizer, "mse")
    return model


def freeze_mid_training(K, optimizer):
    """Train, freeze the first layer (no recompile), train, unfreeze, train."""
    x, y, weights = _data()
    model = _model(K, weights, optimizer(K))
    fit = dict(batch_size=4, epochs=1, shuffle=False, verbose=0)
    phases = []
    model.fit(x, y, **fit)
    phases.append(model.get_weights())
    model.layers[0].trainable = False
    model.fit(x, y, **fit)
    phases.append(model.get_weights())
    model.layers[0].trainable = True
    model.fit(x, y, **fit)
    phases.append(model.get_weights())
    return phases


OPTIMIZERS = {
    "sgd_momentum": lambda K: K.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "adamw_weight_decay": lambda K: K.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_freezing_after_compile_stops_updates_including_momentum_and_decay_as_keras(name):
    ours, ref = freeze_mid_training(seqlayers, OPTIMIZERS[name]), freeze_mid_training(keras, OPTIMIZERS[name])
    for phase, (a, b) in enumerate(zip(ours, ref)):
        for i, (w, v) in enumerate(zip(a, b)):
            np.testing.assert_allclose(w, v, rtol=1e-4, atol=1e-5, err_msg=f"phase {phase}, weight {i}")
    for w, v in zip(ours[0][:2], ours[1][:2]):  # frozen: not moved by momentum or weight decay either
        np.testing.assert_array_equal(w, v)
    assert not np.allclose(ours[1][0], ours[2][0])  # unfrozen: trains again
    assert not np.allclose(ours[0][2], ours[1][2])  # the other layer trained meanwhile


def unfreeze_needs_compile(K):
    """Frozen when training starts, unfrozen later: fit refuses until compile is called again."""
    x, y, weights = _data()
    model = _model(K, weights, K.optimizers.SGD(learning_rate=0.05))
    model.layers[0].trainable = False
    model.compile(K.optimizers.SGD(learning_rate=0.05), "mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.layers[0].trainable = True
    try:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        refused = None
    except ValueError as e:
        refused = str(e)
    model.compile(K.optimizers.SGD(learning_rate=0.05), "mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return refused, model.get_weights()


def test_weights_unfrozen_after_the_optimizer_was_built_need_compile_as_keras():
    (ours, w_ours), (ref, w_ref) = unfreeze_needs_compile(seqlayers), unfreeze_needs_compile(keras)
    assert ref is not None and "Unknown variable" in ref
    assert ours is not None and "became trainable after the optimizer was built" in ours, ours
    for w, v in zip(w_ours, w_ref):
        np.testing.assert_allclose(w, v, rtol=1e-4, atol=1e-5)
    x, y, weights = _data()
    model = _model(seqlayers, weights, "sgd")
    model.layers[0].trainable = False
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = True
    with pytest.raises(ValueError, match=r"fit: 2 weight\(s\) became trainable after the optimizer was built "
                                         r"without them.*call model.compile\(\.\.\.\) again"):
        model.fit(x, y, epochs=1, verbose=0)


def nothing_trainable(K):
    """A frozen model (one sublayer set trainable again inside it): fit warns and changes no weight."""
    x, y, weights = _data()
    model = _model(K, weights, "sgd")
    model.trainable = False
    model.layers[0].trainable = True
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    said = [str(w.message) for w in seen if "trainable weights" in str(w.message)]
    return said, model.get_weights(), weights


def test_a_frozen_model_warns_and_does_not_train_as_keras():
    for K in (keras, seqlayers):
        said, after, before = nothing_trainable(K)
        assert said, K.__name__
        for w, v in zip(after, before):
            np.testing.assert_array_equal(w, v)
    with pytest.warns(UserWarning, match=r"fit: the model does not have any trainable weights \(every layer is "
                                         r"frozen\).*Set layer.trainable = True"):
        x, y, weights = _data()
        model = _model(seqlayers, weights, "sgd")
        model.trainable = False
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)


def frozen_batchnorm_fit(K):
    """model.trainable = False on a model with BatchNormalization: fit leaves its statistics alone."""
    x, y, _ = _data()
    model = K.Sequential([K.Input((4,)), K.layers.Dense(3), K.layers.BatchNormalization(), K.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.layers[1].trainable = False
    before = [np.array(w) for w in model.layers[1].get_weights()]
    model.fit(x * 3 + 1, y, batch_size=4, epochs=1, verbose=0)
    return before, [np.array(w) for w in model.layers[1].get_weights()]


def test_frozen_batch_normalization_keeps_its_statistics_during_fit_as_keras():
    for K in (keras, seqlayers):
        before, after = frozen_batchnorm_fit(K)
        for w, v in zip(before, after):
            np.testing.assert_array_equal(w, v)


def nested_unfreeze(K):
    """A frozen inner Sequential with its first layer set trainable again, inside a trainable model."""
    x, y, weights = _data()
    inner = K.Sequential([K.Input((4,)), K.layers.Dense(3), K.layers.Dense(3)])
    model = K.Sequential([K.Input((4,)), inner, K.layers.Dense(2)])
    model.set_weights(weights[:2] + [weights[0][:3, :3], weights[1]] + weights[2:])
    inner.trainable = False
    inner.layers[0].trainable = True
    counts = [len(model.trainable_weights), len(inner.trainable_weights)]
    model.compile(K.optimizers.SGD(learning_rate=0.05), "mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return counts, model.get_weights()


def test_a_sublayer_unfrozen_inside_a_frozen_sublayer_trains_as_keras():
    (counts, ours), (ref_counts, ref) = nested_unfreeze(seqlayers), nested_unfreeze(keras)
    assert counts == ref_counts == [4, 0]
    for i, (w, v) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(w, v, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
