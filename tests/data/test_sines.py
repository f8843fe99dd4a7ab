"""TimeGAN's sines: shape, range, seeding, and each feature being one sine of a small frequency and phase."""
import numpy as np
import pytest

from seqlayers.data.sines import sines


def test_shape_range_and_seed():
    a = sines(50, 24, 5, seed=3)
    assert a.shape == (50, 24, 5) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, sines(50, 24, 5, seed=3))
    assert not np.array_equal(a, sines(50, 24, 5, seed=4))


def test_each_feature_is_a_sine_with_frequency_and_phase_below_a_tenth():
    a = sines(200, 24, 3, seed=0).astype(np.float64)
    angle = np.arcsin(2 * a[:, :16] - 1)  # f * t + p stays below pi/2 for t < 16 (f, p < 0.1)
    t = np.arange(16)
    for i in range(0, 200, 37):
        for k in range(3):
            f, p = np.polyfit(t, angle[i, :, k], 1)
            assert 0 <= f < 0.1 and 0 <= p < 0.1
            np.testing.assert_allclose(angle[i, :, k], f * t + p, atol=1e-5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match=r"sines: length must be a positive integer, got 0"):
        sines(5, 0)
