"""compile / fit / evaluate / predict / *_on_batch: parity with Keras, data forms, weights, logs."""
import io

import numpy as np
import pytest
import torch

from seqlayers import Dense, Embedding, Input, Model, Sequential, TimeDistributed, set_seed
from seqlayers.training.progress import ProgressLogger

keras = pytest.importorskip("keras")


def _regression(n=32, T=4, F=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, T, F)).astype("float32")
    return x, x.sum(-1, keepdims=True) * 0.5


def _td_model(T=4, F=3, H=5):
    return Sequential([TimeDistributed(Dense(H, activation="tanh"), input_shape=(T, F)), TimeDistributed(Dense(1))])


# ---------------------------------------------------------------- parity with Keras
def test_sgd_training_matches_keras_weights_and_losses():
    r = np.random.default_rng(3)
    x = r.normal(size=(24, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    ours = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
    for layer, klayer in zip(ours.layers, km.layers):
        layer.set_weights(klayer.get_weights())
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.compile(optimizer=torch.optim.SGD(ours.parameters(), lr=0.1), loss="mse")
    kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    oh = ours.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for layer, klayer in zip(ours.layers, km.layers):
        for a, b in zip(layer.get_weights(), klayer.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(oh.history["loss"], kh.history["loss"], rtol=1e-5)


def test_masked_sequence_training_matches_keras():
    """Embedding(mask_zero) -> per-step softmax with sparse CE: padded steps ignored exactly as Keras."""
    r = np.random.default_rng(4)
    ids = r.integers(1, 9, size=(12, 6))
    for i, L in enumerate([6, 3, 2, 5, 1, 4] * 2):
        ids[i, L:] = 0
    y = r.integers(0, 3, size=(12, 6))
    km = keras.Sequential([keras.Input((6,), dtype="int64"), keras.layers.Embedding(9, 4, mask_zero=True),
                           keras.layers.Dense(3, activation="softmax")])
    ours = Sequential([Embedding(9, 4, mask_zero=True, input_shape=(6,)),
                       TimeDistributed(Dense(3, activation="softmax"))])
    ours.layers[0].set_weights(km.layers[0].get_weights())
    ours.layers[1].set_weights(km.layers[1].get_weights())
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy",
               metrics=["accuracy"])
    ours.compile(optimizer=torch.optim.SGD(ours.parameters(), lr=0.5), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    kh = km.fit(ids, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    oh = ours.fit(ids, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.layers[1].get_weights()[0], km.layers[1].get_weights()[0], atol=1e-5)
    np.testing.assert_allclose(oh.history["loss"], kh.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(oh.history["accuracy"], kh.history["accuracy"], rtol=1e-6)


# ---------------------------------------------------------------- the basic verbs
def test_fit_evaluate_predict_roundtrip_and_history():
    x, y = _regression()
    model = _td_model()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_split=0.25)
    assert h.epoch == [0, 1, 2]
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 for v in h.history.values())
    assert model.history is h
    loss, mae = model.evaluate(x[24:], y[24:], verbose=0)
    assert loss == pytest.approx(h.history["val_loss"][-1], rel=1e-5)
    pred = model.predict(x, batch_size=5, verbose=0)
    assert isinstance(pred, np.ndarray) and pred.shape == (32, 4, 1)
    with torch.no_grad():
        np.testing.assert_allclose(pred, model(torch.tensor(x)).numpy(), atol=1e-6)
    model.eval()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not model.training  # fit trains in train mode, then restores the caller's mode


def test_fit_takes_torch_tensors_dataset_and_dataloader():
    x, y = _regression()
    for data in (dict(x=torch.tensor(x), y=torch.tensor(y)),
                 dict(x=torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))),
                 dict(x=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                                    batch_size=8))):
        set_seed(0)
        model = _td_model()
        model.compile("sgd", "mse")
        h = model.fit(**data, batch_size=8, epochs=2, verbose=0)
        assert len(h.history["loss"]) == 2 and np.isfinite(h.history["loss"]).all()


def test_multi_input_multi_output_functional_with_dicts():
    r = np.random.default_rng(0)
    a_in, b_in = Input(shape=(4, 3), name="a"), Input(shape=(4, 2), name="b")
    from seqlayers import Concatenate
    h = Concatenate()([a_in, b_in])
    seq = TimeDistributed(Dense(2, activation="softmax"), name="tags")(h)
    reg = TimeDistributed(Dense(1), name="value")(h)
    model = Model([a_in, b_in], [seq, reg])
    model.compile("adam", loss={"tags": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"tags": 1.0, "value": 0.5}, metrics={"tags": ["accuracy"]})
    xa, xb = r.normal(size=(16, 4, 3)).astype("float32"), r.normal(size=(16, 4, 2)).astype("float32")
    yt, yv = r.integers(0, 2, size=(16, 4)), r.normal(size=(16, 4, 1)).astype("float32")
    hist = model.fit({"a": xa, "b": xb}, {"tags": yt, "value": yv}, batch_size=4, epochs=1, verbose=0)
    assert set(hist.history) == {"loss", "tags_loss", "value_loss", "tags_accuracy"}
    total = hist.history["tags_loss"][0] + 0.5 * hist.history["value_loss"][0]
    assert hist.history["loss"][0] == pytest.approx(total, rel=1e-5)
    pred = model.predict([xa, xb], verbose=0)
    assert isinstance(pred, list) and pred[0].shape == (16, 4, 2) and pred[1].shape == (16, 4, 1)


def test_ragged_python_lists_are_padded_and_masked():
    """Variable-length float sequences: padded steps must not change the loss (mask on the input)."""
    seqs = [np.ones((L, 2), "float32") * L for L in (3, 1, 2)]
    targets = [np.ones((L, 1), "float32") for L in (3, 1, 2)]
    model = Sequential([TimeDistributed(Dense(1), input_shape=(None, 2))])
    model.compile("sgd", "mse")
    ragged = model.evaluate(seqs, targets, verbose=0)
    with torch.no_grad():
        per = [float(((model(torch.tensor(s[None])) - torch.tensor(t[None])) ** 2).sum()) for s,
               t in zip(seqs, targets)]
    assert ragged == pytest.approx(sum(per) / 6, rel=1e-5)
    pred = model.predict(seqs, verbose=0)
    assert pred.shape == (3, 3, 1)


def test_ragged_token_ids_with_mask_zero():
    ids = [[3, 1, 4], [1, 5], [9, 2, 6, 5]]
    tags = [[0, 1, 0], [1, 1], [0, 0, 1, 1]]
    model = Sequential([Embedding(10, 4, mask_zero=True), TimeDistributed(Dense(2, activation="softmax"))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ids, tags, epochs=1, verbose=0)
    probs = model.predict(ids, verbose=0)
    with torch.no_grad():
        ref = [model(torch.tensor([s])).numpy()[0] for s in ids]
    ce = np.mean([-np.log(p[t, c]) for p, tg in zip(ref, tags) for t, c in enumerate(tg)])
    assert model.evaluate(ids, tags, verbose=0)[0] == pytest.approx(ce, rel=1e-5)
    assert probs.shape == (3, 4, 2)


def test_sample_weight_per_sample_and_per_step():
    x, y = _regression(n=8)
    model = _td_model()
    model.compile("sgd", "mse")
    with torch.no_grad():
        per_step = ((model(torch.tensor(x)) - torch.tensor(y)) ** 2).mean(-1).numpy()  # (B, T)
    sw = np.arange(8, dtype="float32")
    got = model.evaluate(x, y, sample_weight=sw, batch_size=8, verbose=0)
    assert got == pytest.approx(float((per_step * sw[:, None]).sum() / per_step.size), rel=1e-5)
    sw2 = (np.arange(32, dtype="float32") % 3).reshape(8, 4)
    got = model.evaluate(x, y, sample_weight=sw2, batch_size=8, verbose=0)
    assert got == pytest.approx(float((per_step * sw2).sum() / per_step.size), rel=1e-5)


def test_class_weight_scales_the_loss_of_each_class():
    r = np.random.default_rng(0)
    x = r.normal(size=(10, 3)).astype("float32")
    y = np.array([0, 1] * 5)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(torch.optim.SGD(model.parameters(), lr=0.0), "sparse_categorical_crossentropy")
    with torch.no_grad():
        p = model(torch.tensor(x)).numpy()
    ce = -np.log(p[np.arange(10), y])
    h = model.fit(x, y, class_weight={0: 1.0, 1: 3.0}, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(float((ce * np.where(y == 1, 3.0, 1.0)).mean()), rel=1e-5)


def test_train_test_predict_on_batch():
    x, y = _regression(n=8)
    model = _td_model()
    model.compile(torch.optim.SGD(model.parameters(), lr=0.01), "mse", metrics=["mae"])
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    lt = model.train_on_batch(x, y, return_dict=True)
    assert lt["loss"] == pytest.approx(before[0], rel=1e-5)  # loss of the batch before the step
    assert model.test_on_batch(x, y)[0] < before[0]
    assert model.predict_on_batch(x).shape == (8, 4, 1)


def test_seed_makes_cpu_runs_bit_identical():
    x, y = _regression()

    def run():
        set_seed(7)
        from seqlayers import Dropout
        m = Sequential([TimeDistributed(Dense(8, activation="relu"), input_shape=(4, 3)), Dropout(0.3),
                        TimeDistributed(Dense(1))])
        m.compile("adam", "mse")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0, seed=11)
        return [w.copy() for layer in m.layers for w in layer.get_weights()]

    for a, b in zip(run(), run()):
        assert np.array_equal(a, b)


def test_device_auto_runs_on_cpu_without_cuda():
    x, y = _regression(n=8)
    model = _td_model()
    model.compile("sgd", "mse", device="auto")
    model.fit(x, y, epochs=1, verbose=0)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected


def test_stateful_rnn_refuses_shuffle_and_resets_between_epochs():
    pytest.importorskip("seqlayers.layers.recurrent")
    from seqlayers import LSTM

    x = np.random.default_rng(0).normal(size=(4, 3, 1)).astype("float32")
    y = x.sum(1)
    model = Sequential([LSTM(2, stateful=True, batch_input_shape=(2, 3, 1)), Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="stateful recurrent layer.*pass shuffle=False"):
        model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    calls = []
    orig = model.reset_states
    model.reset_states = lambda: (calls.append(1), orig())[1]
    model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0)
    assert len(calls) >= 3


# ---------------------------------------------------------------- progress output
class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_verbose_levels_print_one_line_per_epoch_or_nothing(capsys):
    x, y = _regression(n=8)
    model = _td_model()
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, verbose=2, validation_split=0.5)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - ") and "loss: " in lines[0] and "val_loss: " in lines[0]
    model.fit(x, y, epochs=2, verbose=1)  # stdout is not a terminal under pytest: lines, no bar
    out = capsys.readouterr().out
    assert out.count("\n") == 2 and "\r" not in out


def test_verbose_1_on_a_terminal_draws_a_bar():
    x, y = _regression(n=8)
    model = _td_model()
    model.compile("sgd", "mse")
    tty = _FakeTTY()
    logger = ProgressLogger(1, stream=tty)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[logger])
    assert "Epoch 1/1" in tty.getvalue() and "4/4" in tty.getvalue()


def test_initial_epoch_steps_per_epoch_and_validation_data():
    x, y = _regression()
    model = _td_model()
    model.compile("sgd", "mse")
    seen = []
    from seqlayers import LambdaCallback
    cb = LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    h = model.fit(x, y, batch_size=4, epochs=4, initial_epoch=2, steps_per_epoch=3, verbose=0,
                  validation_data=(x[:8], y[:8]), callbacks=[cb])
    assert h.epoch == [2, 3] and seen == [0, 1, 2, 0, 1, 2]
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(x[:8], y[:8], verbose=0), rel=1e-5)


def test_predict_returns_a_dict_for_dict_outputs_and_evaluate_return_dict():
    inp = Input(shape=(4, 3))
    model = Model(inp, {"a": TimeDistributed(Dense(2))(inp), "b": TimeDistributed(Dense(1))(inp)})
    x = np.zeros((5, 4, 3), "float32")
    pred = model.predict(x, verbose=0)
    assert set(pred) == {"a", "b"} and pred["a"].shape == (5, 4, 2)
    model.compile("sgd", {"a": "mse", "b": "mae"})
    logs = model.evaluate(x, {"a": np.zeros((5, 4, 2)), "b": np.zeros((5, 4, 1))}, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "a_loss", "b_loss"}


def test_fit_trains_in_train_mode_and_evaluate_predict_run_in_eval_mode():
    from seqlayers import Dropout, LambdaCallback

    x, y = _regression(n=8)
    model = Sequential([TimeDistributed(Dense(16), input_shape=(4, 3)), Dropout(0.5), TimeDistributed(Dense(1))])
    model.compile("sgd", "mse")
    modes = []
    model.fit(x, y, batch_size=4, epochs=1, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_begin=lambda b, logs: modes.append(model.training))])
    assert modes == [True, True]
    model.train()
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)  # no dropout
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.training  # the caller's mode is restored


def test_sample_weight_per_output_and_class_weight_refused_for_several_outputs():
    inp = Input(shape=(3,))
    model = Model(inp, [Dense(1, name="a")(inp), Dense(1, name="b")(inp)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    ya, yb = np.ones((6, 1), "float32"), np.zeros((6, 1), "float32")
    with torch.no_grad():
        pa, pb = (o.numpy() for o in model(torch.tensor(x)))
    wa, wb = np.arange(6, dtype="float32"), np.ones(6, "float32") * 2
    logs = model.evaluate(x, [ya, yb], sample_weight=[wa, wb], batch_size=6, verbose=0, return_dict=True)
    assert logs["a_loss"] == pytest.approx(float((((pa - ya) ** 2)[:, 0] * wa).mean()), rel=1e-5)
    assert logs["b_loss"] == pytest.approx(float((((pb - yb) ** 2)[:, 0] * wb).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="class_weight applies to a single-output model"):
        model.fit(x, [ya, yb], class_weight={0: 1.0}, verbose=0)


def test_fit_takes_an_endless_python_generator_with_steps_per_epoch():
    x, y = _regression(n=8)
    drawn = []

    def batches():
        i = 0
        while True:
            drawn.append(i)
            yield x[i % 8: i % 8 + 4], y[i % 8: i % 8 + 4]
            i += 4

    model = _td_model()
    model.compile("sgd", "mse")
    h = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(h.epoch) == 2 and drawn == [0, 4, 8, 12, 16, 20]  # epoch 2 continues the generator


def test_model_optimizer_is_the_torch_optimizer_after_fit():
    x, y = _regression(n=8)
    model = _td_model()
    model.compile("rmsprop", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert isinstance(model.optimizer, torch.optim.RMSprop) and model.optimizer.param_groups[0]["alpha"] == 0.9


def test_a_finite_generator_gives_every_batch_to_fit_though_building_the_model_looks_at_the_first():
    from seqlayers import Reshape
    from seqlayers.training.callbacks import Callback

    batches = [(torch.randn(4, 5), torch.randn(4, 2)) for _ in range(3)]
    taken = []

    def gen():
        for b in batches:
            taken.append(b)
            yield b

    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)

    steps: list = []
    model = Sequential([Dense(2)])  # unbuilt: the first batch builds it
    model.compile(loss="mse", optimizer="sgd")
    model.fit(gen(), steps_per_epoch=3, epochs=1, verbose=0, callbacks=[Count()])
    assert steps == [0, 1, 2] and len(taken) == 3
    # a model with no weights at all (Keras's Reshape test): loss computed, nothing to update
    shapes = iter([12, 20])
    weightless = Sequential([Reshape((-1, 8))])
    weightless.compile(loss="mean_squared_error")
    hist = weightless.fit(((torch.ones(1, n, 2), torch.zeros(1, n // 4, 8)) for n in shapes), steps_per_epoch=2,
                          epochs=1, verbose=0)
    assert hist.history["loss"] == [1.0]
