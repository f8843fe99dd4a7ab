"""Keras's training-state attributes (model.optimizer.learning_rate, iterations, stop_training, metrics_names,
loss): one program written against a module argument, run with K = keras and K = seqlayers."""
import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")


def _data():
    r = np.random.default_rng(0)
    x = r.normal(size=(12, 3)).astype("float32")
    weights = [r.normal(size=s).astype("float32") * 0.5 for s in [(3, 2), (2,), (2, 1), (1,)]]
    return x, x.sum(-1, keepdims=True).astype("float32"), weights


def _model(K, weights, lr=0.1):
    model = K.Sequential([K.Input((3,)), K.layers.Dense(2, activation="tanh"), K.layers.Dense(1)])
    model.set_weights(weights)
    model.compile(K.optimizers.SGD(learning_rate=lr), "mse", metrics=["mae"])
    return model


def learning_rate_program(K):
    """The rate read after compile, lowered by a callback each epoch, then set by hand between fits."""
    x, y, weights = _data()
    model = _model(K, weights)
    seen = [float(model.optimizer.learning_rate)]

    def lower(epoch, logs):
        model.optimizer.learning_rate = 0.1 / (epoch + 1)
        seen.append(float(model.optimizer.learning_rate))

    cb = K.callbacks.LambdaCallback(on_epoch_begin=lower)
    h = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[cb])
    model.optimizer.learning_rate = 0.02
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return dict(weights=model.get_weights(), loss=h.history["loss"], seen=seen,
                lr=float(model.optimizer.learning_rate), iterations=int(model.optimizer.iterations),
                loss_spec=model.loss, stop=model.stop_training)


def test_learning_rate_changed_mid_training_and_between_fits_matches_keras():
    ours, theirs = learning_rate_program(seqlayers), learning_rate_program(keras)
    for a, b in zip(ours.pop("weights"), theirs.pop("weights")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.pop("loss"), theirs.pop("loss"), rtol=1e-5)
    np.testing.assert_allclose(ours.pop("seen"), theirs.pop("seen"), rtol=1e-6)
    assert ours.pop("lr") == pytest.approx(theirs.pop("lr"), rel=1e-6)
    assert ours == theirs == dict(iterations=12, loss_spec="mse", stop=False)


def stop_training_program(K):
    x, y, weights = _data()
    model = _model(K, weights)

    def stop(batch, logs):
        if batch == 1:
            model.stop_training = True

    h = model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0,
                  callbacks=[K.callbacks.LambdaCallback(on_train_batch_end=stop)])
    return len(h.epoch), int(model.optimizer.iterations), model.stop_training, model.get_weights()


def test_stop_training_from_a_callback_matches_keras():
    ours, theirs = stop_training_program(seqlayers), stop_training_program(keras)
    assert ours[:3] == theirs[:3] == (1, 2, True)
    for a, b in zip(ours[3], theirs[3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_metrics_names_are_the_names_evaluate_returns():
    x, y, weights = _data()
    ours, theirs = _model(seqlayers, weights), _model(keras, weights)
    assert ours.metrics_names == ["loss", "mae"]  # known from compile
    ours.fit(x, y, epochs=1, verbose=0)
    theirs.fit(x, y, epochs=1, verbose=0)
    keras_logs = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert ours.metrics_names == list(keras_logs) == [m.name for m in ours.metrics]
    values = dict(zip(ours.metrics_names, ours.evaluate(x, y, verbose=0)))
    assert values == pytest.approx(keras_logs, rel=1e-5)


def test_optimizer_description_reports_the_built_optimizer():
    opt = seqlayers.optimizers.Adam(learning_rate=0.01)
    assert opt.learning_rate == 0.01 and opt.iterations == 0
    x, y, _ = _data()
    model = seqlayers.Sequential([seqlayers.Input((3,)), seqlayers.layers.Dense(1)])
    model.compile(opt, "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert opt.iterations == 3 and model.optimizer.iterations == 3
    opt.learning_rate = 0.5
    assert model.optimizer.param_groups[0]["lr"] == 0.5
