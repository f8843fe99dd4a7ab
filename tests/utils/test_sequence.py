"""pad_sequences and to_categorical against Keras 3's, argument by argument; the errors."""
import numpy as np
import pytest

from seqlayers.utils import pad_sequences, to_categorical

keras = pytest.importorskip("keras")

SEQS = [[1, 2, 3, 4], [5], [], [6, 7]]


@pytest.mark.parametrize("kw", [
    {}, {"maxlen": 2}, {"maxlen": 6}, {"padding": "post"}, {"truncating": "post", "maxlen": 3},
    {"padding": "post", "truncating": "pre", "maxlen": 3, "value": -1}, {"dtype": "float32", "value": 0.5},
])
def test_pad_sequences_matches_keras(kw):
    ours = pad_sequences(SEQS, **kw)
    ref = keras.utils.pad_sequences(SEQS, **kw)
    assert ours.dtype == ref.dtype and isinstance(ours, np.ndarray)
    np.testing.assert_array_equal(ours, ref)


def test_pad_sequences_of_vectors_matches_keras():
    seqs = [np.ones((3, 2)), np.full((1, 2), 2.0)]
    np.testing.assert_array_equal(pad_sequences(seqs, dtype="float32", maxlen=2),
                                  keras.utils.pad_sequences(seqs, dtype="float32", maxlen=2))


def test_preprocessing_sequence_is_the_same_function():
    from seqlayers.preprocessing.sequence import pad_sequences as p2

    assert p2 is pad_sequences


def test_pad_sequences_errors_name_the_argument():
    with pytest.raises(ValueError, match='padding must be "pre" or "post", got \'left\''):
        pad_sequences(SEQS, padding="left")
    with pytest.raises(ValueError, match="item 1 is int"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="sequence 1 have shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))], dtype="float32")


@pytest.mark.parametrize("x,n", [([0, 2, 1], None), ([[1], [0]], 3), (np.array([[0, 1], [2, 3]]), None)])
def test_to_categorical_matches_keras(x, n):
    ours = to_categorical(x, n)
    ref = keras.utils.to_categorical(x, n)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_to_categorical_refuses_out_of_range_ids():
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\)"):
        to_categorical([0, 2], num_classes=2)
