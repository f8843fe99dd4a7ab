"""Keras's introspection on models and layers (weights lists, count_params, get/set_weights, name, dtype, built,
get_config/from_config, to_json/model_from_json, clone_model), one program against a module K, run with keras
and with seqlayers."""
import json

import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")

X = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")


def _model(K):
    return K.Sequential([K.Input((6, 3)), K.layers.LSTM(4, return_sequences=True, name="rnn"),
                         K.layers.BatchNormalization(name="bn"), K.layers.GlobalAveragePooling1D(name="pool"),
                         K.layers.Dense(2, name="out")], name="probe")


def _policy_name(v):
    """Keras writes a dtype as its DTypePolicy's config, seqlayers by name (Keras reads both)."""
    return v["config"]["name"] if isinstance(v, dict) else v


def introspect(K, init=None):
    model = _model(K)
    if init is not None:
        model.set_weights(init)
    rnn = model.get_layer("rnn")
    out = dict(
        weights=[tuple(w.shape) for w in model.weights],
        trainable=[tuple(w.shape) for w in model.trainable_weights],
        non_trainable=[tuple(w.shape) for w in model.non_trainable_weights],
        counts=[model.count_params(), rnn.count_params(), model.get_layer("bn").count_params()],
        names=[layer.name for layer in model.layers], model_name=model.name,
        dtype=rnn.dtype, built=[model.built, rnn.built], trainable_flag=rnn.trainable,
        rnn_config={k: _policy_name(rnn.get_config()[k]) for k in ("units", "return_sequences", "name", "trainable",
                                                                  "dtype")},
    )
    weights = model.get_weights()
    model.set_weights([w * 0.5 for w in weights])
    out["set_then_get"] = [float(np.abs(a * 0.5 - b).max()) for a, b in zip(weights, model.get_weights())]
    out["predict"] = model.predict(X, verbose=0)
    again = K.Sequential.from_config(model.get_config())
    out["from_config"] = [tuple(w.shape) for w in again.weights]
    out["from_config_names"] = [layer.name for layer in again.layers]
    from_json = K.models.model_from_json(model.to_json())
    out["json_is_text"] = isinstance(json.loads(model.to_json()), dict)
    out["from_json"] = [tuple(w.shape) for w in from_json.weights]
    clone = K.models.clone_model(model)
    out["clone"] = [tuple(w.shape) for w in clone.weights]
    out["clone_shares_weights"] = bool(np.allclose(clone.get_weights()[0], model.get_weights()[0]))
    clone.set_weights(model.get_weights())
    out["clone_predict"] = clone.predict(X, verbose=0)
    rnn.trainable = False
    out["frozen_config"] = rnn.get_config()["trainable"]
    out["frozen_rebuilt"] = K.layers.LSTM.from_config(rnn.get_config()).trainable
    return out, weights


def test_introspection_agrees_with_keras():
    ours, weights = introspect(seqlayers)
    ref, _ = introspect(keras, init=weights)
    for key in ours:
        if key in ("predict", "clone_predict"):
            np.testing.assert_allclose(ours[key], ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            assert ours[key] == ref[key], (key, ours[key], ref[key])
    assert ours["set_then_get"] == [0.0] * len(weights)
    assert ours["clone_shares_weights"] is False  # a clone has new weights, as in Keras
