"""Windowing, train-only scaling, CSV reading and the shipped example series."""
import numpy as np
import pytest

from seqlayers.data.csv_reader import read_numeric_csv
from seqlayers.data.scaling import StandardScaler
from seqlayers.data.series import sunspots, sunspots_example
from seqlayers.data.windows import chronological_splits, windows


def loop_windows(a, L, H, stride, index):
    """Reference: the obvious Python loop."""
    xs, ys = [], []
    for s in range(0, len(a) - L - H + 1, stride):
        xs.append(a[s:s + L])
        ys.append(a[s + L:s + L + H][:, index])
    return np.stack(xs), np.stack(ys)


@pytest.mark.parametrize("L,H,stride", [(5, 1, 1), (7, 3, 2), (4, 4, 3), (1, 1, 1)])
def test_windows_match_a_python_loop(L, H, stride):
    a = np.random.default_rng(0).normal(size=(31, 3)).astype(np.float32)
    x, y = windows(a, L, H, stride=stride)
    rx, ry = loop_windows(a, L, H, stride, [0, 1, 2])
    np.testing.assert_array_equal(x, rx)
    np.testing.assert_array_equal(y, ry)
    assert x.shape == ((31 - L - H) // stride + 1, L, 3)


def test_single_target_gives_2d_outputs_and_list_gives_3d():
    a = np.arange(40, dtype=np.float32).reshape(20, 2)
    x, y = windows(a, 3, 2, targets=1)
    assert y.shape == (16, 2)
    np.testing.assert_array_equal(y[0], [7, 9])  # rows 3 and 4, column 1
    _, y2 = windows(a, 3, 2, targets=[1])
    assert y2.shape == (16, 2, 1)


def test_one_window_when_series_is_exactly_long_enough():
    x, y = windows(np.arange(10.0), 7, 3)
    assert x.shape == (1, 7, 1) and y.shape == (1, 3, 1)
    np.testing.assert_array_equal(y[0, :, 0], [7, 8, 9])


class FakeFrame:
    """Anything with .to_numpy() and .columns works (pandas is optional)."""
    columns = ["a", "OT"]

    def to_numpy(self):
        return np.arange(24, dtype=np.float32).reshape(12, 2)


def test_dataframe_like_input_and_named_target():
    x, y = windows(FakeFrame(), 4, 2, targets="OT")
    assert x.shape == (7, 4, 2) and y.shape == (7, 2)
    np.testing.assert_array_equal(y[0], [9, 11])


def test_windows_errors_teach():
    with pytest.raises(ValueError, match=r"has 10 rows, but one window needs lookback 8 \+ horizon 5 = 13"):
        windows(np.zeros((10, 2)), 8, 5)
    with pytest.raises(ValueError, match=r"no column named 'X'\. Columns: a, OT"):
        windows(FakeFrame(), 4, 2, targets="X")
    with pytest.raises(ValueError, match="lookback must be an integer >= 1"):
        windows(np.zeros((10, 2)), 0, 1)
    with pytest.raises(ValueError, match=r"shape \(time, features\)"):
        windows(np.zeros((2, 3, 4)), 1, 1)


def test_chronological_splits_start_lookback_rows_early():
    assert chronological_splits(17420, (8640, 11520, 14400), 336) == [(0, 8640), (8304, 11520), (11184, 14400)]


def test_scaler_fits_train_rows_only_and_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(3.0, 2.0, size=(100, 3))
    a[60:] += 50.0  # a level shift that a leaky scaler would absorb
    s = StandardScaler().fit(a[:60])
    z = s.transform(a)
    np.testing.assert_allclose(z[:60].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:60].std(0), 1, atol=1e-12)
    np.testing.assert_allclose(z, (a - a[:60].mean(0)) / a[:60].std(0))
    np.testing.assert_allclose(s.inverse_transform(z), a)


def test_scaler_errors_and_constant_column():
    with pytest.raises(ValueError, match=r"call fit\(train_rows\) first"):
        StandardScaler().transform(np.zeros((3, 2)))
    s = StandardScaler().fit(np.ones((5, 2)))
    np.testing.assert_array_equal(s.transform(np.ones((2, 2))), 0)
    with pytest.raises(ValueError, match="fitted on 2 features"):
        s.transform(np.zeros((3, 3)))


def write(tmp_path, text):
    p = tmp_path / "series.csv"
    p.write_text(text)
    return p


def test_read_numeric_csv_skips_date_and_keeps_order(tmp_path):
    p = write(tmp_path, "date,a,OT\n2020-01-01,1,2\n2020-01-02,3,4.5\n\n")
    names, data = read_numeric_csv(p)
    assert names == ["a", "OT"]
    np.testing.assert_array_equal(data, [[1, 2], [3, 4.5]])
    names, data = read_numeric_csv(p, columns=["OT"])
    assert data.shape == (2, 1)


def test_read_numeric_csv_errors_name_file_line_and_columns(tmp_path):
    p = write(tmp_path, "date,a,OT\n2020-01-01,1,2\n2020-01-02,3,oops\n")
    with pytest.raises(ValueError, match=r"series\.csv, line 3, column 'OT': 'oops' is not a number"):
        read_numeric_csv(p)
    with pytest.raises(ValueError, match=r"no column 'temp'\. Columns in the file: date, a, OT"):
        read_numeric_csv(p, columns=["temp"])
    with pytest.raises(ValueError, match="is empty"):
        read_numeric_csv(write(tmp_path, ""))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_numeric_csv(tmp_path / "nope.csv")


def test_shipped_sunspots_series():
    years, spots = sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and len(spots) == 309
    assert spots[0] == 5.0  # first value of the NOAA yearly file
    ex = sunspots_example(lookback=20, horizon=2)
    n_train = int(309 * 0.8)
    assert ex["x_train"].shape == (n_train - 21, 20, 1) and ex["y_train"].shape == (n_train - 21, 2)
    assert ex["x_test"].shape[0] == 309 - n_train - 1
    # the first test window predicts the first test year
    np.testing.assert_allclose(ex["scaler"].inverse_transform(ex["y_test"][:1, :1]), spots[n_train:n_train + 1, None])


def test_package_exports_windows_function():
    import seqlayers.data as data

    x, y = data.windows(np.arange(10.0), 3, 2, targets=0)
    assert x.shape == (6, 3, 1) and y.shape == (6, 2)
