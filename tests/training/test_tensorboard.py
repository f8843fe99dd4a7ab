"""TensorBoard: event files read back with tensorboard's own reader, compared with the History of the run."""
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from seqlayers import LSTM, Callback, Dense, LearningRateScheduler, Sequential, TensorBoard  # noqa: E402
from seqlayers.errors import MissingExtraError  # noqa: E402

N, BATCH, EPOCHS = 24, 8, 3  # 3 batches an epoch


def data():
    rng = np.random.RandomState(0)
    x = rng.randn(N, 5, 2).astype("float32")
    return x, x.sum(axis=(1, 2))[:, None].astype("float32")


def model():
    m = Sequential([LSTM(4, input_shape=(5, 2), name="lstm"), Dense(1, name="out")])
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return m


def events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    """(steps, values) of a scalar, whether the writer stored it as a scalar or as a tensor."""
    tags = acc.Tags()
    if tag in tags.get("scalars", []):
        found = acc.Scalars(tag)
        return [e.step for e in found], [e.value for e in found]
    found = acc.Tensors(tag)
    return [e.step for e in found], [float(np.asarray(e.tensor_proto.float_val)[0]) for e in found]


def test_epoch_scalars_and_learning_rate_match_the_history(tmp_path):
    x, y = data()
    history = model().fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_split=0.25, verbose=0, shuffle=False,
                          callbacks=[TensorBoard(log_dir=tmp_path),
                                     LearningRateScheduler(lambda epoch: 0.01 / (epoch + 1))])
    train, val = events(tmp_path / "train"), events(tmp_path / "validation")
    for name in ("loss", "mae"):
        steps, values = scalars(train, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[name], rtol=1e-6)
        steps, values = scalars(val, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
    steps, values = scalars(train, "epoch_learning_rate")
    np.testing.assert_allclose(values, [0.01, 0.005, 0.01 / 3], rtol=1e-6)
    assert not any(t.startswith("batch_") for t in train.Tags()["scalars"] + train.Tags().get("tensors", []))
    assert train.Tags()["histograms"] == []


def test_batch_scalars_every_n_batches_and_histograms(tmp_path):
    x, y = data()
    seen = []

    class Record(Callback):  # the batch logs TensorBoard receives
        def on_train_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    m = model()
    m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, shuffle=False,
          callbacks=[Record(), TensorBoard(log_dir=tmp_path, update_freq=2, histogram_freq=2)])
    train = events(tmp_path / "train")
    steps, values = scalars(train, "batch_loss")
    assert steps == [2, 4, 6, 8]  # 9 batches, every 2nd
    np.testing.assert_allclose(values, [seen[s - 1]["loss"] for s in steps], rtol=1e-6)
    params = dict(m.named_parameters())  # lstm.cell.weight_ih, ..., out.kernel, out.bias
    assert sorted(train.Tags()["histograms"]) == sorted(name.replace(".", "/") for name in params)
    for name, p in params.items():
        hist = train.Histograms(name.replace(".", "/"))
        assert [e.step for e in hist] == [0, 2]  # epochs 0 and 2 of 0..2
        last = hist[-1].histogram_value
        assert int(last.num) == p.numel()
        np.testing.assert_allclose([last.min, last.max], [p.min().item(), p.max().item()], rtol=1e-6)


def test_update_freq_batch_writes_after_every_batch(tmp_path):
    x, y = data()
    model().fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path, update_freq="batch")])
    assert scalars(events(tmp_path / "train"), "batch_loss")[0] == [1, 2, 3]


@pytest.mark.parametrize("kwargs, match", [
    ({"update_freq": "step"}, r"TensorBoard: update_freq must be 'epoch', 'batch' or an integer >= 1 .* got 'step'"),
    ({"update_freq": 0}, r"update_freq must be .* got 0"),
    ({"histogram_freq": -1}, r"TensorBoard: histogram_freq must be an integer >= 0 .* got -1"),
    ({"histogram_freq": 0.5}, r"histogram_freq must be an integer >= 0 .* got 0.5"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorBoard("logs", **kwargs)


def test_without_the_tensorboard_package_it_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingExtraError, match=r"^TensorBoard needs tensorboard, which is not installed: "
                                                r"pip install 'seqlayers\[tensorboard\]'"):
        TensorBoard("logs")
