"""ModelCheckpoint(verbose=1) and EarlyStopping(verbose=1) print Keras's messages (run both, compare)."""
import contextlib
import io
import re

import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")


def run(K, tmp, init=None):
    rs = np.random.RandomState(0)
    x, y = rs.rand(16, 3).astype("float32"), (rs.rand(16, 1) * 10).astype("float32")
    model = K.Sequential([K.Input((3,)), K.layers.Dense(1)])
    if init is not None:
        model.set_weights(init)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.05), loss="mse")
    callbacks = [
        K.callbacks.ModelCheckpoint(f"{tmp}/best.keras", monitor="loss", save_best_only=True, verbose=1),
        K.callbacks.ModelCheckpoint(f"{tmp}/e{{epoch}}.weights.h5", save_weights_only=True, verbose=1),
        K.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=5.0, verbose=1, restore_best_weights=True),
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=callbacks)
    return model.get_weights(), out.getvalue().replace(tmp, "TMP")


def test_checkpoint_and_early_stopping_messages_are_keras_s(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    init, _ = run(seqlayers, str(tmp_path / "a"))
    ours = run(seqlayers, str(tmp_path / "a"), init)[1]
    ref = run(keras, str(tmp_path / "b"), init)[1]
    assert "early stopping" in ours and "improved from None to" in ours and "finished saving model" in ours
    ours, ref = ours.replace("/a/", "/"), ref.replace("/b/", "/")
    number = r"\d+\.\d{5}"  # the monitored values (float32 sums may differ in the last printed digit)
    assert re.sub(number, "#", ours) == re.sub(number, "#", ref)
    assert [float(v) for v in re.findall(number, ours)] == pytest.approx(
        [float(v) for v in re.findall(number, ref)], rel=1e-5)
