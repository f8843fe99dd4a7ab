"""Inputs as Keras takes them: bool/int arrays cast to the input's dtype, bool one-hot targets,
Sequence-style objects, generators with steps_per_epoch, one callback object instead of a list."""
import numpy as np
import pytest

import seqlayers as sl

keras = pytest.importorskip("keras")

rng = np.random.default_rng(0)
XI = rng.integers(0, 3, (8, 3))
Y1H = np.eye(2, dtype=bool)[rng.integers(0, 2, 8)]


def _dense():
    m = sl.Sequential([sl.Dense(2, input_shape=(3,), activation="softmax")])
    m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("x", [XI, XI.astype("int32"), XI > 1], ids=["int64", "int32", "bool"])
def test_int_and_bool_inputs_give_keras_outputs(x):
    m = _dense()
    k = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    k.set_weights(m.get_weights())
    np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    k.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    ours, ref = m.evaluate(x, Y1H, verbose=0, return_dict=True), k.evaluate(x, Y1H, verbose=0, return_dict=True)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"]) and ours["loss"] == pytest.approx(ref["loss"], rel=1e-5)


def test_bool_one_hot_targets_train_like_float_ones():
    a, b = _dense(), _dense()
    b.set_weights(a.get_weights())
    ha = a.fit(XI, Y1H, epochs=2, shuffle=False, verbose=0).history
    hb = b.fit(XI.astype("float32"), Y1H.astype("float32"), epochs=2, shuffle=False, verbose=0).history
    assert ha == hb


def test_float_ids_reach_an_embedding_behind_a_float_input_as_keras_casts_them():
    i = sl.Input(shape=(None,))  # float32 by default, as in Keras
    m = sl.Model(i, sl.Dense(1)(sl.LSTM(3)(sl.Embedding(6, 2, mask_zero=True)(i))))
    ids = rng.integers(0, 6, (4, 5))
    np.testing.assert_array_equal(m.predict(ids, verbose=0), m.predict(ids.astype("float32"), verbose=0))


class Batches(sl.utils.Sequence):
    def __init__(self):
        super().__init__()
        self.epochs_ended = 0

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return XI[i * 2:(i + 1) * 2], Y1H[i * 2:(i + 1) * 2]

    def on_epoch_end(self):
        self.epochs_ended += 1


class PlainBatches:  # no base class: only __len__ and __getitem__, as a Keras user may write
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return XI[:4], Y1H[:4]


def test_sequence_objects_give_their_batches_each_epoch():
    m = _dense()
    seq = Batches()
    steps = []
    m.fit(seq, epochs=2, verbose=0, callbacks=sl.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b)))
    assert steps == [0, 1, 2, 0, 1, 2] and seq.epochs_ended == 2
    h = m.fit(PlainBatches(), epochs=1, verbose=0, validation_data=PlainBatches())
    assert "val_loss" in h.history
    assert m.predict(PlainBatches(), verbose=0).shape == (8, 2)


def test_endless_generator_with_steps_per_epoch():
    def gen():
        while True:
            yield XI, Y1H

    h = _dense().fit(gen(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2


def test_one_callback_object_where_a_list_is_expected():
    m = _dense()
    stop = sl.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h = m.fit(XI, Y1H, epochs=5, verbose=0, callbacks=stop)
    assert len(h.history["loss"]) == 2 and stop.stopped_epoch == 1
    m.evaluate(XI, Y1H, verbose=0, callbacks=stop)
    m.predict(XI, verbose=0, callbacks=stop)
