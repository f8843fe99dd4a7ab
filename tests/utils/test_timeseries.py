"""timeseries_dataset_from_array: the windows and targets against brute force; fit takes it directly."""
import numpy as np
import pytest

from seqlayers import LSTM, Dense, Sequential
from seqlayers.utils import timeseries_dataset_from_array


def _brute(data, targets, T, stride, rate, start, end):
    xs, ys = [], []
    p = start
    while p + (T - 1) * rate < end and (targets is None or p < len(targets)):
        xs.append(data[p:p + T * rate:rate])
        ys.append(targets[p] if targets is not None else None)
        p += stride
    return np.stack(xs), ys


@pytest.mark.parametrize("T,stride,rate,start,end", [(5, 1, 1, None, None), (4, 3, 2, 2, 40), (1, 1, 1, 0, 10)])
def test_windows_and_targets_are_the_brute_force_ones(T, stride, rate, start, end):
    data = np.arange(100, dtype="float32").reshape(50, 2)
    targets = np.arange(50) * 10
    ds = timeseries_dataset_from_array(data, targets, T, sequence_stride=stride, sampling_rate=rate,
                                       batch_size=4, start_index=start, end_index=end)
    xs = np.concatenate([x for x, _ in ds])
    ys = np.concatenate([y for _, y in ds])
    bx, by = _brute(data, targets, T, stride, rate, start or 0, end or 50)
    np.testing.assert_array_equal(xs, bx)
    np.testing.assert_array_equal(ys, by)
    assert len(ds) == len(list(ds)) == -(-len(bx) // 4)


def test_shuffle_with_a_seed_is_a_fixed_permutation_of_the_windows():
    data = np.arange(30, dtype="float32")[:, None]
    a = np.concatenate([x for x, _ in timeseries_dataset_from_array(data, np.arange(30), 3, shuffle=True, seed=1)])
    b = np.concatenate([x for x, _ in timeseries_dataset_from_array(data, np.arange(30), 3, shuffle=True, seed=1)])
    np.testing.assert_array_equal(a, b)
    assert sorted(a[:, 0, 0].tolist()) == list(range(28))


def test_fit_and_evaluate_take_the_dataset():
    data = np.sin(np.arange(60, dtype="float32") / 5)[:, None]
    ds = timeseries_dataset_from_array(data[:-4], data[4:, 0], 4, batch_size=16)
    model = Sequential([LSTM(4, input_shape=(4, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(ds, epochs=2, verbose=0, validation_data=ds)
    assert len(history.history["loss"]) == 2 and "val_loss" in history.history
    assert model.predict(ds, verbose=0).shape == (53, 1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sequence_length must be a positive integer, got 0"):
        timeseries_dataset_from_array(np.zeros((5, 1)), None, 0)
    with pytest.raises(ValueError, match="same length, got 5 and 4"):
        timeseries_dataset_from_array(np.zeros((5, 1)), np.zeros(4), 2)
