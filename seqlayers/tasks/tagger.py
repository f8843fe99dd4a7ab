"""Part-of-speech tagging of CoNLL-U treebanks: ``seqlayers train tagger``.

The model (Plank et al. 2016's bi-LSTM tagger, without pretrained embeddings)::

    words (B, T) -> Embedding(mask_zero)  -------------------------------------------> (B, T, D)
    chars (B, T, W) -> Embedding(mask_zero) -> TimeDistributed(Bidirectional(LSTM(C))) -> (B, T, 2C)
    concat -> Dropout -> [Bidirectional(LSTM(H, return_sequences=True)) -> Dropout] x layers
           -> TimeDistributed(Dense(n_tags, softmax))                                  -> (B, T, n_tags)

With ``--head crf`` the last layer is ``TimeDistributed(Dense(n_tags))`` (scores) and a ``CRF``:
trained on the sentence's negative log-likelihood, it returns the Viterbi tags ``(B, T)`` in
``predict`` (padding id 0 is never decoded); early stopping then watches dev accuracy of the
decoded tags (``val_tag_accuracy``, computed after each epoch).

Padding is id 0 everywhere and masked, so padded steps are skipped by the LSTMs and ignored by
the loss and the accuracy. Training: Adam with a cosine learning-rate decay over ``--epochs``,
word dropout to the unknown word, early stopping on dev accuracy (best weights restored).
"""
from __future__ import annotations

import math
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..data.conllu_reader import TaggedSentence, read_conllu, read_tokenized
from ..data.vocab import Vocabulary, char_ids
from ..errors import require_extra
from ..layers import CRF, LSTM, Bidirectional, Concatenate, Dense, Dropout, Embedding, TimeDistributed
from ..models import Input, Model
from ..training.callbacks import LearningRateScheduler
from . import common

NAME = "tagger"
HELP = "part-of-speech tagger (words + character BiLSTM + BiLSTM) on CoNLL-U files"

DEFAULTS = dict(word_dim=100, char_dim=32, char_units=48, units=128, dropout=0.4, max_word_len=16,
                train_maxlen=64, min_count=2, layers=1, head="softmax")
HEADS = ("softmax", "crf")
LR_SCHEDULES = ("constant", "cosine")


def add_arguments(p) -> None:
    p.add_argument("--train", required=True, help="training CoNLL-U file")
    p.add_argument("--dev", required=True, help="development CoNLL-U file (early stopping)")
    p.add_argument("--test", default=None, help="test CoNLL-U file (reported)")
    p.add_argument("--column", default="upos", choices=["upos", "xpos"], help="the tag column (default upos)")
    p.add_argument("--units", type=int, default=DEFAULTS["units"], help="sentence BiLSTM units per direction")
    p.add_argument("--layers", type=int, default=DEFAULTS["layers"],
                   help="stacked sentence BiLSTMs (default %(default)s)")
    p.add_argument("--char-units", type=int, default=DEFAULTS["char_units"],
                   help="character BiLSTM units per direction (0: no character features)")
    p.add_argument("--word-dim", type=int, default=DEFAULTS["word_dim"])
    p.add_argument("--dropout", type=float, default=DEFAULTS["dropout"])
    p.add_argument("--word-dropout", type=float, default=0.15,
                   help="training: replace a word by the unknown word with this probability (default 0.15)")
    p.add_argument("--rare-word-dropout", type=float, default=0.0, metavar="ALPHA",
                   help="training: also replace a word seen c times by the unknown word with probability "
                        "ALPHA / (ALPHA + c) (Kiperwasser and Goldberg 2016; default 0: off)")
    p.add_argument("--min-count", type=int, default=DEFAULTS["min_count"],
                   help="words seen fewer times in training are unknown (default %(default)s)")
    add_lr_schedule_argument(p, default="cosine")
    add_head_argument(p)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training sentences")
    common.add_common_arguments(p, epochs=30, batch_size=32, patience=5)
    p.set_defaults(learning_rate=0.002)


def add_lr_schedule_argument(p, default: str) -> None:
    """``--lr-schedule constant|cosine`` (the tagger's and the slot filler's; see ``lr_callbacks``)."""
    p.add_argument("--lr-schedule", default=default, choices=LR_SCHEDULES,
                   help="learning rate per epoch: constant, or cosine decay from --learning-rate towards 0 "
                        "over --epochs (default %(default)s)")


def lr_callbacks(args) -> list:
    """The callbacks of ``--lr-schedule``: a ``LearningRateScheduler`` for ``cosine``, none for ``constant``."""
    if args.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_callbacks: lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                         f"got {args.lr_schedule!r}.")
    return [LearningRateScheduler(cosine_schedule(args.learning_rate, args.epochs))] \
        if args.lr_schedule == "cosine" else []


def add_head_argument(p) -> None:
    """``--head softmax|crf`` (the tagger's and the slot filler's)."""
    p.add_argument("--head", choices=HEADS, default=DEFAULTS["head"],
                   help="the tag output: a per-step softmax, or a linear-chain CRF (trained on the sequence's "
                        "log-likelihood, Viterbi-decoded); default %(default)s")


# ------------------------------------------------------------------ model
def tag_head(h, n_tags: int, head: str, constraints: dict, name: str):
    """The per-step tag output on features ``h`` ``(B, T, F)``.

    ``softmax``: ``TimeDistributed(Dense(n_tags, softmax))`` named ``name``, probabilities
    ``(B, T, n_tags)``. ``crf``: ``TimeDistributed(Dense(n_tags))`` named ``name + "_scores"``, then
    ``CRF(**constraints)`` named ``name``: the scores in training, the Viterbi tags ``(B, T)`` in
    inference.
    """
    if head not in HEADS:
        raise ValueError(f"tag_head: head must be one of {', '.join(HEADS)}, got {head!r}.")
    if head == "softmax":
        return TimeDistributed(Dense(n_tags, activation="softmax"), name=name)(h)
    scores = TimeDistributed(Dense(n_tags), name=f"{name}_scores")(h)  # (B, T, n_tags)
    return CRF(**constraints, name=name)(scores)  # training: the scores; inference: tags (B, T)


def no_padding(n_tags: int) -> dict:
    """CRF constraints that keep the padding tag (id 0) out of every decoded path."""
    real = [j > 0 for j in range(n_tags)]
    return {"allowed_transitions": [[i > 0 and j > 0 for j in range(n_tags)] for i in range(n_tags)],
            "allowed_start": real, "allowed_end": real}


def tag_loss(model, head: str, name: str):
    """The loss of the tag output ``name``: sparse cross-entropy, or the CRF's NLL."""
    return model.get_layer(name).loss if head == "crf" else "sparse_categorical_crossentropy"


def char_features(char_input, n_chars: int, char_dim: int, char_units: int):
    """Per-word character features: ``(B, T, W)`` ids -> ``(B, T, 2 * char_units)``.

    The same Bidirectional LSTM reads every word's characters (TimeDistributed folds the words
    into the batch); padded characters and padded words are masked.
    """

    c = Embedding(n_chars, char_dim, mask_zero=True, name="char_embedding")(char_input)  # (B, T, W, C)
    return TimeDistributed(Bidirectional(LSTM(char_units)), name="char_bilstm")(c)  # (B, T, 2C)


def word_features(config: dict):
    """The inputs and per-word features shared by the tagger and the slot filler.

    ``words`` ``(B, T)`` ids -> word embeddings ``(B, T, word_dim)`` (padding masked), joined, when
    ``config["char_units"]``, with the character features of ``chars`` ``(B, T, W)``.
    Returns ``(inputs, features)``.
    """

    words = Input(shape=(None,), dtype="int64", name="words")
    feats = Embedding(config["n_words"], config["word_dim"], mask_zero=True, name="word_embedding")(words)
    inputs = [words]
    if config["char_units"]:
        chars = Input(shape=(None, config["max_word_len"]), dtype="int64", name="chars")
        inputs.append(chars)
        feats = Concatenate(name="word_and_chars")(
            [feats, char_features(chars, config["n_chars"], config["char_dim"], config["char_units"])])
    return inputs, feats


def build_model(config: dict):
    """The tagger from its config (vocabulary sizes and hyperparameters)."""

    inputs, feats = word_features(config)
    h = Dropout(config["dropout"])(feats)
    for i in range(config.get("layers", 1)):  # configs saved before `layers` existed have one
        h = Bidirectional(LSTM(config["units"], return_sequences=True),
                          name="sentence_bilstm" + (f"_{i + 1}" if i else ""))(h)
        h = Dropout(config["dropout"])(h)
    tags = tag_head(h, config["n_tags"], config.get("head", "softmax"), no_padding(config["n_tags"]), "tags")
    return Model(inputs, tags, name="tagger")


def cosine_schedule(learning_rate: float, epochs: int):
    """``schedule(epoch)`` for ``LearningRateScheduler``: half a cosine from ``learning_rate`` at
    epoch 0 down towards 0 after the last epoch (``epochs - 1`` gets the smallest, non-zero rate)."""
    def schedule(epoch, lr=None):
        return learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    return schedule


# ------------------------------------------------------------------ data
def word_dropout_rates(words: Vocabulary, counts: dict, rate: float, alpha: float) -> np.ndarray:
    """Per word id, the training probability of replacing the word by the unknown word: ``rate``
    for every word, and, with ``alpha > 0``, also ``alpha / (alpha + c)`` for a word seen ``c``
    times (rare words often, frequent ones almost never): ``1 - (1 - rate)(1 - alpha / (alpha + c))``.
    Padding and the unknown word itself get 0."""
    c = np.array([counts.get(w, 0) for w in words.itos], dtype=np.float64)
    rare = alpha / (alpha + np.maximum(c, 1e-9)) if alpha > 0 else np.zeros_like(c)
    p = 1.0 - (1.0 - rate) * (1.0 - rare)
    p[:2] = 0.0  # padding, unknown
    return p.astype(np.float32)


def _split_long(sentences, maxlen):
    """Cut training sentences longer than ``maxlen`` into pieces (less padding per batch)."""
    out = []
    for words, tags in sentences:
        for i in range(0, len(words), maxlen):
            out.append((words[i:i + maxlen], tags[i:i + maxlen]))
    return out


def sample_arrays(sentences: list[list[str]], config: dict, vocabs: dict) -> list[list[np.ndarray]]:
    """Per-sentence input arrays: word ids ``(T_i,)`` and (with characters) char ids ``(T_i, W)``."""
    words = vocabs["words"]
    xs = [[np.asarray(words.encode(w.lower() for w in s), dtype=np.int64) for s in sentences]]
    if config["char_units"]:
        xs.append([char_ids([s], vocabs["chars"], config["max_word_len"])[0] for s in sentences])
    return xs


def predict_tags(model, sentences: list[list[str]], config: dict, vocabs: dict, batch_size: int = 64):
    """The predicted tags of each sentence (lists of words)."""
    safe = [s or ["."] for s in sentences]  # an empty line still gets a (dropped) prediction
    outs = common.predict_grouped(model, sample_arrays(safe, config, vocabs), batch_size)[0]
    return [vocabs["tags"].decode(tag_ids(p))[:len(s)] for p, s in zip(outs, sentences)]


def tag_ids(out: np.ndarray) -> np.ndarray:
    """One sentence's tag ids from the tag output: a CRF's decoded ids ``(T,)`` as they are, the most
    probable real tag of softmax probabilities ``(T, N)`` (padding, id 0, never chosen)."""
    return out if out.ndim == 1 else out[:, 1:].argmax(-1) + 1


def _vocabs(config) -> dict:
    v = {"words": Vocabulary.from_dict(config["words"]), "tags": Vocabulary.from_dict(config["tags"])}
    if config.get("chars"):
        v["chars"] = Vocabulary.from_dict(config["chars"])
    return v


# ------------------------------------------------------------------ report pieces
def confusion(gold: list[list[str]], pred: list[list[str]], labels: list[str]) -> np.ndarray:
    index = {t: i for i, t in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        for a, b in zip(g, p):
            m[index[a], index[b]] += 1
    return m


def plot_confusion(m: np.ndarray, labels: list[str], path, title: str) -> None:
    """A heatmap of row-normalised counts (gold tag rows, predicted tag columns)."""
    matplotlib = require_extra("matplotlib", "tasks", "the confusion heatmap")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * n + 2), max(5, 0.45 * n + 1.5)))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, f"{rates[i, j]:.2f}" if i == j else str(m[i, j]), ha="center", va="center",
                            fontsize=5, color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def accuracy(gold, pred) -> float:
    """The fraction of words whose tag is right (0..1, as Keras's metrics)."""
    n = sum(len(g) for g in gold)
    ok = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return ok / max(n, 1)


# ------------------------------------------------------------------ the command
def _read(args):
    """The train/dev/test sentences, the vocabularies and the model config."""
    common.progress(args, f"reading {args.train}, {args.dev}" + (f", {args.test}" if args.test else ""))
    train = read_conllu(args.train, args.column)
    if args.limit:
        train = train[:args.limit]
    dev = read_conllu(args.dev, args.column)
    test = read_conllu(args.test, args.column) if args.test else None

    counts = Counter(w.lower() for s in train for w in s.words)
    words = Vocabulary.build([counts.elements()], min_count=args.min_count)
    chars = Vocabulary.build((c for w in s.words for c in w) for s in train)
    tags = Vocabulary.build((s.tags for s in train), unknown=False)
    config = dict(DEFAULTS, min_count=args.min_count, layers=args.layers, head=args.head, word_dim=args.word_dim,
                  char_units=args.char_units, units=args.units,
                  dropout=args.dropout, column=args.column, n_words=len(words), n_chars=len(chars),
                  n_tags=len(tags), words=words.to_dict(), chars=chars.to_dict(), tags=tags.to_dict())
    vocabs = {"words": words, "chars": chars, "tags": tags}
    common.progress(args, f"{len(train)} training sentences, {len(words)} words, {len(chars)} characters, "
                          f"{len(tags) - 1} tags")
    return (train, dev, test), counts, config, vocabs


def _train(args, out, train, dev, counts, config, vocabs):
    """Build and fit the tagger on the training pieces, early-stopped on dev accuracy."""
    words, tags = vocabs["words"], vocabs["tags"]
    dropout_rates = args.word_dropout
    if args.rare_word_dropout:
        dropout_rates = word_dropout_rates(words, counts, args.word_dropout, args.rare_word_dropout)

    def loader(sents, shuffle):
        unseen = sorted({t for s in sents for t in s.tags} - set(tags.labels))
        if unseen:
            raise ValueError(f"tag(s) {', '.join(unseen[:5])} occur in evaluation data but not in {args.train}.")
        xs = sample_arrays([s.words for s in sents], config, vocabs)
        y = [np.asarray(tags.encode(s.tags), dtype=np.int64) for s in sents]
        return common.bucketed_loader(xs, y, args.batch_size, shuffle=shuffle, seed=args.seed,
                                      word_dropout=dropout_rates if shuffle else 0.0)

    pieces = [TaggedSentence(w, t) for w, t in _split_long([(s.words, s.tags) for s in train],
                                                            config["train_maxlen"])]
    train_data, dev_data = loader(pieces, True), loader(dev, False)

    model = build_model(config)
    crf = config["head"] == "crf"
    model.compile(optimizer=common.optimizer(args), loss=tag_loss(model, config["head"], "tags"),
                  metrics=None if crf else ["accuracy"])  # a CRF's inference output is tags, not probabilities
    common.progress(args, f"training on {len(pieces)} pieces (at most {args.epochs} epochs)")
    callbacks = lr_callbacks(args)
    if crf:  # dev accuracy of the Viterbi tags, after each epoch (the early-stopping figure)
        callbacks.append(common.EpochScores(partial(dev_accuracy, sentences=dev, config=config, vocabs=vocabs,
                                                    batch_size=args.batch_size)))
    history = common.fit_resumable(model, train_data, None, out=out, args=args,
                                   validation_data=None if crf else dev_data,
                                   monitor="val_tag_accuracy" if crf else "val_accuracy", mode="max",
                                   callbacks=callbacks)
    return model, history


def dev_accuracy(model, sentences, config: dict, vocabs: dict, batch_size: int) -> dict:
    """``{"val_tag_accuracy": ...}``: the fraction of dev words whose decoded tag is right."""
    pred = predict_tags(model, [s.words for s in sentences], config, vocabs, batch_size)
    return {"val_tag_accuracy": accuracy([s.tags for s in sentences], pred)}


def _score(args, out, model, dev, test, config, vocabs, report) -> list[tuple[str, object]]:
    """Accuracy and confusion on dev (and test) into ``report``; the heatmap; the report's first rows."""
    labels = vocabs["tags"].labels
    rows: list[tuple[str, object]] = []
    for split, sents in (("dev", dev), ("test", test)):
        if sents is None:
            continue
        gold = [s.tags for s in sents]
        pred = predict_tags(model, [s.words for s in sents], config, vocabs, args.batch_size)
        acc = accuracy(gold, pred)
        report[f"{split}_accuracy"] = acc
        report[f"{split}_words"] = sum(len(g) for g in gold)
        rows.append((f"{split} {args.column.upper()} accuracy (%)", 100 * acc))
        m = confusion(gold, pred, labels)
        report[f"{split}_confusion"] = {"labels": labels, "counts": m.tolist()}
        if split == "test" or test is None:
            plot_confusion(m, labels, out / "confusion.png", f"{args.column.upper()} confusion ({split}), "
                                                             f"accuracy {100 * acc:.2f}%")
    return rows


def run(args) -> int:
    clock = common.Stopwatch()
    out = common.setup(args)
    (train, dev, test), counts, config, vocabs = _read(args)
    model, history = _train(args, out, train, dev, counts, config, vocabs)

    report = {"task": NAME, "column": args.column, "train": str(args.train), "dev": str(args.dev),
              "test": str(args.test) if args.test else None, "sentences": {"train": len(train), "dev": len(dev)},
              "config": {k: v for k, v in config.items() if k not in ("words", "chars", "tags")},
              "args": common.arguments(args),
              "history": history, **common.training_time(history)}
    rows = _score(args, out, model, dev, test, config, vocabs, report)
    common.save_task(out, model, NAME, config)
    report["wall_seconds"] = clock()
    rows += [("epochs run", len(report["history"].get("loss", []))),
             ("training wall / CPU time (s)", f"{report['train_seconds']:.0f} / {report['train_cpu_seconds']:.0f}"),
             ("wall time (s)", report["wall_seconds"]), ("torch threads", torch.get_num_threads())]
    common.write_report(out, report, f"Tagger ({args.column.upper()}) on {Path(args.train).name}", rows,
                        notes="Confusion heatmap: confusion.png (rows: gold tag, columns: predicted).")
    common.progress(args, " / ".join(f"{k}: {common.fmt(v)}" for k, v in rows[:2]) + f"; report in {out}")
    return 0


def predict(out_dir, config, input_path, args) -> int:
    """Tag pre-tokenized text (one sentence a line); writes ``word/TAG`` tokens, one sentence a line."""
    sentences = read_tokenized(input_path)
    model = build_model(config)
    common.load_weights(out_dir, model)
    tags = predict_tags(model, sentences, config, _vocabs(config), args.batch_size)
    lines = [" ".join(f"{w}/{t}" for w, t in zip(s, ts)) for s, ts in zip(sentences, tags)]
    text = "\n".join(lines) + "\n"
    return common.write_output(text, args)
