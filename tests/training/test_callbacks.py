"""Callbacks: early stopping, checkpoints, learning-rate control, CSV logs, NaN stop, lambdas."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from seqlayers import (
    CSVLogger,
    Dense,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    Sequential,
    TerminateOnNaN,
)
from seqlayers.training.checkpoint import atomic_write


def _data(n=16):
    r = np.random.default_rng(0)
    x = r.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [2.0], [-1.0]], "float32"))


def _model(lr=0.05):
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(torch.optim.SGD(m.parameters(), lr=lr), "mse")
    return m


def _scripted_losses(values):
    """A callback that overwrites the epoch's val_loss with scripted values (deterministic monitors)."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__("val_loss", values[epoch]))


def test_early_stopping_patience_min_delta_and_restore_best():
    x, y = _data()
    m = _model()
    snapshots = []
    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01, restore_best_weights=True)
    script = _scripted_losses([1.0, 0.5, 0.495, 0.6, 0.7, 0.1, 0.1])
    keep = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(m.layers[0].get_weights()[0].copy()))
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[script, es, keep])
    # best at epoch 1 (0.495 is not better by min_delta); stops after 2 epochs without improvement
    assert h.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best_epoch == 1
    np.testing.assert_array_equal(m.layers[0].get_weights()[0], snapshots[1])


def test_early_stopping_start_from_epoch_ignores_warmup():
    x, y = _data()
    es = EarlyStopping(monitor="val_loss", patience=1, start_from_epoch=3)
    h = _model().fit(x, y, epochs=6, verbose=0, callbacks=[_scripted_losses([1, 2, 3, 4, 5, 6]), es])
    assert h.epoch == [0, 1, 2, 3, 4]


def test_model_checkpoint_save_best_only_weights(tmp_path):
    x, y = _data()
    m = _model()
    path = str(tmp_path / "ckpt" / "best.safetensors")
    cb = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True)
    saved = []

    spy = LambdaCallback(on_epoch_end=lambda e,
                         logs: saved.append(os.path.getmtime(path) if os.path.exists(path) else None))
    m.fit(x, y, epochs=4, verbose=0, callbacks=[_scripted_losses([3.0, 1.0, 2.0, 5.0]), cb, spy])
    assert saved[0] is not None and saved[1] is not None and saved[2] == saved[1] == saved[3]
    weights = load_file(path)
    sidecar = json.loads(open(path + ".json").read())
    assert sidecar["class_name"] == "Sequential" and set(sidecar["tensors"]) == set(weights)
    assert not [f for f in os.listdir(tmp_path / "ckpt") if f.endswith(".tmp")]


def test_model_checkpoint_formats_epoch_in_filename(tmp_path):
    x, y = _data()
    cb = ModelCheckpoint(str(tmp_path / "w.{epoch:02d}.safetensors"), save_weights_only=True)
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert {"w.01.safetensors", "w.02.safetensors"} <= set(os.listdir(tmp_path))


def test_atomic_write_leaves_old_file_when_writer_crashes(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        atomic_write(str(target), boom)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_reduce_lr_on_plateau_and_scheduler():
    x, y = _data()
    m = _model(lr=0.1)
    rl = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=0.02)
    h = m.fit(x, y, epochs=5, verbose=0, callbacks=[_scripted_losses([1, 1, 1, 1, 1]), rl])
    # the rate used during each epoch is logged, then lowered (as Keras)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.02])
    assert m._compiled.optimizer.param_groups[0]["lr"] == pytest.approx(0.02)
    m = _model(lr=0.1)
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    assert m._compiled.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)


def test_csv_logger_rows(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    _model().fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[CSVLogger(str(path))])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "val_loss"] and [r[0] for r in rows[1:]] == ["0", "1", "2"]
    _model().fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[CSVLogger(str(path), append=True)])
    assert len(list(csv.reader(open(path)))) == 5


def test_terminate_on_nan_stops_at_the_first_bad_batch():
    x, y = _data()
    m = _model(lr=1e6)  # diverges
    seen = []
    h = m.fit(x, y * 1e6, epochs=50, batch_size=4, verbose=0,
              callbacks=[TerminateOnNaN(),
                         LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))])
    assert len(h.epoch) < 50 and not np.isfinite(seen[-1]) and np.isfinite(seen[:-1]).all()


def test_lambda_callback_hooks_and_unknown_hook():
    x, y = _data()
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_end=lambda epoch, logs: events.append(epoch),
                        on_train_end=lambda logs: events.append("end"))
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert events == ["begin", 0, 1, "end"]
    with pytest.raises(ValueError, match="unknown hook 'on_epoch_finish'"):
        LambdaCallback(on_epoch_finish=print)


def test_model_checkpoint_saves_whole_model_loadable_with_load_model(tmp_path):
    from seqlayers import load_model

    x, y = _data()
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile("sgd", "mse")
    path = tmp_path / "best.seqlayers"
    m.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[ModelCheckpoint(str(path))])  # last epoch
    loaded = load_model(str(path))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)
