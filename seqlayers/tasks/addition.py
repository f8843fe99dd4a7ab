"""Learning to add numbers written as characters: ``seqlayers train addition``.

The keras-io example ``addition_rnn`` (after Zaremba & Sutskever 2014, "Learning to Execute"):
``"535+61"`` -> ``"596"``, every character one-hot over ``"0123456789+ "``::

    question (B, 2D+1, 12) -> LSTM(128) -> (B, 128) -> RepeatVector(D+1) -> (B, D+1, 128)
        -> LSTM(128, return_sequences=True) -> TimeDistributed(Dense(12, softmax)) -> (B, D+1, 12)

Questions are padded with spaces to ``2D+1`` characters and, with ``--reverse``, read backwards
(``"61+535"`` becomes ``"535+16 "`` reversed), which shortens the path between the digits that are added.
Reported: per-character validation accuracy (Keras's ``accuracy``), whole-answer exact match, and
the first epoch at which per-character accuracy reached ``--target`` (training stops there unless
``--no-stop``).
"""
from __future__ import annotations

import json
import sys

import numpy as np

from ..layers import LSTM, Dense, RepeatVector, TimeDistributed
from ..models import Sequential
from ..training.callbacks import Callback
from . import common

NAME = "addition"
HELP = "keras-io addition_rnn: add two numbers given as characters (LSTM -> RepeatVector -> LSTM)"
CHARS = "0123456789+ "


def add_arguments(p) -> None:
    p.add_argument("--digits", type=int, default=3, help="most digits per number (default 3)")
    p.add_argument("--reverse", action="store_true", help="feed the question reversed (keras-io's default)")
    p.add_argument("--examples", type=int, default=None,
                   help="distinct questions generated (default 50,000; 5,000 for --digits 2)")
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--target", type=float, default=0.99, help="per-character val accuracy to reach (default 0.99)")
    p.add_argument("--no-stop", dest="stop", action="store_false",
                   help="train all --epochs even after the target is reached")
    common.add_common_arguments(p, epochs=30, batch_size=32, patience=1000)


# ------------------------------------------------------------------ data
def generate(n: int, digits: int, reverse: bool, seed: int) -> tuple[list[str], list[str]]:
    """``n`` distinct questions ``"a+b"`` (padded to ``2*digits+1``) and answers (padded to ``digits+1``).

    As keras-io: each number has 1 to ``digits`` random digits; ``a+b`` and ``b+a`` count as one question.
    """
    limit = _distinct_questions(digits)
    if n > limit:
        raise ValueError(f"addition: only {limit} distinct questions exist with {digits} digits; asked for "
                         f"--examples {n}.")
    rng = np.random.default_rng(seed)
    maxlen = 2 * digits + 1
    questions: list[str] = []
    answers: list[str] = []
    seen: set[tuple[int, ...]] = set()

    def number():
        return int("".join(rng.choice(list("0123456789"), size=rng.integers(1, digits + 1))))

    while len(questions) < n:
        a, b = number(), number()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}".ljust(maxlen)
        questions.append(q[::-1] if reverse else q)
        answers.append(str(a + b).ljust(digits + 1))
    return questions, answers


def _distinct_questions(digits: int) -> int:
    m = 10 ** digits  # numbers 0 .. m-1
    return m * (m + 1) // 2


def one_hot(strings: list[str]) -> np.ndarray:
    """``(N, T, 12)`` float32 one-hot of equal-length strings over ``CHARS``."""
    index = {c: i for i, c in enumerate(CHARS)}
    ids = np.array([[index[c] for c in s] for s in strings])  # (N, T)
    return np.eye(len(CHARS), dtype=np.float32)[ids]


def decode(probs: np.ndarray) -> list[str]:
    return ["".join(CHARS[i] for i in row) for row in np.asarray(probs).argmax(-1)]


def build_model(digits: int, units: int = 128):
    return Sequential([
        LSTM(units, input_shape=(2 * digits + 1, len(CHARS)), name="encoder"),
        RepeatVector(digits + 1),
        LSTM(units, return_sequences=True, name="decoder"),
        TimeDistributed(Dense(len(CHARS), activation="softmax"), name="next_char"),
    ], name="addition_rnn")


def accuracies(model, x, y) -> tuple[float, float]:
    """(per-character accuracy, whole-answer exact match)."""
    p = np.asarray(model.predict(x, batch_size=1024, verbose=0)).argmax(-1)  # (N, D+1)
    t = y.argmax(-1)
    return float((p == t).mean()), float((p == t).all(axis=1).mean())


# ------------------------------------------------------------------ task
def run(args) -> int:
    clock = common.Stopwatch()
    out = common.setup(args)
    n = args.examples or (5000 if args.digits <= 2 else 50000)
    questions, answers = generate(n, args.digits, args.reverse, args.seed)
    x, y = one_hot(questions), one_hot(answers)
    split = len(x) - len(x) // 10  # keras-io: last 10% for validation
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    common.progress(args, f"{n} questions ({args.digits} digits{', reversed' if args.reverse else ''}): "
                          f"{len(x_train)} train, {len(x_val)} validation; e.g. {questions[0]!r} -> {answers[0]!r}")
    model = build_model(args.digits, args.units)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    epochs_file = out / "epochs.json"  # kept across an interrupted run, like the training backup
    per_epoch: list[dict] = json.loads(epochs_file.read_text()) if epochs_file.is_file() else []
    target, stop = args.target, args.stop

    class Watch(Callback):
        """Per-character and exact-match validation accuracy after every epoch; stops at the target."""

        def on_epoch_end(self, epoch, logs=None):
            char_acc, exact = accuracies(model, x_val, y_val)
            per_epoch[:] = [e for e in per_epoch if e["epoch"] <= epoch]
            per_epoch.append({"epoch": epoch + 1, "val_char_accuracy": char_acc, "val_exact_match": exact,
                              "seconds": round(clock(), 1)})
            epochs_file.write_text(json.dumps(per_epoch))
            if logs is not None:
                logs["val_exact_match"] = exact
            common.progress(args, f"epoch {epoch + 1}: val per-character {char_acc:.4f}, exact match {exact:.4f}")
            if stop and char_acc >= target:
                self.model.stop_training = True

    history = common.fit_resumable(model, x_train, y_train, out=out, args=args, validation_data=(x_val, y_val),
                                   name="model", monitor="val_loss", callbacks=[Watch()], shuffle=True)
    char_acc, exact = accuracies(model, x_val, y_val)
    reached = next((e["epoch"] for e in per_epoch if e["val_char_accuracy"] >= target), None)
    wall = clock()
    samples = [f"{(q[::-1] if args.reverse else q).strip()} = {a.strip()} (true {t.strip()})" for q, a, t in
               zip(questions[split:split + 5], decode(model.predict(x_val[:5], verbose=0)), answers[split:split + 5])]
    config = {k: v for k, v in vars(args).items() if k != "func"}
    report = {
        "task": NAME, "command": "seqlayers " + " ".join(sys.argv[1:]), "config": dict(config, examples=n),
        "val_char_accuracy": char_acc, "val_exact_match": exact, "target": target,
        "epoch_reached_target": reached, "epochs_run": len(history.get("loss", [])), "per_epoch": per_epoch,
        "history": history, "samples": samples, "wall_time_s": round(wall, 1), "machine": common.machine(),
        "published": "keras-io addition_rnn: ~99% per-character validation accuracy within 30 epochs "
                     "(3 digits, reversed); 2 digits, 5,000 examples: 55 epochs",
    }
    rows = [("val per-character accuracy", f"{char_acc:.4f}"), ("val exact match", f"{exact:.4f}"),
            (f"first epoch with per-character >= {target}", reached if reached else "not reached"),
            ("epochs run", report["epochs_run"]), ("wall time (s)", f"{wall:.0f}")]
    common.write_report(out, report, f"addition: {args.digits} digits{', reversed' if args.reverse else ''}, "
                                     f"{n} examples", rows, notes="\n".join(f"- {s}" for s in samples))
    common.save_task(out, model, NAME, json.loads(json.dumps(config, default=str)))
    reached_text = f"target {target} reached at epoch {reached}" if reached else f"target {target} not reached"
    common.progress(args, f"val per-character {char_acc:.4f}, exact match {exact:.4f}, {reached_text} "
                          f"({wall:.0f} s)")
    return 0


# ------------------------------------------------------------------ seqlayers predict
def read_questions(path, digits: int) -> list[str]:
    """One question ``a+b`` a line (spaces ignored); each number with at most ``digits`` digits."""
    questions = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            q = "".join(line.split())
            if not q:
                continue
            a, plus, b = q.partition("+")
            if not (plus and a.isdigit() and b.isdigit() and len(a) <= digits and len(b) <= digits):
                raise ValueError(f"{path}:{line_no}: expected a question like 12+345 (two numbers of at most "
                                 f"{digits} digits, the model's --digits), got {line.rstrip()!r}.")
            questions.append(f"{int(a)}+{int(b)}")
    return questions


def predict(out_dir, config, input_path, args) -> int:
    """Answer the questions of a file (one ``a+b`` a line): writes ``a+b = answer`` lines."""
    digits = int(config["digits"])
    questions = read_questions(input_path, digits)
    model = build_model(digits, int(config["units"]))
    common.load_weights(out_dir, model)
    padded = [q.ljust(2 * digits + 1) for q in questions]
    x = one_hot([q[::-1] if config.get("reverse") else q for q in padded])
    answers = decode(model.predict(x, verbose=0)) if questions else []
    return common.write_output("".join(f"{q} = {a.strip()}\n" for q, a in zip(questions, answers)), args)
