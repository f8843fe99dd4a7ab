"""Sequence GANs: the seed 001 reader's generator (first half -> second half), a recurrent
discriminator, an unconditional generator for TimeGAN's benchmark, the GAN on ``fit``, and the
measures of Yoon et al. 2019 (see docs/gan.md)."""
from .builders import conditional_generator, sequence_discriminator, unconditional_generator
from .gan import SequenceGAN
from .losses import LOSSES
from .optimizer_pair import OptimizerPair
from .scores import crps, discriminative_score, pca_2d, predictive_score, spread

__all__ = ["LOSSES", "OptimizerPair", "SequenceGAN", "conditional_generator", "crps", "discriminative_score",
           "pca_2d", "predictive_score", "sequence_discriminator", "spread", "unconditional_generator"]
