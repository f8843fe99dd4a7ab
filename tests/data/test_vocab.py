"""Vocabulary (pad 0, unknown 1), pad_right, char_ids, multi_hot."""
import numpy as np
import pytest

from seqlayers.data import Vocabulary, char_ids, multi_hot, pad_right


def test_vocabulary_orders_by_frequency_and_maps_unknown_to_1():
    v = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]])
    assert v.itos == ["<pad>", "<unk>", "b", "a", "c"]
    assert v.encode(["a", "zzz"]) == [3, 1]
    assert v.decode([2, 4]) == ["b", "c"]
    assert Vocabulary.build([["a", "b", "a"]], min_count=2).labels == ["a"]


def test_label_vocabulary_refuses_unknown_labels():
    v = Vocabulary.build([["NOUN", "VERB"]], unknown=False)
    assert v.encode(["VERB"]) == [2]
    with pytest.raises(ValueError, match="'ADJ' is not one of the 2 known labels"):
        v.encode(["ADJ"])


def test_round_trip_through_dict():
    for unknown in (True, False):
        v = Vocabulary(["x", "y"], unknown=unknown)
        w = Vocabulary.from_dict(v.to_dict())
        assert w.itos == v.itos and w.unknown == unknown


def test_pad_right_pads_and_cuts_at_the_end():
    np.testing.assert_array_equal(pad_right([[1, 2, 3], [4]]), [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(pad_right([[1, 2, 3], [4]], maxlen=2), [[1, 2], [4, 0]])


def test_char_ids_keeps_prefix_and_suffix_of_long_words():
    chars = Vocabulary(list("abcdefghij"))
    ids = char_ids([["ab", "abcdefghij"]], chars, max_word_len=4, maxlen=3)
    assert ids.shape == (1, 3, 4)
    assert chars.decode(ids[0, 0, :2]) == ["a", "b"] and ids[0, 0, 2:].tolist() == [0, 0]
    assert "".join(chars.decode(ids[0, 1])) == "abij"
    assert ids[0, 2].tolist() == [0, 0, 0, 0]


def test_multi_hot_has_one_column_per_label():
    v = Vocabulary(["OFFER", "INFORM"], unknown=False)
    np.testing.assert_array_equal(multi_hot([["INFORM"], [], ["OFFER", "INFORM", "NEW"]], v),
                                  [[0, 1], [0, 0], [1, 1]])
