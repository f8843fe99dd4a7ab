"""The networks of a sequence GAN, as ordinary models of our layers (``summary()`` / ``explain()`` show them).

=============================  =========================================================================
builder                        graph
=============================  =========================================================================
``conditional_generator``      first half ``x (B, T1, F)`` + noise ``z (B, T2, Z)`` -> second half
                               ``(B, T2, F)``; ``form="aligned"`` (T1 == T2, seed 001's point 4): concat
                               ``[x, z]`` per step -> RNN(return_sequences) -> TimeDistributed(Dense);
                               ``form="encoder_decoder"`` (any T2): RNN(x) -> states -> RNN(z,
                               initial_state=states, return_sequences) -> TimeDistributed(Dense)
``sequence_discriminator``     ``(B, T, F)`` -> [Bidirectional] RNN ... -> RNN (last step) -> Dense(1):
                               one logit (or critic value) per series, many-to-one
``unconditional_generator``    noise ``(B, T, Z)`` -> RNN(return_sequences) ... -> TimeDistributed(Dense)
                               -> ``(B, T, F)`` (TimeGAN's benchmark: series from noise alone)
=============================  =========================================================================

The noise is an input of the generator (not drawn inside it), so a generator is a deterministic
function that saves, loads and exports like any model; ``SequenceGAN`` draws the noise.
"""
from __future__ import annotations

from ..layers.bidirectional import Bidirectional
from ..layers.core import Dense
from ..layers.merging import Concatenate
from ..layers.wrappers import TimeDistributed
from ..models.functional import Model
from ..models.sequential import Sequential
from ..models.symbolic import Input
from ..topologies import _rnn as rnn_class

FORMS = ("auto", "aligned", "encoder_decoder")


def _check_positive(who: str, **values) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{who}: {name} must be a positive integer, got {v!r}.")


def generator_form(form: str, n_in: int, n_out: int) -> str:
    """``"aligned"`` or ``"encoder_decoder"`` for ``form`` (``"auto"``: aligned when the halves are equal)."""
    if form not in FORMS:
        raise ValueError(f"conditional_generator: form must be one of {', '.join(FORMS)}, got {form!r}.")
    if form == "auto":
        return "aligned" if n_in == n_out else "encoder_decoder"
    if form == "aligned" and n_in != n_out:
        raise ValueError(f"conditional_generator: the aligned form emits one output step per input step, so it "
                         f"needs n_in == n_out; got n_in={n_in}, n_out={n_out}. Use form='encoder_decoder' for "
                         f"halves of different lengths.")
    return form


def conditional_generator(n_in: int, n_out: int, n_features: int, noise_dim: int = 8, units: int = 32,
                          cell: str = "lstm", form: str = "auto", output_activation=None) -> Model:
    """First half of a series plus noise in, a sampled second half out.

    Args:
        n_in: steps of the given first half (``T1``).
        n_out: steps to generate (``T2``).
        n_features: features per step (``F``), in and out.
        noise_dim: noise features per generated step (``Z``).
        units: recurrent units (``H``).
        cell: ``"lstm"``, ``"gru"`` or ``"simple_rnn"``.
        form: ``"aligned"`` (T1 == T2: output step t reads ``x[:t+1]`` and ``z[:t+1]``, the reader's
            point 4), ``"encoder_decoder"`` (the encoder reads all of ``x``; its states start a decoder
            that reads ``z``, so the first generated step already knows the whole first half), or
            ``"auto"`` (aligned when T1 == T2).
        output_activation: of the last ``Dense`` (``"sigmoid"`` for data scaled to [0, 1]).

    Shape:
        inputs ``[x (B, T1, F), z (B, T2, Z)]``; output ``(B, T2, F)``.
    """
    _check_positive("conditional_generator", n_in=n_in, n_out=n_out, n_features=n_features,
                    noise_dim=noise_dim, units=units)
    form = generator_form(form, n_in, n_out)
    RNN = rnn_class(cell)
    x = Input(shape=(n_in, n_features), name="first_half")
    z = Input(shape=(n_out, noise_dim), name="noise")
    head = TimeDistributed(Dense(n_features, activation=output_activation), name="head")
    if form == "aligned":
        h = Concatenate(name="first_half_and_noise")([x, z])  # (B, T, F + Z)
        h = RNN(units, return_sequences=True, name="recurrent")(h)  # (B, T, H)
    else:
        _, *states = RNN(units, return_state=True, name="encoder")(x)  # [h] or [h, c], each (B, H)
        h = RNN(units, return_sequences=True, name="decoder")(z, initial_state=states)  # (B, T2, H)
    return Model([x, z], head(h), name=f"generator_{form}")


def sequence_discriminator(n_steps: int | None, n_features: int, units: int = 32, cell: str = "gru",
                           n_layers: int = 1, bidirectional: bool = False) -> Sequential:
    """A whole series in, one logit out (many-to-one): real (high) or generated (low).

    Args:
        n_steps: steps of the series it judges (``T1 + T2`` for the conditional GAN: it sees the real
            first half joined with a real or a generated second half), or None for any length.
        n_features: features per step.
        units: recurrent units per layer (per direction).
        cell: ``"lstm"``, ``"gru"`` or ``"simple_rnn"``.
        n_layers: stacked recurrent layers (all but the last return sequences).
        bidirectional: wrap each recurrent layer in ``Bidirectional`` (merge ``concat``), so the
            verdict reads the series from both ends.

    Shape:
        input ``(B, T, F)``; output ``(B, 1)``: a logit (non-saturating loss) or a critic value (WGAN-GP).
    """
    _check_positive("sequence_discriminator", n_features=n_features, units=units, n_layers=n_layers)
    RNN = rnn_class(cell)
    layers = []
    for i in range(n_layers):
        shape = {"input_shape": (n_steps, n_features)} if i == 0 else {}
        rnn = RNN(units, return_sequences=i < n_layers - 1, **({} if bidirectional else shape))
        layers.append(Bidirectional(rnn, **shape) if bidirectional else rnn)
    layers.append(Dense(1, name="verdict"))
    return Sequential(layers, name="discriminator")


def unconditional_generator(n_steps: int | None, noise_dim: int, n_features: int, units: int = 32,
                            cell: str = "gru", n_layers: int = 2, output_activation=None) -> Sequential:
    """A noise sequence in, a series out (TimeGAN's unconditional benchmark).

    Args:
        n_steps: steps generated (one per noise step), or None for any length.
        noise_dim: noise features per step (``Z``).
        n_features: features per generated step (``F``).
        units: recurrent units per layer.
        cell: ``"lstm"``, ``"gru"`` or ``"simple_rnn"``.
        n_layers: stacked recurrent layers, each returning sequences.
        output_activation: of the last ``Dense`` (``"sigmoid"`` for data scaled to [0, 1]).

    Shape:
        input ``(B, T, Z)``; output ``(B, T, F)``.
    """
    _check_positive("unconditional_generator", noise_dim=noise_dim, n_features=n_features, units=units,
                    n_layers=n_layers)
    RNN = rnn_class(cell)
    layers = [RNN(units, return_sequences=True, **({"input_shape": (n_steps, noise_dim)} if i == 0 else {}))
              for i in range(n_layers)]
    layers.append(TimeDistributed(Dense(n_features, activation=output_activation), name="head"))
    return Sequential(layers, name="generator_unconditional")


__all__ = ["FORMS", "conditional_generator", "generator_form", "sequence_discriminator", "unconditional_generator"]
