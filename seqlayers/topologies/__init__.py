"""The five sequence topologies as small, ordinary models you can inspect and change.

Each builder returns a plain ``Sequential`` (or functional ``Model``) made of the same layers you
would write by hand, so ``model.summary()``, ``model.explain()`` and ``model.layers`` show exactly
what was built. The pictures read bottom-up: inputs, the recurrent steps, outputs.

=========================  ==========================  ==============================================
builder                    topology                    layers
=========================  ==========================  ==============================================
``one_to_one``             one-to-one                  Dense (-> Dense)
``one_to_many``            one-to-many                 RepeatVector -> LSTM(return_sequences) -> TD(Dense)
``many_to_one``            many-to-one                 LSTM -> Dense
``many_to_many``           many-to-many (aligned)      LSTM(return_sequences) -> TimeDistributed(Dense)
``last_n_steps``           many-to-many, T_out < T_in  LSTM(return_sequences) -> Lambda(last N) -> TD(Dense)
``encoder_decoder_repeat`` many-to-many, any T_out     LSTM -> RepeatVector -> LSTM(return_sequences) -> TD
``encoder_decoder``        many-to-many, variable      encoder states -> decoder (teacher forcing),
                                                       greedy step-by-step decoding with a stop token
``segment_rnn``            many-to-many, T_out != T_in SegRNN forecaster: segments -> GRU -> parallel
                                                       decoder (``topologies/segrnn.py``)
=========================  ==========================  ==============================================

``cell`` is ``"lstm"``, ``"gru"`` or ``"simple_rnn"`` everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import unknown_name_error
from ..layers import recurrent
from ..layers.attention import AdditiveAttention, Attention
from ..layers.core import Dense, Lambda
from ..layers.merging import Concatenate
from ..layers.reshaping import RepeatVector
from ..layers.wrappers import TimeDistributed
from ..models.functional import Model
from ..models.sequential import Sequential
from ..models.symbolic import Input
from ..serialization import register_function

CELLS = ("lstm", "gru", "simple_rnn")


def _rnn(cell: str):
    table = {"lstm": recurrent.LSTM, "gru": recurrent.GRU, "simple_rnn": recurrent.SimpleRNN}
    if cell not in table:
        raise unknown_name_error("cell", cell, table, "topologies")
    return table[cell]


@register_function
def last_steps(x: torch.Tensor, n: int) -> torch.Tensor:
    """Keep the last ``n`` time steps: ``x[:, -n:, :]`` (seed 001's Lambda).

    A named, registered function (not an anonymous lambda), so a model using it can be saved and
    loaded: ``Lambda(last_steps, arguments={"n": 3})``.
    """
    return x[:, -n:]  # (B, T, F) -> (B, n, F)


def one_to_one(n_features: int, n_outputs: int, units: int | None = None, activation: str = "relu",
               output_activation=None) -> Sequential:
    """A vector in, a vector out: ``Dense`` (seed 001, 1), with an optional hidden ``Dense(units)``.

    ``(B, F) -> (B, n_outputs)``::

        O      output
        |
        O      input
    """
    layers = []
    if units:
        layers.append(Dense(units, activation=activation, input_shape=(n_features,)))
    layers.append(Dense(n_outputs, activation=output_activation, **({} if units else {"input_shape": (n_features,)})))
    return Sequential(layers, name="one_to_one")


def one_to_many(n_features: int, n_steps: int, n_outputs: int, units: int = 32, cell: str = "lstm",
                output_activation=None) -> Sequential:
    """A vector in, a sequence of ``n_steps`` out (seed 001, 2): the vector is repeated at every step.

    ``(B, F) -> RepeatVector -> (B, n_steps, F) -> LSTM(return_sequences) -> (B, n_steps, H)
    -> TimeDistributed(Dense) -> (B, n_steps, n_outputs)``::

        O O O O      outputs
        | | | |
        O O O O      recurrent steps
        |
        O            input
    """
    RNN = _rnn(cell)
    return Sequential([
        RepeatVector(n_steps, input_shape=(n_features,)),
        RNN(units, return_sequences=True),
        TimeDistributed(Dense(n_outputs, activation=output_activation)),
    ], name="one_to_many")


def many_to_one(n_steps: int | None, n_features: int, n_outputs: int, units: int = 32, cell: str = "lstm",
                output_activation=None) -> Sequential:
    """A sequence in, one vector out (seed 001, 3): the recurrent layer returns its last step only.

    ``(B, T, F) -> LSTM -> (B, H) -> Dense -> (B, n_outputs)``::

              O      output
              |
        O O O O      recurrent steps
        | | | |
        O O O O      inputs
    """
    RNN = _rnn(cell)
    return Sequential([
        RNN(units, input_shape=(n_steps, n_features)),
        Dense(n_outputs, activation=output_activation),
    ], name="many_to_one")


def many_to_many(n_steps: int | None, n_features: int, n_outputs: int, units: int = 32, cell: str = "lstm",
                 output_activation=None) -> Sequential:
    """One output per input step (seeds 000, 002, 004): ``return_sequences=True`` + ``TimeDistributed``.

    ``(B, T, F) -> LSTM(return_sequences) -> (B, T, H) -> TimeDistributed(Dense) -> (B, T, n_outputs)``,
    the same ``Dense`` weights at every step::

        O O O O      outputs
        | | | |
        O O O O      recurrent steps
        | | | |
        O O O O      inputs
    """
    RNN = _rnn(cell)
    return Sequential([
        RNN(units, input_shape=(n_steps, n_features), return_sequences=True),
        TimeDistributed(Dense(n_outputs, activation=output_activation)),
    ], name="many_to_many")


def last_n_steps(n_steps: int | None, n_features: int, n_out_steps: int, n_outputs: int, units: int = 32,
                 cell: str = "lstm", output_activation=None) -> Sequential:
    """Outputs for the last ``n_out_steps`` input steps only (seed 001's ``Lambda(lambda x: x[:, -N:, :])``).

    ``(B, T, F) -> LSTM(return_sequences) -> (B, T, H) -> Lambda(last N) -> (B, N, H)
    -> TimeDistributed(Dense) -> (B, N, n_outputs)``::

            O O O    outputs
            | | |
        O O O O O    recurrent steps
        | | | | |
        O O O O O    inputs
    """
    if not isinstance(n_out_steps, int) or n_out_steps <= 0 or (n_steps is not None and n_out_steps > n_steps):
        raise ValueError(f"last_n_steps: n_out_steps must be a positive integer <= n_steps ({n_steps}), "
                         f"got {n_out_steps!r}. For more output steps than input steps use encoder_decoder.")
    RNN = _rnn(cell)
    return Sequential([
        RNN(units, input_shape=(n_steps, n_features), return_sequences=True),
        Lambda(last_steps, arguments={"n": n_out_steps}, name="last_steps"),
        TimeDistributed(Dense(n_outputs, activation=output_activation)),
    ], name="last_n_steps")


def encoder_decoder_repeat(n_steps: int | None, n_features: int, n_out_steps: int, n_outputs: int,
                           units: int = 32, cell: str = "lstm", output_activation=None) -> Sequential:
    """Seed 001 (B): the encoder's last state, repeated ``n_out_steps`` times, feeds a decoder.

    ``(B, T_in, F) -> LSTM -> (B, H) -> RepeatVector -> (B, T_out, H) -> LSTM(return_sequences)
    -> (B, T_out, H) -> TimeDistributed(Dense) -> (B, T_out, n_outputs)``::

                    O O O    outputs
                    | | |
        O O O O O O O O O    encoder steps, then decoder steps
        | | | | | |
        O O O O O O          inputs
    """
    RNN = _rnn(cell)
    return Sequential([
        RNN(units, input_shape=(n_steps, n_features), name="encoder"),
        RepeatVector(n_out_steps),
        RNN(units, return_sequences=True, name="decoder"),
        TimeDistributed(Dense(n_outputs, activation=output_activation)),
    ], name="encoder_decoder_repeat")


# ---------------------------------------------------------------- seq2seq with teacher forcing
@dataclass
class Seq2Seq:
    """An encoder-decoder for outputs of any length: three models sharing the same layers.

    model: the training model, ``[encoder_inputs (B, T_in, F_in), decoder_inputs (B, T_out, V)]
        -> (B, T_out, V)`` softmax; the decoder input is the target shifted right by one step
        (``teacher_forcing``), so at each step the decoder sees the true previous token.
    encoder: ``encoder_inputs -> states`` (plus the encoder's outputs when attention is used).
    decoder: one or more steps: ``[tokens (B, t, V), *states(, encoder_outputs)] -> [probs, *states]``.
    Compile and fit ``model``; ``decode`` runs ``encoder`` once and ``decoder`` one step at a time.
    """

    model: Model
    encoder: Model
    decoder: Model
    n_tokens: int
    attention: str | None = None

    def topology(self):
        return self.model.topology()

    def explain(self, path=None, print_fn=None) -> None:
        """Print the training model's shape trace and diagram (see ``Model.explain``)."""
        self.model.explain(path=path, print_fn=print_fn)

    def explain_text(self):
        """The training model's shape trace and diagram as a string (see ``Model.explain_text``)."""
        return self.model.explain_text()

    def teacher_forcing(self, targets, start: int) -> torch.Tensor:
        """Decoder inputs for training: ``[start] + targets[:-1]``, one-hot.

        targets: token ids ``(B, T_out)`` (ints) or one-hot ``(B, T_out, V)``.
        """
        targets = torch.as_tensor(targets)
        ids = targets.argmax(-1) if targets.dim() == 3 else targets.long()
        B = ids.shape[0]
        shifted = torch.cat([torch.full((B, 1), start, dtype=torch.long), ids[:, :-1]], dim=1)  # (B, T_out)
        return torch.nn.functional.one_hot(shifted, self.n_tokens).float()

    def one_hot(self, ids) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.as_tensor(ids).long(), self.n_tokens).float()

    @torch.no_grad()
    def decode(self, x, max_len: int, start: int, stop: int | None = None) -> list[list[int]]:
        """Greedy decoding: feed ``start``, take the most likely token, feed it back, until ``stop``
        (not included in the result) or ``max_len`` tokens. Returns one list of ids per sample."""
        was_training = self.model.training
        self.model.eval()
        try:
            x = torch.as_tensor(x, dtype=torch.float32)
            enc = self.encoder(x)
            enc = list(enc) if isinstance(enc, (list, tuple)) else [enc]
            memory = enc.pop(0) if self.attention else None  # (B, T_in, H) encoder outputs
            states = enc
            B = x.shape[0]
            token = torch.full((B,), start, dtype=torch.long)
            tokens, done = [], torch.zeros(B, dtype=torch.bool)
            for _ in range(max_len):
                step = self.one_hot(token)[:, None, :]  # (B, 1, V)
                res = self.decoder([step, *states] + ([memory] if memory is not None else []))
                probs, states = res[0], list(res[1:])
                token = probs[:, -1].argmax(-1)  # (B,)
                tokens.append(token)
                if stop is not None:
                    done |= token == stop
                if bool(done.all()):
                    break
            ids = torch.stack(tokens, 1) if tokens else torch.zeros((B, 0), dtype=torch.long)  # (B, steps)
            # each sample's tokens before its first stop
            kept = (ids != stop).cumprod(1).bool() if stop is not None else torch.ones_like(ids, dtype=torch.bool)
            return [row[keep].tolist() for row, keep in zip(ids, kept)]
        finally:
            self.model.train(was_training)


def encoder_decoder(n_features: int, n_tokens: int, units: int = 64, cell: str = "lstm",
                    attention: str | None = None, n_steps: int | None = None) -> Seq2Seq:
    """Sequence to sequence with outputs of their own length (keras-io's character seq2seq).

    The encoder reads ``(B, T_in, n_features)`` and hands its final states to the decoder as
    ``initial_state``. The decoder is trained with teacher forcing on one-hot tokens
    ``(B, T_out, n_tokens)`` and predicts the next token at every step (softmax). At inference,
    ``Seq2Seq.decode`` runs it step by step, greedily, until a stop token.
    ``attention="dot"`` (``Attention``) or ``"additive"`` (``AdditiveAttention``) lets every decoder
    step look at every encoder step, concatenating the context to the decoder output::

                      O O O O    outputs (next tokens)
                      | | | |
        O O O O O O = O O O O    encoder steps = states => decoder steps
        | | | | | |   | | | |
        O O O O O O   O O O O    inputs, then [start] + previous target tokens
    """

    if attention not in (None, "dot", "additive"):
        raise ValueError(f"encoder_decoder: attention must be None, 'dot' or 'additive', got {attention!r}.")
    RNN = _rnn(cell)
    enc_in = Input(shape=(n_steps, n_features), name="encoder_inputs")
    dec_in = Input(shape=(None, n_tokens), name="decoder_inputs")
    encoder_rnn = RNN(units, return_state=True, return_sequences=bool(attention), name="encoder")
    decoder_rnn = RNN(units, return_sequences=True, return_state=True, name="decoder")
    head = Dense(n_tokens, activation="softmax", name="next_token")
    enc = encoder_rnn(enc_in)
    memory, states = (enc[0], enc[1:]) if attention else (None, enc[1:])
    n_states = len(states)
    dec = decoder_rnn(dec_in, initial_state=list(states))
    if attention:
        attend = (Attention if attention == "dot" else AdditiveAttention)(name="attention")
        join = Concatenate(name="with_context")

        def top(dec_seq, mem):
            return head(join([dec_seq, attend([dec_seq, mem])]))
    else:
        def top(dec_seq, mem):
            return head(dec_seq)
    model = Model([enc_in, dec_in], top(dec[0], memory), name="seq2seq")
    encoder = Model(enc_in, ([memory] if attention else []) + list(states), name="seq2seq_encoder")
    # the step model: same layer objects, so the same weights
    step_in = Input(shape=(None, n_tokens), name="decoder_step_inputs")
    state_in = [Input(shape=(units,), name=f"decoder_state_{i}") for i in range(n_states)]
    mem_in = [Input(shape=(None, units), name="encoder_outputs")] if attention else []
    step = decoder_rnn(step_in, initial_state=state_in)
    decoder = Model([step_in, *state_in, *mem_in], [top(step[0], mem_in[0] if mem_in else None), *step[1:]],
                    name="seq2seq_decoder")
    return Seq2Seq(model, encoder, decoder, n_tokens, attention)


from .segrnn import segment_rnn  # noqa: E402  (it builds its recurrent layer with _rnn above)

__all__ = ["segment_rnn", "one_to_one", "one_to_many", "many_to_one", "many_to_many", "last_n_steps",
           "encoder_decoder_repeat", "encoder_decoder", "Seq2Seq", "last_steps", "CELLS"]
