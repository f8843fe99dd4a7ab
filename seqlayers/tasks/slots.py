"""Joint slot filling and intent detection: ``seqlayers train slots`` (SNIPS / ATIS layout).

One functional model, two outputs sharing one bidirectional encoder::

    words (B, T) + chars (B, T, W) -> word and character features (as the tagger)    -> (B, T, F)
    -> Bidirectional(LSTM(H, return_sequences=True))                                  -> (B, T, 2H)
       |-> TimeDistributed(Dense(n_slot_tags, softmax))         "slots" (many-to-many) -> (B, T, n_tags)
       |-> Bidirectional(LSTM(H)) -> Dense(n_intents, softmax)  "intent" (many-to-one) -> (B, n_intents)

The slot-intent interaction (``--interaction``):

* ``none`` (the default): the two heads share the encoder only.
* ``utterance`` (the slot-gated idea of Goo et al. 2018, simplified; ``--intent-to-slots`` is the
  old spelling): the utterance vector ``(B, 2H)`` is repeated over time and joined to the
  encoder's output before the slot Dense, so each token's tag sees what the whole utterance is
  about: ``(B, T, 2H + 2H)``.
* ``token-intent`` (Stack-Propagation, Qin et al. 2019): an intent decoder
  ``LSTM(H, return_sequences=True)`` predicts the intent at every token ("intent"
  ``(B, T, n_intents)``, trained against the utterance's intent at each token); its per-token
  intent distribution is joined to the encoder's output and read by a slot decoder
  ``LSTM(H, return_sequences=True)`` before the slot Dense::

      enc (B, T, 2H) -> LSTM -> TimeDistributed(Dense(n_intents, softmax))  "intent"  (B, T, K)
      [enc, intent] (B, T, 2H + K) -> LSTM -> TimeDistributed(Dense(n_tags))  "slots" (B, T, n_tags)

  The utterance's intent is the per-token vote: the normalised product of the per-token intent
  probabilities (their mean log-probability). The gradient of the slot loss flows through the
  intent distribution into the intent decoder (the soft intent, where Stack-Propagation embeds the
  argmax).

The slot head (``--head``): ``softmax`` (a per-token ``Dense(softmax)``) or ``crf`` (a ``Dense`` of
scores and a ``CRF`` under the BIO constraints, trained on the utterance's tag log-likelihood).

Decoding (``--decode``): ``argmax`` takes each token's most probable tag and the most probable
intent on their own; ``bio`` decodes the tag probabilities with Viterbi under the BIO rules (an
``I-x`` only continues a ``B-x`` or ``I-x``); ``joint`` (the default) also picks the intent and the
tags together: the intent and valid tag path maximising ``p(intent) * prod_t p(tag_t)``, the tags
restricted to those seen with that intent in training (SNIPS's slot types belong to intents).
No weights are involved, so the three can be compared on one trained model (the report does).
With a CRF head the emission scores and the CRF's learnt transitions take the place of the
log-probabilities: ``bio`` is then the CRF's own Viterbi path, ``joint`` adds ``log p(intent)`` to
the best path score among each intent's tags (``log Z`` is common to all), and ``argmax`` reads
each token's best emission score alone.
Early stopping watches the valid split's slot F1, decoded the same way (``--monitor``). Training:
Adam at ``--learning-rate``, constant by default or, with ``--lr-schedule cosine``, decayed over
``--epochs`` as the tagger's.

Slot F1 is computed on whole slots with conlleval's rules (``seqeval``'s default mode); sentence
accuracy counts utterances whose every slot tag and intent are right.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from ..data.bio import NEG, bio_transitions, viterbi
from ..data.conllu_reader import read_tokenized
from ..data.snips_reader import read_snips
from ..data.vocab import Vocabulary
from ..errors import require_extra
from ..io import register_function
from ..layers import CRF, LSTM, Bidirectional, Concatenate, Dense, Dropout, Lambda, TimeDistributed
from ..models import Model
from . import common
from .tagger import (
    add_head_argument,
    add_lr_schedule_argument,
    lr_callbacks,
    sample_arrays,
    tag_head,
    tag_loss,
    word_features,
)

NAME = "slots"
HELP = "joint slot filling (BIO tags) and intent detection, one model with two outputs"

DECODINGS = ("joint", "bio", "argmax")
MONITORS = ("val_slot_f1", "val_sentence_accuracy", "val_loss")
INTERACTIONS = ("none", "utterance", "token-intent")
DEFAULTS = dict(word_dim=100, char_dim=32, char_units=32, units=128, dropout=0.3, max_word_len=16, min_count=1,
                interaction="none", head="softmax")


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, help="folder with train/, valid/, test/ (seq.in, seq.out, label)")
    p.add_argument("--units", type=int, default=DEFAULTS["units"], help="encoder BiLSTM units per direction")
    p.add_argument("--char-units", type=int, default=DEFAULTS["char_units"],
                   help="character BiLSTM units per direction (0: no character features)")
    p.add_argument("--word-dim", type=int, default=DEFAULTS["word_dim"])
    p.add_argument("--dropout", type=float, default=DEFAULTS["dropout"])
    p.add_argument("--word-dropout", type=float, default=0.1,
                   help="training: replace a word by the unknown word with this probability (default 0.1)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training utterances")
    p.add_argument("--interaction", choices=INTERACTIONS, default=DEFAULTS["interaction"],
                   help="what the slot decoder learns of the intent (see the module doc): none, the utterance "
                        "vector on every token, or Stack-Propagation's token-level intent (default %(default)s)")
    p.add_argument("--intent-to-slots", dest="interaction", action="store_const", const="utterance",
                   help="the same as --interaction utterance")
    add_head_argument(p)
    add_lr_schedule_argument(p, default="constant")
    p.add_argument("--monitor", choices=MONITORS, default="val_slot_f1",
                   help="early stopping and best-epoch choice on valid (default val_slot_f1, decoded as --decode; "
                        "val_loss, the summed loss, often stops on a bump of the small intent loss)")
    p.add_argument("--decode", choices=DECODINGS, default="joint",
                   help="how tags and intent are read from the probabilities (default joint; see the module doc)")
    common.add_common_arguments(p, epochs=20, batch_size=32, patience=4)


@register_function  # a saved model names it; loading finds it once this module is imported
def over_time(inputs):
    """``[(B, T, F), (B, H)]`` -> ``(B, T, H)``: the vector repeated at each of the sequence's steps."""
    seq, vec = inputs
    return vec[:, None, :].expand(-1, seq.shape[1], -1)  # (B, 1, H) -> (B, T, H), no copy


@register_function
def over_time_shape(input_shapes):
    """``over_time``'s output shape (a named function, so the saved model can refer to it)."""
    (B, T, _), (_, H) = input_shapes
    return (B, T, H)


@register_function
def sequence_mask(inputs, masks):
    """``over_time``'s output mask: the sequence's (so that Concatenate, which as in Keras counts an
    unmasked input as valid everywhere, keeps the padding masked)."""
    return masks[0] if isinstance(masks, (list, tuple)) else None


def interaction(config: dict) -> str:
    """The config's slot-intent interaction (configs saved before ``interaction`` say ``intent_to_slots``)."""
    return config.get("interaction") or ("utterance" if config.get("intent_to_slots") else "none")


def slot_constraints(config: dict) -> dict:
    """The CRF's BIO constraints from the config's tag vocabulary (padding, id 0, never decoded)."""
    allowed, start = bio_transitions(Vocabulary.from_dict(config["tags"]).itos)
    return {"allowed_transitions": allowed.tolist(), "allowed_start": start.tolist(),
            "allowed_end": allowed.any(axis=0).tolist()}


def build_model(config: dict):
    """The joint model from its config: outputs ``[slots, intent]`` (see the module doc)."""
    head, mode, units = config.get("head", "softmax"), interaction(config), config["units"]
    if mode not in INTERACTIONS:
        raise ValueError(f"slots: interaction must be one of {', '.join(INTERACTIONS)}, got {mode!r}.")
    constraints = slot_constraints(config) if head == "crf" else {}
    inputs, feats = word_features(config)
    h = Dropout(config["dropout"])(feats)
    enc = Bidirectional(LSTM(units, return_sequences=True), name="encoder")(h)
    enc = Dropout(config["dropout"])(enc)
    if mode == "token-intent":  # Stack-Propagation: intent at each token, fed to the slot decoder
        tok = Dropout(config["dropout"])(LSTM(units, return_sequences=True, name="intent_decoder")(enc))
        intent = TimeDistributed(Dense(config["n_intents"], activation="softmax"), name="intent")(tok)  # (B, T, K)
        dec = LSTM(units, return_sequences=True, name="slot_decoder")(
            Concatenate(name="tokens_and_intent")([enc, intent]))  # (B, T, 2H + K) -> (B, T, H)
        slots = tag_head(Dropout(config["dropout"])(dec), config["n_tags"], head, constraints, "slots")
        return Model(inputs, [slots, intent], name="joint_slots_intent")
    utterance = Bidirectional(LSTM(units), name="utterance")
    if mode == "utterance":
        summary = utterance(enc)  # (B, 2H)
        ctx = Lambda(over_time, output_shape=over_time_shape, mask=sequence_mask, name="utterance_over_time")(
            [enc, summary])  # (B, T, 2H), with the encoder's mask (so Concatenate keeps it)
        slots = tag_head(Concatenate(name="tokens_and_utterance")([enc, ctx]), config["n_tags"], head,
                         constraints, "slots")  # (B, T, 4H) -> (B, T, n_tags)
    else:  # slots first: weights are made in this order, so seeded runs reproduce those documented
        slots = tag_head(enc, config["n_tags"], head, constraints, "slots")
        summary = utterance(enc)
    intent = Dense(config["n_intents"], activation="softmax", name="intent")(summary)
    return Model(inputs, [slots, intent], name="joint_slots_intent")


def scoring_model(model):
    """A model sharing ``model``'s layers whose slot output is the CRF's input scores ``(B, T, N)``
    (for decoding with the intent); ``model`` itself when its slot head is a softmax."""
    from_crf = isinstance(model.get_layer("slots"), CRF)
    if not from_crf:
        return model
    scorer = Model(model.inputs, [model.get_layer("slots").input, model.get_layer("intent").output],
                   name="joint_slots_intent_scores")
    return scorer.train(model.training)  # the shared layers keep the model's mode


def crf_potentials(model) -> tuple | None:
    """``(transitions (N, N), start (N,), end (N,))`` of the model's slot CRF as numpy; None without one."""
    crf = model.get_layer("slots")
    if not isinstance(crf, CRF):
        return None
    with torch.no_grad():
        return tuple(w.detach().cpu().double().numpy() for w in crf.potentials())


def _vocabs(config) -> dict:
    return {k: Vocabulary.from_dict(config[k]) for k in ("words", "chars", "tags", "intents") if config.get(k)}


def intent_tags(examples, tags: Vocabulary) -> dict:
    """``{intent: [slot tags seen with it in examples]}`` (``O`` always included)."""
    seen: dict = {}
    for e in examples:
        seen.setdefault(e.intent, {"O"}).update(t for t in e.tags if t in tags)
    return {k: sorted(v) for k, v in sorted(seen.items())}


def decode(tag_probs, intent_probs, vocabs, mode: str = "joint", allowed_tags: dict | None = None, crf=None):
    """Slot tags and intent of each utterance from the model's probabilities (see the module doc).

    ``tag_probs``: one ``(T_i, N)`` array per utterance; ``intent_probs``: one ``(K,)`` array each
    (id 0, padding, is never chosen); ``allowed_tags``: ``{intent: [tags]}`` for ``joint`` (None:
    every tag with every intent); ``crf``: ``(transitions, start, end)`` of a CRF head (then
    ``tag_probs`` are its emission scores, not probabilities).
    """
    if mode not in DECODINGS:
        raise ValueError(f"decode: mode must be one of {', '.join(DECODINGS)}, got {mode!r}.")
    tag_names, intent_names = vocabs["tags"].itos, vocabs["intents"].itos
    if mode == "argmax":
        return ([vocabs["tags"].decode(p[:, 1:].argmax(-1) + 1) for p in tag_probs],
                [intent_names[int(q[1:].argmax()) + 1] for q in intent_probs])
    allowed, start = bio_transitions(tag_names)
    K = len(intent_names) - 1
    if mode == "joint":  # (K, N): the tags each intent (id k + 1) may use
        mask = np.ones((K, len(tag_names)), dtype=bool)
        for k, name in enumerate(intent_names[1:]):
            if allowed_tags and name in allowed_tags:
                mask[k] = np.isin(tag_names, allowed_tags[name])
    learnt = {} if crf is None else dict(zip(("transitions", "start_scores", "end_scores"), crf))
    tags, intents = [], []
    for p, q in zip(tag_probs, intent_probs):
        lp = np.log(np.maximum(p, 1e-12)) if crf is None else p  # (T, N)
        if mode == "bio":
            path, _ = viterbi(lp, allowed, start, **learnt)
            k = int(q[1:].argmax())
        else:
            paths, path_scores = viterbi(np.where(mask[:, None, :], lp, NEG), allowed, start, **learnt)  # (K, T), (K,)
            k = int((np.log(np.maximum(q[1:], 1e-12)) + path_scores).argmax())
            path = paths[k]
        tags.append(vocabs["tags"].decode(path))
        intents.append(intent_names[k + 1])
    return tags, intents


def utterance_intent(token_probs: np.ndarray) -> np.ndarray:
    """The utterance's intent probabilities ``(K,)`` from per-token ones ``(T, K)``: their
    normalised product (each token votes with its log-probabilities)."""
    lp = np.log(np.maximum(token_probs, 1e-12)).mean(0)  # (K,)
    p = np.exp(lp - lp.max())
    return p / p.sum()


def predict_probs(model, sentences, config, vocabs, batch_size=64) -> tuple[list, list]:
    """The model's ``(tag probabilities (T_i, N), intent probabilities (K,))`` for each utterance;
    with a CRF head the tag scores are its emission scores (``scoring_model``), and per-token
    intents (``token-intent``) are voted into the utterance's (``utterance_intent``)."""
    safe = [s or ["."] for s in sentences]
    tag_probs, intent_probs = common.predict_grouped(scoring_model(model), sample_arrays(safe, config, vocabs),
                                                     batch_size)
    return tag_probs, [utterance_intent(q) if q.ndim == 2 else q for q in intent_probs]


def decode_model(model, sentences, config, vocabs, batch_size=64, mode=None):
    """``(slot tags, intent)`` for each utterance, decoded as ``mode`` (default: the config's)."""
    return decode(*predict_probs(model, sentences, config, vocabs, batch_size), vocabs,
                  mode or config.get("decode", "argmax"), config.get("intent_tags"), crf_potentials(model))


def predict_examples(model, sentences, config, vocabs, batch_size=64, mode=None):
    """``(slot tags, intent)`` for each utterance (a list of tokens); ``mode``: config's decoding."""
    tags, intents = decode_model(model, sentences, config, vocabs, batch_size, mode)
    return [t[:len(s)] for t, s in zip(tags, sentences)], intents


def scores(gold_tags, gold_intents, tags, intents) -> dict:
    """Slot precision/recall/F1 (conlleval rules), intent and sentence accuracy, as fractions (0..1)."""
    metrics = require_extra("seqeval.metrics", "tasks", "slot F1 (conlleval rules)", package="seqeval")
    f1_score, precision_score, recall_score = metrics.f1_score, metrics.precision_score, metrics.recall_score

    n = len(gold_tags)
    sentence_ok = sum(g == p and gi == pi for g, p, gi, pi in zip(gold_tags, tags, gold_intents, intents))
    kw = {"zero_division": 0}  # no predicted slot at all: precision 0, not a warning
    return {"slot_f1": float(f1_score(gold_tags, tags, **kw)),
            "slot_precision": float(precision_score(gold_tags, tags, **kw)),
            "slot_recall": float(recall_score(gold_tags, tags, **kw)),
            "intent_accuracy": sum(a == b for a, b in zip(gold_intents, intents)) / n,
            "sentence_accuracy": sentence_ok / n}


def valid_scores(model, examples, config: dict, vocabs: dict, batch_size: int, mode: str) -> dict:
    """``val_slot_f1`` and ``val_sentence_accuracy`` of ``examples``, decoded as the run decodes
    (an ``EpochScores`` callback adds them to each epoch's logs, so early stopping can watch them)."""
    s = scores([e.tags for e in examples], [e.intent for e in examples],
               *decode_model(model, [e.tokens for e in examples], config, vocabs, batch_size, mode))
    return {"val_slot_f1": s["slot_f1"], "val_sentence_accuracy": s["sentence_accuracy"]}


def _vocabularies(args, train):
    """The vocabularies of the training utterances and the model config."""
    words = Vocabulary.build(([w.lower() for w in e.tokens] for e in train), min_count=int(DEFAULTS["min_count"]))
    chars = Vocabulary.build((c for w in e.tokens for c in w) for e in train)
    tags = Vocabulary.build((e.tags for e in train), unknown=False)
    intents = Vocabulary.build(([e.intent] for e in train), unknown=False)
    config = dict(DEFAULTS, word_dim=args.word_dim, char_units=args.char_units, units=args.units,
                  dropout=args.dropout, interaction=args.interaction, head=args.head, n_words=len(words),
                  n_chars=len(chars), n_tags=len(tags), n_intents=len(intents), words=words.to_dict(),
                  chars=chars.to_dict(), tags=tags.to_dict(),
                  intents=intents.to_dict(), decode=args.decode, intent_tags=intent_tags(train, tags))
    vocabs = {"words": words, "chars": chars, "tags": tags, "intents": intents}
    common.progress(args, f"{len(train)} training utterances, {len(words)} words, {len(tags) - 1} slot tags, "
                          f"{len(intents) - 1} intents")
    return config, vocabs


def _train(args, out, data, train, config, vocabs):
    """Build and fit the joint model, early-stopped on the ``--monitor`` figure."""
    tags, intents = vocabs["tags"], vocabs["intents"]
    per_token = interaction(config) == "token-intent"

    def loader(examples, shuffle):
        # tags unseen in training (rare slots in dev/test) count as errors in scoring, not in the loss
        xs = sample_arrays([e.tokens for e in examples], config, vocabs)
        y_tags = [np.asarray([tags.stoi.get(t, tags.stoi["O"]) for t in e.tags], dtype=np.int64) for e in examples]
        y_int = [np.full(len(e.tokens) if per_token else (), intents.stoi.get(e.intent, 1), dtype=np.int64)
                 for e in examples]  # token-intent: the utterance's intent at each token
        return common.bucketed_loader(xs, [y_tags, y_int], args.batch_size, shuffle=shuffle, seed=args.seed,
                                      word_dropout=args.word_dropout if shuffle else 0.0)

    model = build_model(config)
    crf = config["head"] == "crf"
    model.compile(optimizer=common.optimizer(args),
                  loss=[tag_loss(model, config["head"], "slots"), "sparse_categorical_crossentropy"],
                  metrics=[[] if crf else ["accuracy"], ["accuracy"]])  # a CRF's inference output is tags
    common.progress(args, f"training (at most {args.epochs} epochs)")
    history = common.fit_resumable(model, loader(train, True), None, out=out, args=args,
                                   validation_data=loader(data["valid"], False), monitor=args.monitor,
                                   mode="min" if args.monitor == "val_loss" else "max",
                                   callbacks=lr_callbacks(args) + [common.EpochScores(partial(
                                       valid_scores, examples=data["valid"], config=config, vocabs=vocabs,
                                       batch_size=args.batch_size, mode=args.decode))])
    return model, history


def _score(args, model, data, config, vocabs, report) -> list:
    """Every decoding of the same model on valid and test into ``report``; the report's rows."""
    rows, others = [], []
    report["decodings"] = {mode: {} for mode in DECODINGS}  # every decoding of the same model, compared
    crf = crf_potentials(model)
    for split in ("valid", "test"):
        ex = data[split]
        probs = predict_probs(model, [e.tokens for e in ex], config, vocabs, args.batch_size)
        for mode in DECODINGS:
            s = scores([e.tags for e in ex], [e.intent for e in ex],
                       *decode(*probs, vocabs, mode, config["intent_tags"], crf))
            report["decodings"][mode][split] = s
            if mode != args.decode:
                others.append((f"{split} slot F1 / intent accuracy (%), {mode} decoding",
                               f"{100 * s['slot_f1']:.2f} / {100 * s['intent_accuracy']:.2f}"))
        s = report[split] = report["decodings"][args.decode][split]
        rows += [(f"{split} slot F1 (%)", 100 * s["slot_f1"]),
                 (f"{split} intent accuracy (%)", 100 * s["intent_accuracy"]),
                 (f"{split} sentence accuracy (%)", 100 * s["sentence_accuracy"])]
    return rows + others


def run(args) -> int:
    clock = common.Stopwatch()
    out = common.setup(args)
    common.progress(args, f"reading {args.data}")
    data = read_snips(args.data)
    train = data["train"][:args.limit] if args.limit else data["train"]
    config, vocabs = _vocabularies(args, train)
    model, history = _train(args, out, data, train, config, vocabs)

    report = {"task": NAME, "data": str(args.data),
              "utterances": {k: len(v) for k, v in data.items()} | {"train_used": len(train)},
              "config": {k: v for k, v in config.items()
                         if k not in ("words", "chars", "tags", "intents", "intent_tags")},
              "args": common.arguments(args),
              "history": history, **common.training_time(history)}
    rows = _score(args, model, data, config, vocabs, report)
    common.save_task(out, model, NAME, config)
    report["wall_seconds"] = clock()
    rows += [("epochs run", len(report["history"].get("loss", []))),
             ("training wall / CPU time (s)", f"{report['train_seconds']:.0f} / {report['train_cpu_seconds']:.0f}"),
             ("wall time (s)", report["wall_seconds"]), ("torch threads", torch.get_num_threads())]
    common.write_report(out, report, f"Slots + intent on {args.data}", rows,
                        notes=f"Slot F1: whole slots, conlleval rules (seqeval default mode). Decoding: {args.decode}.")
    common.progress(args, "test: " + " / ".join(f"{k}: {common.fmt(v)}" for k, v in rows[3:6]) + f"; report in {out}")
    return 0


def predict(out_dir, config, input_path, args) -> int:
    """Slot tags and intent for pre-tokenized utterances: ``word/TAG ...<TAB>intent`` a line."""
    sentences = read_tokenized(input_path)
    model = build_model(config)
    common.load_weights(out_dir, model)
    tags, intents = predict_examples(model, sentences, config, _vocabs(config), args.batch_size)
    text = "".join(" ".join(f"{w}/{t}" for w, t in zip(s, ts)) + f"\t{i}\n"
                   for s, ts, i in zip(sentences, tags, intents))
    return common.write_output(text, args)
