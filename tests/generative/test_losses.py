"""The adversarial losses against torch's cross-entropy, a hand-computed gradient penalty, numpy moments."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlayers.generative.losses import (
    check_loss,
    correlation_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    moment_loss,
)


def test_non_saturating_losses_are_binary_cross_entropies_on_logits():
    torch.manual_seed(0)
    real, fake = torch.randn(6, 1), torch.randn(6, 1)
    ref_d = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
        F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    torch.testing.assert_close(discriminator_loss("non_saturating", real, fake), ref_d)
    ref_g = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # -log D(G(z)), not log(1 - D(G(z)))
    torch.testing.assert_close(generator_loss("non_saturating", fake), ref_g)


def test_wasserstein_losses_are_mean_differences():
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.5], [-0.5]])
    assert discriminator_loss("wgan_gp", real, fake).item() == pytest.approx(0.0 - 2.0)
    assert generator_loss("wgan_gp", fake).item() == pytest.approx(0.0)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    w = torch.tensor([[[0.5, -1.0]], [[2.0, 0.0]], [[0.0, 1.0]]]).reshape(1, 3, 2)  # a (T=3, F=2) weight
    critic = lambda x: (x * w).sum(dim=(1, 2)).unsqueeze(1)  # noqa: E731  the gradient is w for every input
    real, fake = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    expected = (w.norm() - 1.0) ** 2
    torch.testing.assert_close(gradient_penalty(critic, real, fake), expected)


def test_unknown_loss_names_the_choices():
    with pytest.raises(ValueError, match=r"loss must be one of non_saturating, wgan_gp, got 'minimax'"):
        check_loss("minimax")


def test_moment_loss_matches_numpy_moments_over_the_batch_axis():
    rng = np.random.default_rng(0)
    fake, real = rng.normal(0.3, 2.0, size=(7, 4, 3)), rng.normal(-0.1, 0.5, size=(11, 4, 3))  # batches may differ
    ref = np.mean(np.abs(np.sqrt(fake.var(axis=0) + 1e-6) - np.sqrt(real.var(axis=0) + 1e-6))) + \
        np.mean(np.abs(fake.mean(axis=0) - real.mean(axis=0)))
    got = moment_loss(torch.tensor(fake, dtype=torch.float64), torch.tensor(real, dtype=torch.float64))
    assert got.item() == pytest.approx(ref, rel=1e-12)
    same = torch.tensor(real)
    assert moment_loss(same, same).item() == 0.0


def test_correlation_loss_matches_numpy_correlations_per_step():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 3, 4))  # independent features
    shared = rng.normal(size=(25, 3, 1))
    fake = shared + 0.3 * rng.normal(size=(25, 3, 4))  # features that move together; batches may differ

    def corr(a):  # per step, numpy's correlation matrix over the batch (biased moments, eps as the loss)
        c = a - a.mean(axis=0)
        c = c / np.sqrt((c ** 2).mean(axis=0) + 1e-6)
        return np.stack([c[:, t].T @ c[:, t] / len(a) for t in range(a.shape[1])])

    assert np.allclose(corr(real[:, :1]), [np.corrcoef(real[:, 0].T)], atol=1e-5)
    ref = np.abs(corr(fake) - corr(real)).mean()
    got = correlation_loss(torch.tensor(fake), torch.tensor(real))
    assert got.item() == pytest.approx(ref, rel=1e-12) and ref > 0.5
    assert correlation_loss(torch.tensor(real), torch.tensor(real)).item() == 0.0
    one = torch.tensor(fake[:, :, :1])
    assert correlation_loss(one, torch.tensor(real[:, :, :1])).item() < 1e-6  # one feature: nothing to match
