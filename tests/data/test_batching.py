"""seqlayers/data/batching.py: pad_stack and BucketSampler (bucketed_loader: tests/tasks/test_common.py)."""

import numpy as np

from seqlayers.data.batching import BucketSampler, pad_stack


def test_pad_stack_pads_every_axis_with_zero_to_the_largest_size():
    a, b = np.ones((2, 3), dtype=np.int64), np.full((4, 1), 2, dtype=np.int64)
    out = pad_stack([a, b])
    assert tuple(out.shape) == (2, 4, 3)
    np.testing.assert_array_equal(out[0], [[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(out[1], [[2, 0, 0]] * 4)


def test_bucket_sampler_covers_every_index_once_and_groups_similar_lengths():
    lengths = [5, 1, 9, 2, 8, 1, 5, 9]
    batches = list(BucketSampler(lengths, batch_size=2, shuffle=False, seed=0))
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert [sorted(lengths[i] for i in b) for b in batches] == [[1, 1], [2, 5], [5, 8], [9, 9]]


def test_bucket_sampler_shuffles_reproducibly_per_epoch():
    s = BucketSampler(list(range(40)), batch_size=4, shuffle=True, seed=3)
    first = list(s)
    assert list(s) == first
    s.epoch = 1
    assert list(s) != first
