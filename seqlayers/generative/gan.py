"""``SequenceGAN``: a generator and a discriminator trained against each other through ``fit``.

It is a subclassed ``Model`` that overrides Keras's two extension points, as Keras's own GAN
example does: ``compile`` takes one optimizer per network, and ``train_step`` runs, per batch,
``d_steps`` discriminator updates on real and generated series, then one generator update::

    G = conditional_generator(48, 48, 1, noise_dim=8)          # [x (B, 48, 1), z (B, 48, 8)] -> (B, 48, 1)
    D = sequence_discriminator(96, 1)                          # (B, 96, 1) -> (B, 1)
    gan = SequenceGAN(G, D, noise_dim=8)
    gan.compile(d_optimizer=Adam(1e-3), g_optimizer=Adam(1e-3), loss="non_saturating")
    gan.fit(first_halves, second_halves, epochs=20, callbacks=[BackupAndRestore("backup")], seed=0)
    samples = gan.sample(first_halves, n_samples=50)           # (50, N, 48, 1)

Conditional (the generator has inputs ``[x, z]``): ``fit(x, y)`` with the first halves ``x (N, T1, F)``
and the real second halves ``y (N, T2, F)``; the discriminator sees ``concat([x, y])`` (real) and
``concat([x, G(x, z)])`` (fake), both ``(B, T1 + T2, F)``: it judges whether the continuation fits
the given start. Unconditional (one input ``z``): ``fit(x)`` with real series ``(N, T, F)``.

Losses (``compile(loss=...)``, see ``losses.py``): ``"non_saturating"`` or ``"wgan_gp"`` (critic with
gradient penalty, ``gp_weight``); ``supervised_weight`` > 0 adds ``w * mean((G(x, z) - y)^2)`` to the
generator's loss of a conditional GAN (a supervised term, as TimeGAN adds one to stabilise training);
``moment_weight`` > 0 adds ``w * moment_loss(generated, real)`` (TimeGAN's match of the batch's mean
and standard deviation per step and feature; conditional: of the second halves);
``correlation_weight`` > 0 adds ``w * correlation_loss(generated, real)`` (the batch's correlations
across features, per step).
The noise comes from torch's global generator, so ``fit(seed=...)`` makes a run repeatable and
``BackupAndRestore`` (which restores the random states and both optimizers, ``OptimizerPair``) resumes it.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..models.functional import Model
from ..training import optimizers as optimizers_mod
from ..training.data_adapter import unpack_x_y_sample_weight
from .losses import check_loss, correlation_loss, discriminator_loss, generator_loss, gradient_penalty, moment_loss
from .optimizer_pair import OptimizerPair


class SequenceGAN(Model):
    """A sequence GAN on ``fit``: conditional (first half -> second half) or unconditional (noise -> series).

    Args:
        generator: ``[x (B, T1, F), z (B, T2, Z)] -> (B, T2, F)`` (a two-input functional model, e.g.
            ``conditional_generator``) or ``z (B, T, Z) -> (B, T, F)`` (``unconditional_generator``).
        discriminator: ``(B, T, F) -> (B, 1)`` over whole series (``sequence_discriminator``), with
            ``T = T1 + T2`` for a conditional GAN.
        noise_dim: noise features per generated step (``Z``).
        static_noise: draw one noise vector per series and repeat it at every step (the series is a
            function of a few latent numbers, e.g. a sine's frequency and phase), instead of a fresh
            draw per step.
        ema: keep an exponential moving average of the generator's weights with this decay (e.g.
            0.999) and sample from it; 0 (default) samples from the trained weights themselves.

    Shape:
        call: conditional ``x (B, T1, F) -> (B, T2, F)`` (one sample, fresh noise); unconditional
        ``z (B, T, Z) -> (B, T, F)``.
    """

    def __init__(self, generator, discriminator, noise_dim: int, static_noise: bool = False, ema: float = 0.0,
                 name: str = "sequence_gan"):
        super().__init__(name=name)
        if not isinstance(noise_dim, int) or noise_dim < 1:
            raise ValueError(f"SequenceGAN: noise_dim must be a positive integer, got {noise_dim!r}.")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"SequenceGAN: ema must be a decay in [0, 1) (0 turns the average off; 0.999 is "
                             f"typical), got {ema!r}.")
        self.generator, self.discriminator, self.noise_dim = generator, discriminator, noise_dim
        self.static_noise, self.ema = bool(static_noise), float(ema)
        #: the running average of the generator's weights (Yazici et al. 2019), which sample() uses; it is a
        #: submodule, so checkpoints and resumed runs keep it
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False) if ema else None
        inputs = list(getattr(generator, "inputs", None) or []) if getattr(generator, "_functional", False) else []
        self.conditional = len(inputs) == 2
        self.n_out: int = int(inputs[1].shape[1]) if self.conditional else 0  # T2, from the noise Input
        self.built = True  # both networks are built by their builders

    # ------------------------------------------------------------ sampling
    def noise(self, batch: int, steps: int, device=None) -> torch.Tensor:
        """``(batch, steps, Z)`` standard normal noise from torch's global generator: a fresh draw at every
        step, or with ``static_noise`` one draw per series repeated at every step."""
        if self.static_noise:
            return torch.randn(batch, 1, self.noise_dim, device=device).expand(batch, steps, self.noise_dim)
        return torch.randn(batch, steps, self.noise_dim, device=device)

    @property
    def sampler(self):
        """The generator that ``sample`` and ``predict`` use: the weight average when ``ema`` is on."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def generate(self, x: torch.Tensor, steps: int | None = None, generator=None) -> torch.Tensor:
        """One sample: conditional ``x (B, T1, F) -> (B, T2, F)``; unconditional ``steps`` steps for ``B = len(x)``."""
        g = generator or self.generator
        if self.conditional:
            return g([x, self.noise(x.shape[0], self.n_out, x.device)])
        return g(self.noise(x.shape[0], steps or x.shape[1], x.device))

    def _update_average(self) -> None:
        if self.generator_ema is None:
            return
        with torch.no_grad():
            for avg, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
                avg.lerp_(p, 1.0 - self.ema)

    def call(self, inputs, training=None):
        if self.conditional:
            return self.generate(inputs, generator=self.sampler)
        return self.sampler(inputs)

    def sample(self, x, n_samples: int = 1, batch_size: int = 1024, steps: int | None = None) -> np.ndarray:
        """``n_samples`` draws per input, as numpy ``(n_samples, N, T2, F)``.

        Conditional: ``x`` holds the first halves ``(N, T1, F)``. Unconditional: ``x`` is the number of
        series ``N`` and ``steps`` their length. Runs in eval mode without gradients (the mode is
        restored after, also on an error); the draws are folded into the batch, ``batch_size`` rows
        of ``n_samples * N`` per generator call.
        """
        was = self.training
        self.eval()
        try:
            g = self.sampler
            device = next(g.parameters()).device
            if self.conditional:
                cond = torch.as_tensor(np.asarray(x, dtype=np.float32))  # (N, T1, F)
                n = len(cond)
                rows = cond.repeat(n_samples, 1, 1)  # (S * N, T1, F): draw s of window i is row s * N + i
            else:
                n, rows = int(x), None
            parts = []
            with torch.no_grad():
                for s in range(0, n_samples * n, batch_size):
                    if rows is not None:
                        parts.append(self.generate(rows[s:s + batch_size].to(device), generator=g).cpu())
                    else:
                        b = min(batch_size, n_samples * n - s)
                        parts.append(g(self.noise(b, int(steps or 1), device)).cpu())
            out = torch.cat(parts)  # (S * N, T2, F)
            return out.reshape(n_samples, n, *out.shape[1:]).numpy()  # unfold: (S, N, T2, F)
        finally:
            self.train(was)

    # ------------------------------------------------------------ training (Keras's extension points)
    def compile(self, d_optimizer="adam", g_optimizer="adam", loss: str = "non_saturating",  # type: ignore[override]
                gp_weight: float = 10.0, d_steps: int = 1, supervised_weight: float = 0.0,
                moment_weight: float = 0.0, correlation_weight: float = 0.0):
        """One optimizer per network and the adversarial loss.

        Args:
            d_optimizer, g_optimizer: as ``compile(optimizer=...)`` accepts (a name, ``Adam(...)``, a torch
                optimizer class), built over the discriminator's / generator's weights.
            loss: ``"non_saturating"`` or ``"wgan_gp"``.
            gp_weight: the gradient penalty's weight (``"wgan_gp"`` only).
            d_steps: discriminator updates per generator update.
            supervised_weight: weight of the supervised term ``mean((G(x, z) - y)^2)`` (conditional only).
            moment_weight: weight of ``moment_loss`` between the generated and the real batch (TimeGAN
                uses 100).
            correlation_weight: weight of ``correlation_loss`` between the generated and the real batch
                (ours; no effect with one feature).
        """
        self.gan_loss = check_loss(loss)
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"SequenceGAN.compile: d_steps must be a positive integer, got {d_steps!r}.")
        if supervised_weight < 0 or (supervised_weight and not self.conditional):
            raise ValueError(f"SequenceGAN.compile: supervised_weight must be >= 0 and needs a conditional generator "
                             f"(there is no true continuation to compare with otherwise), got {supervised_weight!r}.")
        if not moment_weight >= 0:
            raise ValueError(f"SequenceGAN.compile: moment_weight must be >= 0 (0 turns the moment term off; "
                             f"TimeGAN uses 100), got {moment_weight!r}.")
        if not correlation_weight >= 0:
            raise ValueError(f"SequenceGAN.compile: correlation_weight must be >= 0 (0 turns the correlation term "
                             f"off), got {correlation_weight!r}.")
        self.gp_weight, self.d_steps, self.supervised_weight = float(gp_weight), d_steps, float(supervised_weight)
        self.moment_weight, self.correlation_weight = float(moment_weight), float(correlation_weight)
        pair = OptimizerPair(optimizers_mod.get(d_optimizer, list(self.discriminator.parameters())),
                             optimizers_mod.get(g_optimizer, list(self.generator.parameters())))
        super().compile(optimizer=pair, loss=None)

    def _joined(self, x: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, tail], dim=1) if self.conditional else tail  # (B, T1 + T2, F) or (B, T, F)

    def _matching_terms(self, tail: torch.Tensor, x, y):
        """``(log key, weight, value)`` of each batch-statistics term switched on in ``compile``
        (``moment_loss``, ``correlation_loss``): the generated ``tail`` against the real series."""
        real = y if self.conditional else x
        for key, weight, term in (("moments", self.moment_weight, moment_loss),
                                  ("correlation", self.correlation_weight, correlation_loss)):
            if weight:
                yield key, weight, term(tail, real)

    def _discriminator_step(self, x, real, pair: OptimizerPair) -> torch.Tensor:
        with torch.no_grad():
            fake = self._joined(x, self.generate(x))
        d_loss = discriminator_loss(self.gan_loss, self.discriminator(real), self.discriminator(fake))
        total = d_loss
        if self.gan_loss == "wgan_gp":
            total = d_loss + self.gp_weight * gradient_penalty(self.discriminator, real, fake)
        pair.discriminator.zero_grad(set_to_none=True)
        total.backward()
        pair.discriminator.step()
        return d_loss.detach()

    def train_step(self, data):
        """``d_steps`` discriminator updates, then one generator update; logs ``d_loss``, ``g_loss``
        (the adversarial parts), ``supervised`` (conditional GANs), ``moments`` (with ``moment_weight``)
        and ``correlation`` (with ``correlation_weight``)."""
        x, y, _ = unpack_x_y_sample_weight(data)
        pair = self.optimizer
        real = self._joined(x, y) if self.conditional else x
        for _ in range(self.d_steps):
            d_loss = self._discriminator_step(x, real, pair)
        tail = self.generate(x)
        g_adv = generator_loss(self.gan_loss, self.discriminator(self._joined(x, tail)))
        logs = {"d_loss": d_loss, "g_loss": g_adv.detach()}
        g_loss = g_adv
        if self.conditional:
            supervised = ((tail - y) ** 2).mean()
            logs["supervised"] = supervised.detach()
            if self.supervised_weight:
                g_loss = g_loss + self.supervised_weight * supervised
        for key, weight, value in self._matching_terms(tail, x, y):
            logs[key] = value.detach()
            g_loss = g_loss + weight * value
        pair.generator.zero_grad(set_to_none=True)
        g_loss.backward()  # (the discriminator's gradients from this pass are cleared before its next step)
        pair.generator.step()
        self._update_average()
        return logs

    def test_step(self, data):
        """The losses on held-out data, without updates (and without the gradient penalty)."""
        x, y, _ = unpack_x_y_sample_weight(data)
        real = self._joined(x, y) if self.conditional else x
        tail = self.generate(x)
        fake_out = self.discriminator(self._joined(x, tail))
        logs = {"d_loss": discriminator_loss(self.gan_loss, self.discriminator(real), fake_out),
                "g_loss": generator_loss(self.gan_loss, fake_out)}
        if self.conditional:
            logs["supervised"] = ((tail - y) ** 2).mean()
        logs.update((key, value) for key, _, value in self._matching_terms(tail, x, y))
        return logs

    def predict_step(self, data):
        """One sampled continuation per input (conditional) or one series per noise input."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x)


__all__ = ["SequenceGAN"]
