"""LoopState: what callbacks read, the one interface backups save and restore through, and why a run stopped
(non-finite losses never pass silently)."""
import warnings

import numpy as np
import pytest
import torch

from seqlayers import (
    BackupAndRestore,
    Callback,
    Dense,
    EarlyStopping,
    LambdaCallback,
    Sequential,
    TerminateOnNaN,
)
from seqlayers.training import optimizers
from seqlayers.training.loop_state import LoopState


def _data(n=16, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


def _model(lr=0.05, seed=0):
    torch.manual_seed(seed)
    m = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
    m.compile(optimizers.SGD(learning_rate=lr), "mse")
    return m


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        lp = self.loop
        self.rows.append((lp.epoch, lp.batch, lp.iterations, lp.epochs, lp.steps, lp.initial_epoch))


def test_callbacks_read_the_loop_state():
    x, y = _data()
    rec = Recorder()
    _model().fit(x, y, batch_size=8, epochs=3, initial_epoch=1, verbose=0, callbacks=[rec])
    assert rec.rows == [(1, 0, 1, 3, 2, 1), (1, 1, 2, 3, 2, 1), (2, 0, 3, 3, 2, 1), (2, 1, 4, 3, 2, 1)]
    assert isinstance(rec.loop, LoopState) and rec.loop.optimizer is rec.model.optimizer


def test_state_dict_round_trip_resumes_after_the_saved_epoch():
    x, y = _data()
    saved = {}
    early = EarlyStopping(monitor="loss", patience=5)
    grab = LambdaCallback(on_epoch_end=lambda e, logs: saved.update(state=grab.loop.state_dict()) if e == 1 else None)
    m = _model()
    m.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[early, grab], shuffle=True, seed=3)
    meta, tensors = saved["state"]
    weights = {k: v.clone() for k, v in m.state_dict().items()}
    fresh = _model(seed=9)
    fresh(torch.zeros(1, 3))
    fresh.fit(x[:4], y[:4], epochs=0, verbose=0)  # builds the optimizer
    loop = LoopState(fresh, fresh.optimizer, torch.Generator(), epochs=5, callbacks=[EarlyStopping(monitor="loss")])
    loop.callbacks[0].on_train_begin()
    loop.load_state_dict(meta, tensors)
    assert loop.initial_epoch == 2 and loop.iterations == 8
    assert loop.callbacks[0].best == early.best and loop.callbacks[0].wait == early.wait
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, weights[k])
    assert fresh.optimizer.state_dict()["param_groups"][0]["lr"] == 0.05


def test_backup_and_restore_continues_a_finished_part_through_the_loop_state(tmp_path):
    x, y = _data()
    m = _model()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    rec = Recorder()
    h = m.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[rec, BackupAndRestore(tmp_path)])
    assert h.epoch == [2, 3] and rec.rows[0][:3] == (2, 0, 5)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_runs_last_callbacks_run_after_the_others():
    order = []

    class Last(Callback):
        runs_last = True

        def on_epoch_end(self, epoch, logs=None):
            order.append("last")

    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0,
                 callbacks=[Last(), LambdaCallback(on_epoch_end=lambda e, logs: order.append("other"))])
    assert order == ["other", "last"]


# ---------------------------------------------------------------- why it stopped
def test_history_says_which_callback_stopped_training_and_why():
    x, y = _data()
    m = _model()
    stopper = LambdaCallback(on_train_batch_end=lambda b, logs: setattr(m, "stop_training", b == 2))
    h = m.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[stopper])
    assert h.stop_reason == "LambdaCallback set model.stop_training in on_train_batch_end (epoch 1, batch 3)"
    assert h.epoch == [0]
    h = _model().fit(x, y, epochs=2, verbose=0)
    assert h.stop_reason is None and h.first_nonfinite is None
    scripted = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=[1.0, 2.0, 3.0, 4.0][e]))
    h = _model().fit(x, y, epochs=4, verbose=0, callbacks=[scripted, EarlyStopping(patience=1)])
    assert h.stop_reason == "EarlyStopping: val_loss did not improve for 1 epochs (best 1 at epoch 1)"


def test_stop_reason_is_printed_by_the_progress_channel(capsys):
    x, y = _data()
    m = _model(lr=float("inf"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m.fit(x, y, batch_size=4, epochs=2, verbose=2, callbacks=[TerminateOnNaN()])
    assert "Training stopped early: TerminateOnNaN: the loss is nan at epoch 1, batch 2." in capsys.readouterr().out


def test_learning_rate_inf_warns_once_with_epoch_and_batch():
    x, y = _data()
    m = _model(lr=float("inf"))
    with pytest.warns(RuntimeWarning, match=r"fit: the loss became NaN or infinite in epoch 1/3, batch 2/4; .*"
                                            r"Lower the learning rate, clip the gradients .*TerminateOnNaN") as rec:
        h = m.fit(x, y, batch_size=4, epochs=3, verbose=0)
    assert len([w for w in rec if "non" in str(w.message) or "NaN" in str(w.message)]) == 1
    assert h.first_nonfinite == (0, 1) and h.stop_reason is None and len(h.epoch) == 3
    assert not np.isfinite(h.history["loss"]).any()


def test_a_loss_turning_nan_mid_training_warns_at_its_batch():
    x, y = _data()
    m = _model()
    poison = LambdaCallback(on_train_batch_end=lambda b, logs: (
        m.layers[1].kernel.data.fill_(float("nan")) if (poison.loop.epoch, b) == (1, 2) else None))
    with pytest.warns(RuntimeWarning, match=r"in epoch 2/3, batch 4/4"):
        h = m.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False, callbacks=[poison])
    assert h.first_nonfinite == (1, 3) and np.isfinite(h.history["loss"][0])


def test_terminate_on_nan_stops_and_the_history_says_so():
    x, y = _data()
    m = _model(lr=float("inf"))
    with pytest.warns(RuntimeWarning, match="epoch 1/5, batch 2/4"):
        h = m.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[TerminateOnNaN()])
    assert h.stop_reason == "TerminateOnNaN: the loss is nan at epoch 1, batch 2" and h.epoch == [0]


def test_terminate_on_nan_raise_error_raises_at_once():
    x, y = _data()
    m = _model(lr=float("inf"))
    ended = []
    with pytest.raises(RuntimeError, match=r"TerminateOnNaN: the loss is nan at epoch 1, batch 2; training "
                                           r"stopped \(raise_error=True\)"):
        m.fit(x, y, batch_size=4, epochs=5, verbose=0,
              callbacks=[TerminateOnNaN(raise_error=True), LambdaCallback(on_train_end=lambda logs: ended.append(1))])
    assert ended == []


def test_a_resume_in_the_middle_of_a_gradient_accumulation_keeps_the_summed_gradients():
    x, y = _data(n=12)
    saved = {}

    def run(resume):
        m = _model()
        m.compile(optimizers.SGD(learning_rate=0.05, gradient_accumulation_steps=2), "mse")
        grab = LambdaCallback(on_epoch_end=lambda e, logs: saved.setdefault("state", grab.loop.state_dict()))
        if resume is None:  # 3 batches per epoch: epoch 1 ends with one batch accumulated
            m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[grab])
            return m
        m(torch.zeros(1, 3))
        m.fit(x[:4], y[:4], epochs=0, verbose=0)  # builds the optimizer
        loop = LoopState(m, m.optimizer, torch.Generator(), epochs=2)
        loop.load_state_dict(*resume)
        m.fit(x, y, batch_size=4, epochs=2, initial_epoch=loop.initial_epoch, shuffle=False, verbose=0)
        return m

    full = run(None)
    assert saved["state"][0]["optimizer"]["param_groups"][0]["keras_accumulated"] == 1
    resumed = run(saved["state"])
    for a, b in zip(full.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
