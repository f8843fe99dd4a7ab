"""``seqlayers demo``: the TimeDistributed tutorial's echo problem (seed 003), trained and explained.

The sequence ``[0.0, 0.2, 0.4, 0.6, 0.8]`` must be given back, learned five ways (Keras's tutorial:
adam, mean squared error). Each model is an ordinary ``Sequential`` built and trained as a user
would (``compile`` / ``fit``); the demo prints its topology, the shape trace with the time axis
named, the parameter count, the final loss and the predictions, and draws one figure with the loss
curves and predictions.

=================  =========================================================  ======  ==============
name               model (input -> output)                                    params  epochs / batch
=================  =========================================================  ======  ==============
``one_to_one``     LSTM(5) -> Dense(1); (5, 1, 1) -> (5, 1), one step each      146     1000 / 5
``many_to_one``    LSTM(5) -> Dense(5); (1, 5, 1) -> (1, 5), a vector           170      500 / 1
``many_to_many``   LSTM(5, return_sequences) -> TimeDistributed(Dense(1))       146     1000 / 1
``one_to_many``    RepeatVector(5) -> LSTM(8, return_sequences) -> TD(Dense(1))           a vector of 5 -> 5 steps
``encoder_decoder`` LSTM -> RepeatVector(3) -> LSTM(return_sequences) -> TD      5 steps in -> the first 3 out
``seq2seq``        encoder states -> decoder, teacher forcing, greedy decoding with a stop token
=================  =========================================================  ======  ==============
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import topologies
from .errors import require_extra
from .layers import LSTM, Dense, TimeDistributed
from .models import Model, Sequential

ECHO = np.array([i / 5 for i in range(5)], dtype="float32")  # [0.0, 0.2, 0.4, 0.6, 0.8]


@dataclass
class Example:
    """One trained example: the model, its data, the loss history and the predictions."""

    name: str
    title: str
    model: Model
    x: np.ndarray
    y: np.ndarray
    losses: list = field(default_factory=list)
    pred: np.ndarray | None = None
    expected: np.ndarray | None = None
    seconds: float = 0.0
    decoded: list | None = None  # the greedy decodings (seq2seq only), one list of tokens a sample


def _fit(model, x, y, epochs, batch_size, loss="mean_squared_error"):
    model.compile(loss=loss, optimizer="adam")
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False)
    return list(history.history["loss"])


def one_to_one(epochs=1000):
    """Tutorial part 1: each value on its own, as 5 samples of one time step."""

    x, y = ECHO.reshape(5, 1, 1), ECHO.reshape(5, 1)
    model = Sequential([LSTM(5, input_shape=(1, 1)), Dense(1)], name="one_to_one")
    losses = _fit(model, x, y, epochs, batch_size=5)
    return Example("one_to_one", "one-to-one: LSTM(5) -> Dense(1)", model, x, y, losses,
                   model.predict(x, verbose=0).reshape(-1), ECHO)


def many_to_one(epochs=500):
    """Tutorial part 2: the whole sequence in, the whole sequence out as one vector (no TimeDistributed)."""

    x, y = ECHO.reshape(1, 5, 1), ECHO.reshape(1, 5)
    model = Sequential([LSTM(5, input_shape=(5, 1)), Dense(5)], name="many_to_one")
    losses = _fit(model, x, y, epochs, batch_size=1)
    return Example("many_to_one", "many-to-one: LSTM(5) -> Dense(5)", model, x, y, losses,
                   model.predict(x, verbose=0).reshape(-1), ECHO)


def many_to_many(epochs=1000):
    """Tutorial part 3: one output per step, the same Dense at every step."""

    x, y = ECHO.reshape(1, 5, 1), ECHO.reshape(1, 5, 1)
    model = Sequential([LSTM(5, input_shape=(5, 1), return_sequences=True), TimeDistributed(Dense(1))],
                       name="many_to_many")
    losses = _fit(model, x, y, epochs, batch_size=1)
    return Example("many_to_many", "many-to-many: LSTM(5, return_sequences) -> TimeDistributed(Dense(1))",
                   model, x, y, losses, model.predict(x, verbose=0).reshape(-1), ECHO)


def one_to_many(epochs=500):
    """The sequence given as one vector of 5 values, written out one value per step."""
    x, y = ECHO.reshape(1, 5), ECHO.reshape(1, 5, 1)
    model = topologies.one_to_many(n_features=5, n_steps=5, n_outputs=1, units=8)
    losses = _fit(model, x, y, epochs, batch_size=1)
    return Example("one_to_many", "one-to-many: RepeatVector(5) -> LSTM(8, return_sequences) -> TD(Dense(1))",
                   model, x, y, losses, model.predict(x, verbose=0).reshape(-1), ECHO)


def encoder_decoder(epochs=500):
    """Seed 001 (B): read 5 steps, write back the first 3 (output length != input length)."""

    x, y = ECHO.reshape(1, 5, 1), ECHO[:3].reshape(1, 3, 1)
    model = topologies.encoder_decoder_repeat(n_steps=5, n_features=1, n_out_steps=3, n_outputs=1, units=8)
    losses = _fit(model, x, y, epochs, batch_size=1)
    return Example("encoder_decoder", "encoder-decoder: LSTM -> RepeatVector(3) -> LSTM(return_sequences) -> TD",
                   model, x, y, losses, model.predict(x, verbose=0).reshape(-1), ECHO[:3])


#: With the tutorial's 1000 epochs the many-to-many model is borderline: Keras 3 itself (torch
#: backend, seeds 0-2) ends with 0.05-0.06 for the first value, which rounds to 0.1. Seed 3 makes
#: all six examples here round right; other seeds may need --epochs.
DEFAULT_SEED = 3

START, STOP, FIRST_VALUE = 0, 1, 2  # token ids: value i/5 is token FIRST_VALUE + i


def seq2seq(epochs=500):
    """Encoder states -> decoder with teacher forcing; greedy decoding stops at a stop token.

    Sample k holds the last k values of the echo sequence (front-padded, with a 'present' flag);
    the answer is those k values as tokens, then STOP: outputs of 1 to 5 steps.
    """

    n_tokens = FIRST_VALUE + 5
    x = np.zeros((5, 5, 2), dtype="float32")  # (samples, time, [value, present])
    targets = np.full((5, 6), STOP)
    for k in range(1, 6):
        x[k - 1, 5 - k:, 0] = ECHO[5 - k:]
        x[k - 1, 5 - k:, 1] = 1.0
        targets[k - 1, :k] = FIRST_VALUE + np.arange(5 - k, 5)
    s2s = topologies.encoder_decoder(n_features=2, n_tokens=n_tokens, units=16)
    dec_in = s2s.teacher_forcing(targets, START).numpy()
    y = s2s.one_hot(targets).numpy()
    losses = _fit(s2s.model, [x, dec_in], y, epochs, batch_size=5, loss="categorical_crossentropy")
    decoded = s2s.decode(x, max_len=6, start=START, stop=STOP)
    pred = np.concatenate([(np.array(d) - FIRST_VALUE) / 5.0 for d in decoded]).astype("float32")
    expected = np.concatenate([ECHO[5 - k:] for k in range(1, 6)])
    ex = Example("seq2seq", "seq2seq: encoder states -> decoder (teacher forcing), greedy decoding to STOP",
                 s2s.model, x, targets, losses, pred, expected)
    ex.decoded = decoded
    return ex


EXAMPLES = {f.__name__: f for f in (one_to_one, many_to_one, many_to_many, one_to_many, encoder_decoder, seq2seq)}


def _values(a) -> str:
    return " ".join(f"{v:.1f}" for v in np.asarray(a, dtype="float64").reshape(-1))


def report(ex: Example, print_fn=print) -> bool:
    """Print one example; True when the predictions round to the expected values."""
    assert ex.expected is not None  # every example sets its expected values
    print_fn("=" * 78)
    print_fn(ex.title)
    print_fn("-" * 78)
    ex.model.explain(print_fn=print_fn)
    print_fn(f"\nparameters: {ex.model.count_params()}   epochs: {len(ex.losses)}   "
             f"final loss: {ex.losses[-1]:.6f}   time: {ex.seconds:.1f}s")
    ok = ex.pred is not None and len(ex.pred) == len(ex.expected) and \
        bool(np.all(np.round(ex.pred.astype("float64"), 1) == np.round(ex.expected.astype("float64"), 1)))
    verdict = "all round to the expected values" if ok else "NOT all right yet: train longer"
    if ex.decoded is not None:  # one line per sample: each answer has its own length
        print_fn(f"decoded (greedy, until STOP), one sample a line ({verdict}):")
        start = 0
        for k, d in enumerate(ex.decoded):
            n = k + 1  # sample k+1 answers with the last k+1 values of the echo sequence
            print_fn(f"  sample {k + 1}: expected {_values(ex.expected[start:start + n])}   decoded "
                     f"{' '.join(f'{(t - FIRST_VALUE) / 5:.1f}' for t in d)}")
            start += n
        return ok
    print_fn(f"expected:    {_values(ex.expected)}")
    print_fn(f"predictions: {_values(ex.pred)}   ({verdict})")
    return ok


def figure(examples: list[Example], path) -> None:
    """One PNG: each example's loss curve (top) and its predictions against the targets (bottom)."""
    matplotlib = require_extra("matplotlib", "plots", "seqlayers demo's figure (--out '' for none)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = len(examples)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 5.6), squeeze=False)
    for k, ex in enumerate(examples):
        top, bottom = axes[0][k], axes[1][k]
        assert ex.pred is not None and ex.expected is not None  # set by every example
        top.plot(ex.losses)
        top.set_yscale("log")
        top.set_title(ex.name, fontsize=9)
        top.set_xlabel("epoch", fontsize=8)
        if k == 0:
            top.set_ylabel("training loss", fontsize=8)
        decoded = ex.decoded
        if decoded is not None:  # one line per decoded sequence (each sample's answer has its own length)
            start = 0
            for k, d in enumerate(decoded):
                n = k + 1  # sample k+1 answers with the last k+1 values of the echo sequence
                target = ex.expected[start:start + n]
                got = (np.array(d, dtype="float64") - FIRST_VALUE) / 5.0
                bottom.plot(np.arange(1, n + 1), target, "o-", color="C0", alpha=0.35 + 0.13 * k,
                            label="target" if k == 0 else None)
                bottom.plot(np.arange(1, len(got) + 1), got, "x--", color="C1", alpha=0.35 + 0.13 * k,
                            label="prediction" if k == 0 else None)
                start += n
            bottom.set_xlabel("decoded step (one line per sample, 1 to 5 steps)", fontsize=8)
        else:
            steps = np.arange(1, len(ex.expected) + 1)
            bottom.plot(steps, ex.expected, "o-", label="target")
            bottom.plot(steps, ex.pred if len(ex.pred) == len(steps) else np.resize(ex.pred, len(steps)),
                        "x--", label="prediction")
            bottom.set_xlabel("step", fontsize=8)
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        top.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        if k == 0:
            bottom.legend(fontsize=8)
    fig.suptitle("seqlayers demo: the echo sequence [0.0, 0.2, 0.4, 0.6, 0.8] (adam; mse, seq2seq: cross-entropy)",
                 fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    # These models are tiny: on CPU, one thread beats several (thread hand-offs cost more than the
    # work), by 10x on a busy 2-core machine.
    torch.set_num_threads(args.threads)
    if args.out:  # before training, not after it
        require_extra("matplotlib", "plots", "seqlayers demo's figure (--out '' for none)")
    names = [args.model] if args.model else list(EXAMPLES)
    done, all_ok = [], True
    t_all = time.perf_counter()
    for name in names:
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        t0 = time.perf_counter()
        fn = EXAMPLES[name]
        ex = fn(args.epochs) if args.epochs else fn()
        ex.seconds = time.perf_counter() - t0
        all_ok &= report(ex)
        done.append(ex)
    if args.out:
        figure(done, args.out)
    print("=" * 78)
    print(f"{len(done)} model{'s' if len(done) != 1 else ''} trained in {time.perf_counter() - t_all:.1f}s"
          + (f"; loss curves and predictions in {args.out}" if args.out else ""))
    return 0 if all_ok or args.epochs else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the TimeDistributed tutorial's echo models (and one-to-many, "
                                    "encoder-decoder, seq2seq) on built-in data and explain them")
    p.add_argument("--model", choices=list(EXAMPLES), default=None, help="run only this example (default: all of them)")
    p.add_argument("--epochs", type=int, default=None, help="epochs for every example (default: the tutorial's)")
    p.add_argument("--out", default="out/seqlayers-demo.png", help="the figure's path ('' for none)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"random seed (default {DEFAULT_SEED}: every example converges within the tutorial's epochs)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for tiny models)")
    p.set_defaults(func=run)
