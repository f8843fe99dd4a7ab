"""The adversarial losses of ``SequenceGAN``, as functions of the discriminator's outputs.

* ``"non_saturating"`` (Goodfellow et al. 2014, section 3): the discriminator minimises
  ``softplus(-D(real)) + softplus(D(fake))`` (binary cross-entropy on logits, real = 1); the generator
  minimises ``softplus(-D(fake))`` (= ``-log sigmoid(D(fake))``), whose gradient stays large while
  the discriminator is winning, unlike the saturating ``log(1 - sigmoid(D(fake)))``.
* ``"wgan_gp"`` (Gulrajani et al. 2017): a critic minimises ``D(fake) - D(real) + lambda * (|grad
  D(x_hat)| - 1)^2`` at random interpolates ``x_hat`` of real and fake series; the generator
  minimises ``-D(fake)``.

``moment_loss`` is TimeGAN's "two moments" term (Yoon et al. 2019, their code's ``G_loss_V``), added to
the generator's loss with ``compile(moment_weight=...)``: per step and feature, the batch's mean and
standard deviation of the generated series against those of the real ones.
``correlation_loss`` (ours, not TimeGAN's) adds what those per-feature moments cannot see, the
features' joint behaviour: per step, the batch's correlation matrix across features of the generated
series against that of the real ones (``compile(correlation_weight=...)``). On sines, whose 5
features are independent, generators trained with the moment term alone wrote strongly correlated
features (mean |corr| 0.95 at the last step against 0.01 for real series), which TimeGAN's
predictive score punishes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as nnf

LOSSES = ("non_saturating", "wgan_gp")


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise ValueError(f"SequenceGAN.compile: loss must be one of {', '.join(LOSSES)}, got {name!r}.")
    return name


def discriminator_loss(name: str, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss from its outputs ``(B, 1)`` on real and fake series."""
    if name == "non_saturating":
        return nnf.softplus(-real_out).mean() + nnf.softplus(fake_out).mean()
    return fake_out.mean() - real_out.mean()


def generator_loss(name: str, fake_out: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss from the discriminator's outputs ``(B, 1)`` on its series."""
    if name == "non_saturating":
        return nnf.softplus(-fake_out).mean()
    return -fake_out.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``mean((|grad_x critic(x_hat)|_2 - 1)^2)`` at ``x_hat = e * real + (1 - e) * fake``, one ``e`` per series.

    Shape:
        real, fake ``(B, T, F)``; returns a scalar (kept in the graph: it is differentiated again).
    """
    B = real.shape[0]
    e = torch.rand(B, 1, 1, device=real.device, dtype=real.dtype)  # one mixing weight per series
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.reshape(B, -1).norm(dim=1)  # (B,): the gradient of each series, all steps and features
    return ((norms - 1.0) ** 2).mean()


def moment_loss(fake: torch.Tensor, real: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``mean|std_b(fake) - std_b(real)| + mean|mean_b(fake) - mean_b(real)|`` over steps and features.

    The moments run over the batch axis (one mean and one standard deviation per step and feature);
    the standard deviation is ``sqrt(var + eps)`` with the biased variance, as TimeGAN's code has it.

    Shape:
        fake ``(B1, T, F)``, real ``(B2, T, F)`` (the batches may differ in size); returns a scalar.
    """
    def std(a):
        return torch.sqrt(a.var(dim=0, unbiased=False) + eps)  # (T, F)

    return (std(fake) - std(real)).abs().mean() + (fake.mean(dim=0) - real.mean(dim=0)).abs().mean()


def _correlations(a: torch.Tensor, eps: float) -> torch.Tensor:
    c = a - a.mean(dim=0, keepdim=True)
    c = c / torch.sqrt((c ** 2).mean(dim=0, keepdim=True) + eps)  # standardized over the batch, per step and feature
    return torch.einsum("btf,btg->tfg", c, c) / a.shape[0]  # (T, F, F)


def correlation_loss(fake: torch.Tensor, real: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``mean|corr_b(fake) - corr_b(real)|`` over steps and all ``F x F`` entries of the matrices.

    ``corr_b`` is, per step, the correlation matrix of the features across the batch (biased
    moments; the standard deviation is ``sqrt(var + eps)`` as in ``moment_loss``). Its diagonal is
    ~1 on both sides, so the term is the mismatch of the cross-feature correlations (0 for ``F = 1``).

    Shape:
        fake ``(B1, T, F)``, real ``(B2, T, F)`` (the batches may differ in size); returns a scalar.
    """
    return (_correlations(fake, eps) - _correlations(real, eps)).abs().mean()


__all__ = ["LOSSES", "check_loss", "correlation_loss", "discriminator_loss", "generator_loss", "gradient_penalty",
           "moment_loss"]
