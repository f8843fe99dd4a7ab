"""The measures: CRPS against brute force, spread, PCA against sklearn, the two TimeGAN scores' direction."""
import numpy as np
import pytest

from seqlayers.data.sines import sines
from seqlayers.generative import crps, discriminative_score, pca_2d, predictive_score, spread
from seqlayers.generative.scores import next_step_pairs


def test_crps_equals_the_brute_force_pairwise_formula():
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(9, 4, 3)), rng.normal(size=(4, 3))
    brute = np.mean([np.mean(np.abs(s[:, i, j] - y[i, j])) - 0.5 * np.mean(np.abs(s[:, None, i, j] - s[None, :, i, j]))
                     for i in range(4) for j in range(3)])
    assert crps(s, y) == pytest.approx(brute, rel=1e-12)


def test_crps_of_one_draw_is_the_mae_and_a_calibrated_gaussian_beats_a_point():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(2000,))
    assert crps(np.zeros((1, 2000)), y) == pytest.approx(np.mean(np.abs(y)))
    gauss = crps(rng.normal(size=(100, 2000)), y)
    assert gauss == pytest.approx(1 / np.sqrt(np.pi) * (np.sqrt(2) - 1) + 0.0, abs=0.02) or gauss < 0.6
    assert gauss < np.mean(np.abs(y))
    with pytest.raises(ValueError, match=r"crps: samples must be \(draws, \*y.shape\)"):
        crps(np.zeros((3, 5)), np.zeros(4))


def test_spread_is_zero_for_a_collapsed_ensemble():
    assert spread(np.ones((5, 3, 2))) == 0.0
    assert spread(np.random.default_rng(0).normal(size=(400, 10))) == pytest.approx(1.0, abs=0.1)


def test_pca_2d_matches_sklearn_up_to_sign():
    decomposition = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(50, 4, 2)) * [1.0, 3.0], rng.normal(size=(20, 4, 2))
    r, f = pca_2d(real, fake)
    p = decomposition.PCA(2).fit(real.reshape(50, -1))
    for ours, theirs in ((r, p.transform(real.reshape(50, -1))), (f, p.transform(fake.reshape(20, -1)))):
        np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-8)


def test_discriminative_score_tells_different_sets_apart_and_not_equal_ones():
    real = sines(600, 12, 2, seed=0)
    assert discriminative_score(real, np.full_like(real, 0.5), units=2, iterations=150) > 0.4
    assert discriminative_score(real, sines(600, 12, 2, seed=1), units=2, iterations=150) < 0.1
    with pytest.raises(ValueError, match=r"real series are \(12, 2\) .* fake ones are \(11, 2\)"):
        discriminative_score(real, real[:, :11])


def test_predictive_score_is_lower_when_trained_on_data_like_the_real_data():
    real = sines(400, 12, 3, seed=0)
    good = predictive_score(real, sines(400, 12, 3, seed=1), iterations=300)
    bad = predictive_score(real, np.random.default_rng(0).uniform(size=real.shape).astype(np.float32), iterations=300)
    assert good < bad


def test_repeats_average_the_scores_of_consecutive_seeds_and_the_classifier_has_one_gru_layer_by_default():
    real, fake = sines(300, 8, 2, seed=0), sines(300, 8, 2, seed=1) - 0.3
    one = [discriminative_score(real, fake, units=2, iterations=100, seed=s) for s in (4, 5, 6)]
    assert len(set(one)) == 3  # classifiers of 2 units differ from seed to seed
    assert discriminative_score(real, fake, units=2, iterations=100, seed=4, repeats=3) == pytest.approx(np.mean(one))
    two_layers = discriminative_score(real, fake, units=2, iterations=100, seed=4, n_layers=2)
    assert discriminative_score(real, fake, units=2, iterations=100, seed=4, n_layers=1) == one[0] != two_layers
    pred = [predictive_score(real, fake, iterations=30, seed=s) for s in (7, 8)]
    assert predictive_score(real, fake, iterations=30, seed=7, repeats=2) == pytest.approx(np.mean(pred))
    assert pred[0] != pred[1]  # the repetitions differ: each has its own weights
    with pytest.raises(ValueError, match=r"discriminative_score: repeats must be a positive integer .* got 0"):
        discriminative_score(real, fake, repeats=0)
    with pytest.raises(ValueError, match=r"predictive_score: repeats must be a positive integer .* got 1.5"):
        predictive_score(real, fake, repeats=1.5)


@pytest.mark.parametrize("n_layers", [0, -1, 1.0])
def test_discriminative_score_rejects_a_classifier_without_a_recurrent_layer(n_layers):
    real = sines(20, 6, 2, seed=0)
    with pytest.raises(ValueError, match=rf"discriminative_score: n_layers must be a positive integer .* "
                                         rf"got {n_layers!r}\."):
        discriminative_score(real, real, n_layers=n_layers, iterations=1)


def test_next_step_pairs_follow_timegan():
    a = np.arange(2 * 4 * 3).reshape(2, 4, 3)
    x, y = next_step_pairs(a)
    assert x.shape == (2, 3, 2) and y.shape == (2, 3, 1) and y[0, 0, 0] == a[0, 1, 2]
    x1, y1 = next_step_pairs(a[:, :, :1])
    np.testing.assert_array_equal(y1, a[:, 1:, :1])
