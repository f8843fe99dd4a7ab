"""Predict the system's dialogue acts after each user turn: ``seqlayers train dialogue``.

A hierarchical model (utterances inside a dialogue)::

    words (B, turns, W) -> Embedding(mask_zero)                                  -> (B, turns, W, E)
    -> TimeDistributed(Bidirectional(LSTM(H)))     one vector per user turn      -> (B, turns, 2H)
    -> LSTM(H, return_sequences=True)              the dialogue so far           -> (B, turns, H)
    -> TimeDistributed(Dense(n, sigmoid))  x2      act types / act(slot) labels  -> (B, turns, n)

The baseline is the same model without the dialogue-level LSTM: each turn is read alone. Both are
trained and scored (micro and macro F1 of the multi-hot predictions, threshold 0.5) at the two
granularities: act types (``OFFER``) and acts with their slot (``OFFER(city)``).
"""
from __future__ import annotations

import re

import numpy as np

from ..data.sgd_reader import act_label, read_dialogues
from ..data.vocab import Vocabulary, multi_hot
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
                   help="use the first N dev dialogues for early stopping (default 500; 0: all)")
    p.add_argument("--test-dialogues", type=int, default=0, help="score the first N test dialogues (default 0: all)")
    p.add_argument("--units", type=int, default=DEFAULTS["units"], help="utterance BiLSTM units per direction")
    p.add_argument("--dialogue-units", type=int, default=DEFAULTS["dialogue_units"])
    p.add_argument("--act-slot-weight", type=float, default=1.0,
                   help="loss weight of the act(slot) output against the act-type output (default 1); its "
                        "binary cross-entropy is averaged over ~250 mostly-absent labels, so it learns slowly")
    common.add_common_arguments(p, epochs=10, batch_size=16, patience=2)


def build_model(config: dict, context: bool = True):
    """The hierarchical model (``context=True``) or the per-turn baseline (``context=False``)."""
    from .. import LSTM, Bidirectional, Dense, Dropout, Embedding, Input, Model, TimeDistributed

    words = Input(shape=(None, None), dtype="int64", name="words")  # (B, turns, W)
    e = Embedding(config["n_words"], config["word_dim"], mask_zero=True, name="word_embedding")(words)
    turns = TimeDistributed(Bidirectional(LSTM(config["units"])), name="utterance_encoder")(e)  # (B, turns, 2H)
    h = Dropout(config["dropout"])(turns)
    if context:
        h = LSTM(config["dialogue_units"], return_sequences=True, name="dialogue_lstm")(h)  # (B, turns, H)
        h = Dropout(config["dropout"])(h)
    outs = [TimeDistributed(Dense(config[f"n_{g}"], activation="sigmoid"), name=f"acts_{g}")(h)
            for g in GRANULARITIES]
    return Model(words, outs, name="dialogue_acts" if context else "turn_acts")


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


def f1_scores(gold: list[np.ndarray], prob: list[np.ndarray], threshold: float = 0.5) -> dict:
    """Micro and macro F1 (percent) over all turns; macro over the labels present in ``gold``."""
    from sklearn.metrics import f1_score

    g = np.concatenate(gold).astype(int)
    p = (np.concatenate(prob) >= threshold).astype(int)
    present = np.flatnonzero(g.sum(axis=0) > 0)
    return {"micro_f1": 100 * f1_score(g, p, average="micro", zero_division=0),
            "macro_f1": 100 * f1_score(g, p, average="macro", labels=present, zero_division=0),
            "labels_scored": int(len(present))}


def run(args) -> int:
    import torch

    clock = common.Stopwatch()
    out = common.setup(args)
    from pathlib import Path

    data = Path(args.data)
    common.progress(args, f"reading {data}")
    train = read_dialogues(data / "train.jsonl", limit=args.train_dialogues or None)
    dev = read_dialogues(data / "dev.jsonl", limit=args.dev_dialogues or None)
    test = read_dialogues(data / "test.jsonl", limit=args.test_dialogues or None)

    cfg = dict(DEFAULTS, units=args.units, dialogue_units=args.dialogue_units)
    words = Vocabulary.build((tokenize(t.user, cfg["max_words"]) for d in train for t in d.turns),
                             min_count=cfg["min_count"])
    label_vocabs = {g: Vocabulary.build(([act_label(a, g) for a in t.system_acts] for d in train for t in d.turns),
                                        unknown=False) for g in GRANULARITIES}
    config = dict(cfg, n_words=len(words), words=words.to_dict(),
                  **{f"n_{g}": len(v) - 1 for g, v in label_vocabs.items()},
                  **{f"labels_{g}": v.to_dict() for g, v in label_vocabs.items()})
    n_turns = sum(len(d.turns) for d in train)
    common.progress(args, f"{len(train)} training dialogues ({n_turns} turns), {len(words)} words, "
                          f"{config['n_type']} act types, {config['n_act_slot']} act(slot) labels")

    def loader(dialogues, shuffle):
        xs = [encode(dialogues, words, cfg["max_words"])]
        ys = [targets(dialogues, label_vocabs[g], g) for g in GRANULARITIES]
        return common.bucketed_loader(xs, ys, args.batch_size, shuffle=shuffle, seed=args.seed)

    unseen = {g: sum(1 for d in test for t in d.turns for a in t.system_acts if act_label(a, g) not in label_vocabs[g])
              for g in GRANULARITIES}
    report = {"task": NAME, "data": str(data), "dialogues": {"train": len(train), "dev": len(dev), "test": len(test)},
              "turns": {"train": n_turns, "test": sum(len(d.turns) for d in test)},
              "test_acts_unseen_in_train": unseen,
              "config": {k: v for k, v in config.items() if k != "words" and not k.startswith("labels_")},
              "args": {k: v for k, v in vars(args).items() if k != "func"}}
    rows = []
    x_test = [encode(test, words, cfg["max_words"])]
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
                                       validation_data=loader(dev, False), monitor="val_loss", mode="min",
                                       name=variant)
        probs = common.predict_grouped(model, x_test, args.batch_size)
        scores = {g: f1_scores(gold[g], probs[k]) for k, g in enumerate(GRANULARITIES)}
        report[variant] = {"scores": scores, "history": history, **common.training_time(history)}
        models[variant] = model
        for g in GRANULARITIES:
            rows += [(f"{variant} model, {g} micro F1", scores[g]["micro_f1"]),
                     (f"{variant} model, {g} macro F1", scores[g]["macro_f1"])]
    report["margin"] = {g: {m: report["dialogue"]["scores"][g][m] - report["turn"]["scores"][g][m]
                            for m in ("micro_f1", "macro_f1")} for g in GRANULARITIES}
    for g in GRANULARITIES:
        rows.append((f"margin (dialogue - turn), {g} micro / macro F1",
                     f"{report['margin'][g]['micro_f1']:+.2f} / {report['margin'][g]['macro_f1']:+.2f}"))
    common.save_task(out, models["dialogue"], NAME, config)
    report["wall_seconds"] = clock()
    rows += [("training wall / CPU time (s), dialogue model", "{train_seconds:.0f} / {train_cpu_seconds:.0f}".format(
                 **report["dialogue"])),
             ("training wall / CPU time (s), per-turn model", "{train_seconds:.0f} / {train_cpu_seconds:.0f}".format(
                 **report["turn"])),
             ("wall time (s)", report["wall_seconds"]), ("torch threads", torch.get_num_threads())]
    common.write_report(out, report, f"System dialogue acts on {data}", rows,
                        notes="Test set; F1 of multi-hot predictions at threshold 0.5, macro over the labels "
                              "present in the test turns.")
    common.progress(args, f"done; report in {out}")
    return 0


def predict(out_dir, config, input_path, args) -> int:
    """The predicted system acts after each user turn of each dialogue in a JSONL file."""
    from pathlib import Path

    dialogues = read_dialogues(input_path)
    model = build_model(config, context=True)
    common.load_weights(out_dir, model)
    words = Vocabulary.from_dict(config["words"])
    labels = Vocabulary.from_dict(config["labels_act_slot"]).labels
    probs = common.predict_grouped(model, [encode(dialogues, words, config["max_words"])], args.batch_size)[1]
    lines = []
    for d, p in zip(dialogues, probs):
        for t, row in zip(d.turns, p):
            acts = [labels[j] for j in np.flatnonzero(row >= 0.5)]
            lines.append(f"{d.dialogue_id}\t{t.user}\t{' '.join(acts)}")
    text = "\n".join(lines) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0
