"""Mistakes users make with fit/evaluate, each answered by an error that names the problem and the fix."""
import numpy as np
import pytest
import torch

from seqlayers import Dense, Sequential, TimeDistributed


def _model(loss="mse", units=1, act=None):
    m = Sequential([TimeDistributed(Dense(units, activation=act), input_shape=(4, 3))])
    m.compile("sgd", loss)
    return m


X = np.zeros((8, 4, 3), "float32")
Y = np.zeros((8, 4, 1), "float32")


def test_nan_in_x_names_array_and_position():
    x = X.copy()
    x[5, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"fit: x contains NaN at index \(5, 2, 1\) \(sample 5\)"):
        _model().fit(x, Y, verbose=0)


def test_inf_in_y_names_array_and_position():
    y = Y.copy()
    y[3, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"fit: y contains inf at index \(3, 0, 0\)"):
        _model().fit(X, y, verbose=0)


def test_nan_in_a_dataloader_batch_is_caught():
    x = torch.zeros(8, 4, 3)
    x[6, 0, 0] = float("nan")
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(8, 4, 1)), batch_size=4)
    with pytest.raises(ValueError, match=r"x contains NaN in batch 1 at index \(2, 0, 0\)"):
        _model().fit(dl, verbose=0)


def test_empty_data():
    with pytest.raises(ValueError, match="fit: x is empty"):
        _model().fit(X[:0], Y[:0], verbose=0)


@pytest.mark.parametrize("bs", [0, -4, 2.5])
def test_batch_size_must_be_positive_int(bs):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        _model().fit(X, Y, batch_size=bs, verbose=0)


@pytest.mark.parametrize("split", [1.0, -0.1, 1.5])
def test_validation_split_outside_0_1(split):
    with pytest.raises(ValueError, match="validation_split must be a fraction strictly between 0 and 1"):
        _model().fit(X, Y, validation_split=split, verbose=0)


def test_mismatched_lengths_of_x_and_y():
    with pytest.raises(ValueError, match="same number of samples.*x has 8, y has 6"):
        _model().fit(X, Y[:6], verbose=0)


def test_one_hot_targets_with_sparse_loss():
    y = np.eye(3, dtype="float32")[np.zeros((8, 4), int)]
    with pytest.raises(ValueError, match="looks one-hot.*categorical_crossentropy.*argmax"):
        _model("sparse_categorical_crossentropy", 3, "softmax").fit(X, y, verbose=0)


def test_class_ids_with_categorical_loss():
    with pytest.raises(ValueError, match="looks like integer class ids.*sparse_categorical_crossentropy"):
        _model("categorical_crossentropy", 3, "softmax").fit(X, np.zeros((8, 4), int), verbose=0)


def test_missing_time_axis_in_y():
    with pytest.raises(ValueError, match="one label per sample: give one label per step.*drop return_sequences=True"):
        _model("sparse_categorical_crossentropy", 3, "softmax").fit(X, np.zeros(8, int), verbose=0)
    with pytest.raises(ValueError, match="y has no time axis"):
        _model("mse", 2).fit(X, np.zeros((8, 2), "float32"), verbose=0)


def test_fit_before_compile():
    m = Sequential([Dense(1, input_shape=(3,))])
    with pytest.raises(RuntimeError, match=r"compiled first.*model.compile"):
        m.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)


def test_compile_rejects_unknown_names():
    m = Sequential([Dense(1, input_shape=(3,))])
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        m.compile("adamm", "mse")
    with pytest.raises(ValueError, match="unknown loss 'mean_squared_eror'"):
        m.compile("adam", "mean_squared_eror")


def test_bad_verbose():
    with pytest.raises(ValueError, match="verbose must be 0"):
        _model().fit(X, Y, verbose=3)


def test_unknown_fit_argument_suggests_and_nb_epoch_is_accepted():
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'. Did you mean 'epochs'"):
        _model().fit(X, Y, epoch=2, verbose=0)
    assert len(_model().fit(X, Y, nb_epoch=2, verbose=0).epoch) == 2


def test_nan_in_a_generator_batch_is_caught():
    def gen():
        x = X[:4].copy()
        x[1, 1, 1] = np.nan
        yield X[:4], Y[:4]
        yield x, Y[:4]

    with pytest.raises(ValueError, match=r"x contains NaN in batch 1 at index \(1, 1, 1\)"):
        _model().fit(gen(), verbose=0)


def test_a_generator_that_runs_out_says_so():
    gen = ((X[i:i + 4], Y[i:i + 4]) for i in (0, 4))
    with pytest.raises(ValueError, match="no batch in epoch 2.*generator that ran out.*steps_per_epoch"):
        _model().fit(gen, epochs=2, verbose=0)
