"""Predict the system's dialogue acts after each user turn: ``seqlayers train dialogue``.

A hierarchical model (utterances inside a dialogue)::

    words (B, turns, W) -> Embedding(mask_zero)                                  -> (B, turns, W, E)
    -> TimeDistributed(Bidirectional(LSTM(H)))     one vector per user turn      -> (B, turns, 2H)
    -> LSTM(H', return_sequences=True)             the dialogue so far           -> (B, turns, H')
    -> Concatenate([turn vector, dialogue so far])                              -> (B, turns, 2H + H')
    -> TimeDistributed(Dense(n, sigmoid))  x2      act types / act(slot) labels  -> (B, turns, n)

The baseline is the same model without the dialogue-level LSTM: the heads see the turn vector
alone. Both are trained alike (early stopping on dev F1 of both outputs) and scored on test
(micro and macro F1 of the multi-hot predictions) at the two granularities: act types
(``OFFER``) and acts with their slot (``OFFER(city)``). The decision threshold of each output is
chosen on dev for each model (0.5 and per-label thresholds are reported too).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.sgd_reader import act_label, read_dialogues
from ..data.vocab import Vocabulary, multi_hot
from ..errors import require_extra
from ..layers import LSTM, Bidirectional, Concatenate, Dense, Dropout, Embedding, TimeDistributed
from ..layers.base import Layer
from ..models import Input, Model
from . import common

NAME = "dialogue"
HELP = "hierarchical model: the system's dialogue acts after each user turn (vs. a per-turn baseline)"

DEFAULTS = dict(word_dim=64, units=64, dialogue_units=128, dropout=0.2, max_words=32, min_count=2)
GRANULARITIES = ("type", "act_slot")
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str, max_words: int) -> list[str]:
    """Lower-cased words and punctuation marks, at most ``max_words`` (an empty turn becomes one
    unknown token, so it is not mistaken for padding)."""
    return _TOKEN.findall(text.lower())[:max_words] or ["<empty>"]


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, help="folder with train.jsonl, dev.jsonl, test.jsonl")
    p.add_argument("--train-dialogues", type=int, default=2000,
                   help="use the first N training dialogues (default 2000; 0: all)")
    p.add_argument("--dev-dialogues", type=int, default=500,
                   help="N dev dialogues, spread evenly over the file (it is ordered by service), for early "
                        "stopping and the decision thresholds (default 500; 0: all)")
    p.add_argument("--test-dialogues", type=int, default=0, help="score the first N test dialogues (default 0: all)")
    p.add_argument("--units", type=int, default=DEFAULTS["units"], help="utterance BiLSTM units per direction")
    p.add_argument("--dialogue-units", type=int, default=DEFAULTS["dialogue_units"])
    p.add_argument("--act-slot-weight", type=float, default=1.0,
                   help="loss weight of the act(slot) output against the act-type output (default 1); its "
                        "binary cross-entropy is averaged over ~250 mostly-absent labels, so it learns slowly")
    p.add_argument("--act-slot-head", choices=("given-type", "direct"), default="direct",
                   help="direct (default): one sigmoid per act(slot) label; given-type: act(slot) = "
                        "P(type) x P(slot goes with the type)")
    p.add_argument("--no-skip", action="store_true",
                   help="the dialogue model's heads see only the dialogue LSTM (default: the turn vector too)")
    p.add_argument("--per-label-min", type=int, default=20,
                   help="per-label thresholds (a secondary figure) for labels with at least this many dev "
                        "positives; the others keep the output's one dev-tuned threshold (default 20)")
    common.add_common_arguments(p, epochs=10, batch_size=16, patience=2)


class GivenType(Layer):
    """The act(slot) probabilities as P(act type) x P(act(slot) | its type is in the reply).

    ``index[l]`` is the act-type column of act(slot) label ``l``; the second input is a sigmoid head
    that only has to say which slots go with a type (e.g. which slots an ``OFFER`` names), a far less
    lopsided question than "is ``OFFER(city)`` in the reply" over every turn.

    Shape:
        inputs: ``[(B, T, n_type), (B, T, n_act_slot)]``; output: ``(B, T, n_act_slot)``.
    """

    supports_masking = True

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = [int(i) for i in index]

    def compute_output_shape(self, input_shape):
        types, given = input_shape
        if given[-1] is not None and given[-1] != len(self.index):
            raise ValueError(f"GivenType: the second input must have one column per act(slot) label "
                             f"({len(self.index)}), got shape {tuple(given)}.")
        return tuple(given)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def call(self, inputs):
        types, given = inputs  # (B, T, n_type), (B, T, n_act_slot)
        self.compute_output_shape([tuple(types.shape), tuple(given.shape)])
        idx = torch.as_tensor(self.index, device=types.device)
        return types.index_select(-1, idx) * given  # (B, T, n_act_slot)


def build_model(config: dict, context: bool = True):
    """The hierarchical model (``context=True``) or the per-turn baseline (``context=False``)."""

    words = Input(shape=(None, None), dtype="int64", name="words")  # (B, turns, W)
    e = Embedding(config["n_words"], config["word_dim"], mask_zero=True, name="word_embedding")(words)
    turns = TimeDistributed(Bidirectional(LSTM(config["units"])), name="utterance_encoder")(e)  # (B, turns, 2H)
    h = Dropout(config["dropout"])(turns)
    if context:
        c = LSTM(config["dialogue_units"], return_sequences=True, name="dialogue_lstm")(h)  # (B, turns, H)
        c = Dropout(config["dropout"])(c)
        # the heads see the turn itself next to the dialogue so far (the baseline sees the turn only);
        # runs older than this option had no "skip" and fed the heads the dialogue LSTM alone
        h = Concatenate(name="turn_and_dialogue")([h, c]) if config.get("skip", False) else c  # (B, turns, 2H + H')
    types = TimeDistributed(Dense(config["n_type"], activation="sigmoid"), name="acts_type")(h)
    if config.get("act_slot_head", "direct") == "given_type":
        given = TimeDistributed(Dense(config["n_act_slot"], activation="sigmoid"), name="act_slot_given_type")(h)
        act_slot = GivenType(config["act_slot_type_index"], name="acts_act_slot")([types, given])
    else:
        act_slot = TimeDistributed(Dense(config["n_act_slot"], activation="sigmoid"), name="acts_act_slot")(h)
    return Model(words, [types, act_slot], name="dialogue_acts" if context else "turn_acts")


def spread(items: list, n: int) -> list:
    """``n`` items taken at even steps through ``items`` (all of them when ``n`` is 0 or too large)."""
    if not n or n >= len(items):
        return items
    return [items[i * len(items) // n] for i in range(n)]


def encode(dialogues, words: Vocabulary, max_words: int) -> list[np.ndarray]:
    """One ``(turns, W)`` id array per dialogue (W: its longest turn)."""
    out = []
    for d in dialogues:
        toks = [words.encode(tokenize(t.user, max_words)) for t in d.turns]
        a = np.zeros((len(toks), max(len(t) for t in toks)), dtype=np.int64)
        for i, t in enumerate(toks):
            a[i, :len(t)] = t
        out.append(a)
    return out


def targets(dialogues, vocab: Vocabulary, granularity: str) -> list[np.ndarray]:
    return [multi_hot([[act_label(a, granularity) for a in t.system_acts] for t in d.turns], vocab)
            for d in dialogues]


def f1_scores(gold: list[np.ndarray], prob: list[np.ndarray], threshold=0.5) -> dict:
    """Micro and macro F1 (fractions, 0..1) over all turns; macro over the labels present in ``gold``.

    ``threshold``: one number, or one per label (as ``tune_thresholds`` returns)."""
    f1_score = require_extra("sklearn.metrics", "tasks", "dialogue-act F1", package="scikit-learn").f1_score

    g = np.concatenate(gold).astype(int)
    p = (np.concatenate(prob) >= np.asarray(threshold)).astype(int)
    present = np.flatnonzero(g.sum(axis=0) > 0)
    return {"micro_f1": float(f1_score(g, p, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(g, p, average="macro", labels=present, zero_division=0)),
            "labels_scored": int(len(present))}


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _f1_counts(gold: np.ndarray, prob: np.ndarray, t) -> tuple[np.ndarray, np.ndarray]:
    """Per label: true positives and (predicted + gold positives), the parts of F1 = 2tp / (p + g)."""
    pred = prob >= t
    return (pred & (gold > 0)).sum(axis=0), pred.sum(axis=0) + (gold > 0).sum(axis=0)


def tune_thresholds(gold: list[np.ndarray], prob: list[np.ndarray], per_label_min: int = 0) -> np.ndarray:
    """Decision thresholds chosen on held-out (dev) turns, one per label.

    First the one threshold of ``THRESHOLD_GRID`` with the best micro F1 over all labels; then, when
    ``per_label_min > 0``, each label with at least that many positives gets the threshold with its
    own best F1 (ties: the one nearest the global threshold); rarer labels keep the global one.
    """
    g, p = np.concatenate(gold), np.concatenate(prob)  # (N, n)
    micro = []
    for t in THRESHOLD_GRID:
        tp, denom = _f1_counts(g, p, t)
        micro.append(2 * tp.sum() / max(1, denom.sum()))
    t0 = float(THRESHOLD_GRID[int(np.argmax(micro))])
    out = np.full(g.shape[1], t0, dtype=np.float32)
    if per_label_min > 0:
        counts = [_f1_counts(g, p, t) for t in THRESHOLD_GRID]
        f1 = np.stack([2 * tp / np.maximum(1, d) for tp, d in counts])  # (grid, n): each label's F1 at each t
        near = -np.abs(THRESHOLD_GRID - t0)[:, None] * 1e-6  # break ties towards the global threshold
        best = THRESHOLD_GRID[np.argmax(f1 + near, axis=0)]
        enough = (g > 0).sum(axis=0) >= per_label_min
        out[enough] = best[enough]
    return out


def dev_scores(model, x, gold: dict, batch_size: int) -> dict:
    """Dev F1 at thresholds tuned on dev (one per output): ``val_<granularity>_micro_f1`` /
    ``_macro_f1`` and ``val_f1``, the mean of the micro and macro F1 of both outputs, which early
    stopping watches (the summed loss is dominated by the act types)."""
    probs = common.predict_grouped(model, x, batch_size)  # (leaves training mode as it was)
    logs, figures = {}, []
    for k, g in enumerate(GRANULARITIES):
        s = f1_scores(gold[g], probs[k], tune_thresholds(gold[g], probs[k]))
        logs[f"val_{g}_micro_f1"], logs[f"val_{g}_macro_f1"] = s["micro_f1"], s["macro_f1"]
        figures += [s["micro_f1"], s["macro_f1"]]
    logs["val_f1"] = float(np.mean(figures))
    return logs


def _config(train, args) -> tuple[Vocabulary, dict, dict]:
    """The word and label vocabularies of the training dialogues and the model's config."""
    cfg = dict(DEFAULTS, units=args.units, dialogue_units=args.dialogue_units)
    words = Vocabulary.build((tokenize(t.user, cfg["max_words"]) for d in train for t in d.turns),
                             min_count=cfg["min_count"])
    label_vocabs = {g: Vocabulary.build(([act_label(a, g) for a in t.system_acts] for d in train for t in d.turns),
                                        unknown=False) for g in GRANULARITIES}
    type_ids = {t: i for i, t in enumerate(label_vocabs["type"].labels)}
    config = dict(cfg, n_words=len(words), words=words.to_dict(), act_slot_head=args.act_slot_head.replace("-", "_"),
                  skip=not args.no_skip,
                  act_slot_type_index=[type_ids[act_label(a, "type")] for a in label_vocabs["act_slot"].labels],
                  **{f"n_{g}": len(v) - 1 for g, v in label_vocabs.items()},
                  **{f"labels_{g}": v.to_dict() for g, v in label_vocabs.items()})
    return words, label_vocabs, config


def _scores(gold_dev, dev_probs, gold, probs, args) -> tuple[dict, dict]:
    """Dev-tuned thresholds (one global, one per label) and the test F1s at them and at 0.5."""
    thresholds, scores = {}, {}
    for k, g in enumerate(GRANULARITIES):
        thresholds[g] = {"global": tune_thresholds(gold_dev[g], dev_probs[k]),
                         "per_label": tune_thresholds(gold_dev[g], dev_probs[k], args.per_label_min)}
        scores[g] = {"at_0.5": f1_scores(gold[g], probs[k]),
                     **{f"dev_{rule}": f1_scores(gold[g], probs[k], t) for rule, t in thresholds[g].items()}}
        scores[g].update({k2: v for k2, v in scores[g]["dev_global"].items()})  # the headline figures
    return thresholds, scores


def _score_rows(variant: str, thresholds: dict, scores: dict) -> list[tuple[str, str]]:
    rows = []
    for g in GRANULARITIES:
        pct = {k: {m: 100 * scores[g][k][m] for m in ("micro_f1", "macro_f1")} for k in ("dev_global",
                                                                                          "dev_per_label", "at_0.5")}
        rows += [(f"{variant} model, {g} micro / macro F1 (%) (dev-tuned threshold {thresholds[g]['global'][0]:.2f})",
                  f"{pct['dev_global']['micro_f1']:.2f} / {pct['dev_global']['macro_f1']:.2f}"),
                 (f"{variant} model, {g} micro / macro F1 (%) (per-label thresholds from dev)",
                  f"{pct['dev_per_label']['micro_f1']:.2f} / {pct['dev_per_label']['macro_f1']:.2f}"),
                 (f"{variant} model, {g} micro / macro F1 (%) (threshold 0.5)",
                  f"{pct['at_0.5']['micro_f1']:.2f} / {pct['at_0.5']['macro_f1']:.2f}")]
    return rows


def _margins(report: dict) -> list[tuple[str, str]]:
    """The dialogue model's F1 less the per-turn model's, into ``report``; their report rows."""
    report["margin"] = {g: {m: report["dialogue"]["scores"][g][m] - report["turn"]["scores"][g][m]
                            for m in ("micro_f1", "macro_f1")} for g in GRANULARITIES}
    report["margin_per_label_thresholds"] = {
        g: {m: report["dialogue"]["scores"][g]["dev_per_label"][m] - report["turn"]["scores"][g]["dev_per_label"][m]
            for m in ("micro_f1", "macro_f1")} for g in GRANULARITIES}
    return [(f"margin (dialogue - turn), {g} micro / macro F1 (percentage points)",
             f"{100 * report['margin'][g]['micro_f1']:+.2f} / {100 * report['margin'][g]['macro_f1']:+.2f}")
            for g in GRANULARITIES]


def _time_rows(report: dict) -> list[tuple[str, object]]:
    return [("training wall / CPU time (s), dialogue model", "{train_seconds:.0f} / {train_cpu_seconds:.0f}".format(
                **report["dialogue"])),
            ("training wall / CPU time (s), per-turn model", "{train_seconds:.0f} / {train_cpu_seconds:.0f}".format(
                **report["turn"])),
            ("wall time (s)", report["wall_seconds"]), ("torch threads", torch.get_num_threads())]


def run(args) -> int:
    clock = common.Stopwatch()
    out = common.setup(args)
    data = Path(args.data)
    common.progress(args, f"reading {data}")
    train = read_dialogues(data / "train.jsonl", limit=args.train_dialogues or None)
    dev = spread(read_dialogues(data / "dev.jsonl"), args.dev_dialogues)
    test = read_dialogues(data / "test.jsonl", limit=args.test_dialogues or None)
    words, label_vocabs, config = _config(train, args)
    max_words = config["max_words"]
    n_turns = sum(len(d.turns) for d in train)
    common.progress(args, f"{len(train)} training dialogues ({n_turns} turns), {len(words)} words, "
                          f"{config['n_type']} act types, {config['n_act_slot']} act(slot) labels")

    def loader(dialogues, shuffle):
        xs = [encode(dialogues, words, max_words)]
        ys = [targets(dialogues, label_vocabs[g], g) for g in GRANULARITIES]
        return common.bucketed_loader(xs, ys, args.batch_size, shuffle=shuffle, seed=args.seed)

    unseen = {g: sum(1 for d in test for t in d.turns for a in t.system_acts if act_label(a, g) not in label_vocabs[g])
              for g in GRANULARITIES}
    report: dict[str, Any]
    report = {"task": NAME, "data": str(data), "dialogues": {"train": len(train), "dev": len(dev), "test": len(test)},
              "turns": {"train": n_turns, "test": sum(len(d.turns) for d in test)},
              "test_acts_unseen_in_train": unseen,
              "config": {k: v for k, v in config.items() if k != "words" and not k.startswith("labels_")},
              "args": {k: v for k, v in vars(args).items() if k != "func"}}
    rows: list = []
    x_dev, x_test = [encode(dev, words, max_words)], [encode(test, words, max_words)]
    gold_dev = {g: targets(dev, label_vocabs[g], g) for g in GRANULARITIES}
    gold = {g: targets(test, label_vocabs[g], g) for g in GRANULARITIES}
    models = {}
    for variant, context in (("dialogue", True), ("turn", False)):
        common.set_seed(args.seed)
        model = build_model(config, context=context)
        model.compile(optimizer=common.optimizer(args), loss=["binary_crossentropy", "binary_crossentropy"],
                      loss_weights=[1.0, args.act_slot_weight])
        common.progress(args, f"training the {'dialogue-level' if context else 'per-turn'} model "
                              f"(at most {args.epochs} epochs)")
        history = common.fit_resumable(model, loader(train, True), None, out=out, args=args,
                                       validation_data=loader(dev, False), monitor="val_f1", mode="max",
                                       name=variant, callbacks=[common.EpochScores(
                                           lambda m: dev_scores(m, x_dev, gold_dev, args.batch_size))])
        thresholds, scores = _scores(gold_dev, common.predict_grouped(model, x_dev, args.batch_size), gold,
                                     common.predict_grouped(model, x_test, args.batch_size), args)
        report[variant] = {"scores": scores, "history": history, **common.training_time(history),
                           "global_threshold": {g: float(thresholds[g]["global"][0]) for g in GRANULARITIES}}
        models[variant] = model
        if context:
            config["thresholds"] = {g: thresholds[g]["global"].tolist() for g in GRANULARITIES}
        rows += _score_rows(variant, thresholds, scores)
    rows += _margins(report)
    common.save_task(out, models["dialogue"], NAME, config)
    report["wall_seconds"] = clock()
    rows += _time_rows(report)
    common.write_report(out, report, f"System dialogue acts on {data}", rows,
                        notes="Test set; F1 of multi-hot predictions, macro over the labels present in the test "
                              "turns. Headline: one threshold per output, chosen on dev for each model alike "
                              "(best dev micro F1); also per-label thresholds from dev, and 0.5.")
    common.progress(args, f"done; report in {out}")
    return 0


def predict(out_dir, config, input_path, args) -> int:
    """The predicted system acts after each user turn of each dialogue in a JSONL file."""
    dialogues = read_dialogues(input_path)
    model = build_model(config, context=True)
    common.load_weights(out_dir, model)
    words = Vocabulary.from_dict(config["words"])
    labels = Vocabulary.from_dict(config["labels_act_slot"]).labels
    probs = common.predict_grouped(model, [encode(dialogues, words, config["max_words"])], args.batch_size)[1]
    threshold = np.asarray(config.get("thresholds", {}).get("act_slot", 0.5))  # tuned on dev (older runs: 0.5)
    lines = []
    for d, p in zip(dialogues, probs):
        for t, row in zip(d.turns, p):
            acts = [labels[j] for j in np.flatnonzero(row >= threshold)]
            lines.append(f"{d.dialogue_id}\t{t.user}\t{' '.join(acts)}")
    text = "\n".join(lines) + "\n"
    return common.write_output(text, args)
