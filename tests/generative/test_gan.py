"""SequenceGAN on fit: both updates, losses moving the right way, callbacks, seeding, resuming, saving."""
import copy

import numpy as np
import pytest
import torch

from seqlayers import LambdaCallback
from seqlayers.generative import SequenceGAN, conditional_generator, sequence_discriminator, unconditional_generator
from seqlayers.io.saving import load_model
from seqlayers.training.callbacks import BackupAndRestore, Callback


def _conditional(seed=0, t=4, form="aligned"):
    torch.manual_seed(seed)
    g = conditional_generator(t, t, 1, noise_dim=2, units=6, form=form)
    return SequenceGAN(g, sequence_discriminator(2 * t, 1, units=6), noise_dim=2)


def _toy(n=64, t=4, seed=0):
    """First half: a level; second half: the same level (a continuation a generator can learn)."""
    level = np.random.default_rng(seed).uniform(-1, 1, size=(n, 1, 1)).astype(np.float32)
    return np.repeat(level, t, axis=1), np.repeat(level, t, axis=1)


def test_conditional_gan_trains_both_networks_through_fit_with_callbacks():
    gan = _conditional()
    gan.compile(d_optimizer="adam", g_optimizer="adam")
    g0 = [p.detach().clone() for p in gan.generator.parameters()]
    d0 = [p.detach().clone() for p in gan.discriminator.parameters()]
    seen = []
    x, y = _toy()
    h = gan.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=0,
                callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(sorted(logs)))])
    assert len(seen) == 8 and seen[0] == ["d_loss", "g_loss", "supervised"]
    assert set(h.history) == {"d_loss", "g_loss", "supervised"}
    assert all(not torch.equal(a, b) for a, b in zip(g0, gan.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, gan.discriminator.parameters()))


def _toy_gan(lr_d, lr_g):
    torch.manual_seed(0)
    gan = SequenceGAN(unconditional_generator(6, 2, 1, units=6, output_activation="sigmoid"),
                      sequence_discriminator(6, 1, units=6), noise_dim=2)
    gan.compile(d_optimizer=torch.optim.Adam(gan.discriminator.parameters(), lr=lr_d, betas=(0.5, 0.999)),
                g_optimizer=torch.optim.Adam(gan.generator.parameters(), lr=lr_g, betas=(0.5, 0.999)))
    return gan


def test_each_network_moves_its_loss_the_right_way_on_a_toy():
    """Real series are a constant 0.8; the generator starts near 0.5. Against a frozen generator the
    discriminator's loss falls from ~2 log 2 (cannot tell) to near 0; against that frozen
    discriminator the generator's loss falls; trained together, the generator's mean moves to 0.8."""
    real = np.full((64, 6, 1), 0.8, np.float32)
    gan = _toy_gan(0.01, 0.0)
    h = gan.fit(real, batch_size=32, epochs=40, verbose=0, seed=0)
    assert h.history["d_loss"][0] > 1.2 and h.history["d_loss"][-1] < 0.3
    for group in gan.optimizer.discriminator.param_groups + gan.optimizer.generator.param_groups:
        group["lr"] = 0.0 if group in gan.optimizer.discriminator.param_groups else 0.01
    h = gan.fit(real, batch_size=32, epochs=5, verbose=0, seed=0)
    assert h.history["g_loss"][-1] < 0.5 * h.history["g_loss"][0]
    joint = _toy_gan(0.003, 0.003)
    start = float(joint.sample(256, 1, steps=6).mean())
    joint.fit(real, batch_size=32, epochs=30, verbose=0, seed=0)
    end = float(joint.sample(256, 1, steps=6).mean())
    assert abs(end - 0.8) < 0.5 * abs(start - 0.8), (start, end)


def _mse_to_truth(gan, x, y):
    torch.manual_seed(1)
    return float(((gan.sample(x, 8) - y[None]) ** 2).mean())


@pytest.mark.parametrize("loss", ["non_saturating", "wgan_gp"])
def test_the_supervised_term_pulls_samples_to_the_true_continuation(loss):
    gan = _conditional(form="encoder_decoder")
    gan.compile(loss=loss, d_steps=2, supervised_weight=10.0)
    x, y = _toy()
    before = _mse_to_truth(gan, x, y)
    h = gan.fit(x, y, batch_size=16, epochs=12, verbose=0, seed=0, validation_data=_toy(16, seed=1))
    assert np.isfinite(h.history["d_loss"]).all() and "val_supervised" in h.history
    assert _mse_to_truth(gan, x, y) < 0.5 * before


def _weights(m):
    return [p.detach().clone() for p in m.parameters()]


def test_a_seeded_fit_is_repeatable_and_another_seed_differs():
    runs = []
    for seed in (0, 0, 1):
        gan = _conditional()
        gan.compile()
        gan.fit(*_toy(), batch_size=16, epochs=2, verbose=0, seed=seed)
        torch.manual_seed(5)
        runs.append((_weights(gan), gan.sample(_toy(8)[0], 3)))
    for a, b in zip(runs[0][0], runs[1][0]):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[2][0]))


class _Crash(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt


def test_an_interrupted_fit_resumes_to_the_uninterrupted_weights(tmp_path):
    x, y = _toy()
    whole = _conditional()
    start = copy.deepcopy(whole.state_dict())
    whole.compile()
    whole.fit(x, y, batch_size=16, epochs=4, verbose=0, seed=0)
    gan = _conditional()
    gan.load_state_dict(start)
    gan.compile()
    with pytest.raises(KeyboardInterrupt):
        gan.fit(x, y, batch_size=16, epochs=4, verbose=0, seed=0,
                callbacks=[_Crash(), BackupAndRestore(str(tmp_path / "bk"))])
    resumed = _conditional(seed=3)  # another process: other initial weights, other optimizer state
    resumed.compile()
    resumed.fit(x, y, batch_size=16, epochs=4, verbose=0, seed=0, callbacks=[BackupAndRestore(str(tmp_path / "bk"))])
    for a, b in zip(_weights(whole), _weights(resumed)):
        torch.testing.assert_close(a, b)


def test_the_generator_saves_and_loads_as_a_plain_model(tmp_path):
    gan = _conditional(form="encoder_decoder")
    gan.compile()
    gan.fit(*_toy(), batch_size=16, epochs=1, verbose=0, seed=0)
    gan.generator.save(str(tmp_path / "g.seqlayers"))
    g2 = load_model(str(tmp_path / "g.seqlayers"))
    x, z = torch.randn(3, 4, 1), torch.randn(3, 4, 2)
    gan.generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(g2([x, z]), gan.generator([x, z]))


def test_sample_shapes_and_spread():
    gan = _conditional()
    s = gan.sample(_toy(5)[0], n_samples=7)
    assert s.shape == (7, 5, 4, 1) and s.std(axis=0).mean() > 0
    u = SequenceGAN(unconditional_generator(6, 2, 3, units=4), sequence_discriminator(6, 3, units=4), noise_dim=2)
    assert u.sample(10, 2, steps=6).shape == (2, 10, 6, 3)
    assert tuple(gan.predict(_toy(5)[0], verbose=0).shape) == (5, 4, 1)


def test_sample_folds_the_draws_into_the_batch_and_equals_one_generator_call_per_draw():
    gan = _conditional()
    x = torch.tensor(_toy(5)[0])
    torch.manual_seed(3)
    s = gan.sample(x.numpy(), n_samples=4, batch_size=1024)  # one call on the 4 * 5 folded rows
    torch.manual_seed(3)
    z = torch.randn(4 * 5, 4, 2)  # the same noise, drawn as sample() draws it
    gan.eval()
    with torch.no_grad():
        ref = np.stack([gan.generator([x, z[k * 5:(k + 1) * 5]]).numpy() for k in range(4)])  # draw by draw
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-6)
    torch.manual_seed(3)
    z = torch.cat([torch.randn(min(3, 20 - r), 4, 2) for r in range(0, 20, 3)])  # cut into calls of 3 rows
    with torch.no_grad():
        ref = np.stack([gan.generator([x, z[k * 5:(k + 1) * 5]]).numpy() for k in range(4)])
    torch.manual_seed(3)
    np.testing.assert_allclose(gan.sample(x.numpy(), n_samples=4, batch_size=3), ref, rtol=1e-5, atol=1e-6)


def test_sample_restores_the_training_mode_also_on_an_error():
    gan = _conditional()
    gan.train()
    with pytest.raises(ValueError, match=r"Concatenate 'first_half_and_noise': inputs must match"):
        gan.sample(np.zeros((2, 7, 3), np.float32), n_samples=2)  # wrong shape: the generator refuses
    assert gan.training and gan.generator.training
    gan.eval()
    gan.sample(_toy(2)[0], n_samples=2)
    assert not gan.training


def _compile_without_adversary(gan, **term):
    """The adversarial part frozen out (the discriminator's last layer zeroed, its learning rate 0), so
    only ``term`` (moment_weight=... or correlation_weight=...) trains the generator."""
    with torch.no_grad():
        for p in gan.discriminator.layers[-1].parameters():
            p.zero_()
    gan.compile(d_optimizer=torch.optim.SGD(gan.discriminator.parameters(), lr=0.0),
                g_optimizer=torch.optim.Adam(gan.generator.parameters(), lr=0.02), **term)


def test_the_moment_term_alone_moves_the_generated_batch_moments_to_the_real_ones():
    """With the adversarial part frozen out (discriminator lr 0, its output ignored by a zero last
    layer), only the moment term trains the generator: its loss falls and is logged."""
    torch.manual_seed(0)
    real = np.random.default_rng(0).normal(0.7, 0.1, size=(64, 6, 1)).astype(np.float32)
    gan = SequenceGAN(unconditional_generator(6, 2, 1, units=6, output_activation="sigmoid"),
                      sequence_discriminator(6, 1, units=6), noise_dim=2)
    _compile_without_adversary(gan, moment_weight=1.0)
    h = gan.fit(real, batch_size=64, epochs=60, verbose=0, seed=0)
    assert h.history["moments"][-1] < 0.3 * h.history["moments"][0]
    fake = gan.sample(512, 1, steps=6)[0]
    assert abs(fake.mean() - 0.7) < 0.05
    with pytest.raises(ValueError, match=r"moment_weight must be >= 0 .*TimeGAN uses 100\), got -1"):
        gan.compile(moment_weight=-1)


def test_the_correlation_term_alone_decorrelates_the_generated_features():
    """Untrained (static noise of 2 dimensions), the generator's two features move together; with the
    adversarial part frozen out, the correlation term alone drives the generated features' batch
    correlation towards the real one (independent features)."""
    torch.manual_seed(0)
    real = np.random.default_rng(0).uniform(size=(128, 4, 2)).astype(np.float32)
    gan = SequenceGAN(unconditional_generator(4, 2, 2, units=8), sequence_discriminator(4, 2, units=4),
                      noise_dim=2, static_noise=True)
    before = gan.sample(1000, 1, steps=4)[0]
    assert np.corrcoef(before[:, -1].T)[0, 1] > 0.5  # untrained: both features move together
    _compile_without_adversary(gan, correlation_weight=1.0)
    h = gan.fit(real, batch_size=128, epochs=40, verbose=0, seed=0)
    assert h.history["correlation"][-1] < 0.5 * h.history["correlation"][0]
    fake = gan.sample(1000, 1, steps=4)[0]
    assert abs(np.corrcoef(fake[:, -1].T)[0, 1]) < 0.2
    with pytest.raises(ValueError, match=r"correlation_weight must be >= 0 .*got -0.5"):
        gan.compile(correlation_weight=-0.5)


def test_compile_errors_teach():
    u = SequenceGAN(unconditional_generator(6, 2, 1, units=4), sequence_discriminator(6, 1, units=4), noise_dim=2)
    with pytest.raises(ValueError, match=r"supervised_weight must be >= 0 and needs a conditional generator"):
        u.compile(supervised_weight=1.0)
    with pytest.raises(ValueError, match=r"d_steps must be a positive integer, got 0"):
        u.compile(d_steps=0)
    with pytest.raises(ValueError, match=r"SequenceGAN: noise_dim must be a positive integer, got 0"):
        SequenceGAN(u.generator, u.discriminator, noise_dim=0)


def test_static_noise_is_one_draw_per_series_repeated_at_every_step():
    u = SequenceGAN(unconditional_generator(6, 2, 1, units=4), sequence_discriminator(6, 1, units=4), noise_dim=3,
                    static_noise=True)
    z = u.noise(4, 5)
    assert tuple(z.shape) == (4, 5, 3) and torch.equal(z, z[:, :1].expand(4, 5, 3)) and not torch.equal(z[0], z[1])
    z = SequenceGAN(u.generator, u.discriminator, noise_dim=3).noise(4, 5)
    assert not torch.equal(z[:, 0], z[:, 1])


def test_the_weight_average_follows_the_generator_and_is_what_sample_uses():
    gan = _conditional()
    gan = SequenceGAN(gan.generator, gan.discriminator, noise_dim=2, ema=0.5)
    before = [p.detach().clone() for p in gan.generator.parameters()]
    gan.compile()
    x, y = _toy(16)
    gan.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=0)  # one generator step: avg = (before + after) / 2
    for avg, p, b in zip(gan.generator_ema.parameters(), gan.generator.parameters(), before):
        torch.testing.assert_close(avg, 0.5 * (b + p.detach()))
    assert gan.sampler is gan.generator_ema and "generator_ema.head.layer.kernel" in " ".join(gan.state_dict())
    with pytest.raises(ValueError, match=r"ema must be a decay in \[0, 1\)"):
        SequenceGAN(gan.generator, gan.discriminator, noise_dim=2, ema=1.0)
