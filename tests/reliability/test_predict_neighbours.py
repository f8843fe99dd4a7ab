"""Predictions never depend on their neighbours (hypothesis).

A line's prediction is the same predicted alone, in any group of lines and at any position of the
file: for every task's predict path (tagger, slots, dialogue through ``predict_grouped``; forecast
and addition through ``model.predict`` on fixed-size windows) and for ``Model.predict`` on masked
ragged input. Lengths are drawn so that a group's longest line often has exactly as many tokens as
the slots model has intent entries (n_intents + 1 with the padding id), the case that cut the intent
vectors before.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlayers import GRU, LSTM, Bidirectional, Dense, Embedding, Input, Model, TimeDistributed
from seqlayers.data.vocab import Vocabulary
from seqlayers.tasks import common, dialogue, slots, tagger

EXAMPLES = int(os.environ.get("SEQLAYERS_PROPERTY_EXAMPLES", "12"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
N_INTENTS = 3  # real intents; the intent vector has N_INTENTS + 1 entries (id 0 is padding)
WORD_IDS, CHAR_IDS, MAX_WORD_LEN = 20, 9, 4


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _word_config(char_units):
    return dict(word_dim=4, char_dim=3, char_units=char_units, units=3, dropout=0.0, max_word_len=MAX_WORD_LEN,
                n_words=WORD_IDS, n_chars=CHAR_IDS + 1, layers=1)


def _seeded(build, config):
    torch.manual_seed(0)
    return build(config).eval()


MODELS = {
    "tagger": _seeded(tagger.build_model, dict(_word_config(0), n_tags=5)),
    "tagger_chars": _seeded(tagger.build_model, dict(_word_config(2), n_tags=5)),
    "slots": _seeded(slots.build_model, dict(_word_config(0), n_tags=5, n_intents=N_INTENTS + 1)),
    "slots_chars_intent_to_slots": _seeded(slots.build_model, dict(_word_config(2), n_tags=5,
                                                                   n_intents=N_INTENTS + 1, intent_to_slots=True)),
    "dialogue": _seeded(lambda c: dialogue.build_model(c, context=True),
                        dict(n_words=WORD_IDS, word_dim=4, units=3, dialogue_units=3, dropout=0.0, n_type=4,
                             n_act_slot=N_INTENTS + 1)),
}
CHARS = {"tagger_chars", "slots_chars_intent_to_slots"}


@st.composite
def files(draw, dialogues=False):
    """Per-sample input arrays (as the tasks make them), a group size, a batch size, an order."""
    n = draw(st.integers(1, 7))
    special = N_INTENTS + 1  # a line as long as the intent vector
    lengths = draw(st.lists(st.one_of(st.integers(1, 7), st.just(special), st.just(special + 1)),
                            min_size=n, max_size=n))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    if dialogues:  # (turns, W) word ids, every turn at least one word
        width = draw(st.integers(1, 4))
        words = [np.where(np.arange(width) < rng.integers(1, width + 1, size=(L, 1)),
                          rng.integers(2, WORD_IDS, size=(L, width)), 0) for L in lengths]
        xs = [words]
    else:
        words = [rng.integers(2, WORD_IDS, size=L) for L in lengths]
        chars = [np.where(np.arange(MAX_WORD_LEN) < rng.integers(1, MAX_WORD_LEN + 1, size=(L, 1)),
                          rng.integers(1, CHAR_IDS + 1, size=(L, MAX_WORD_LEN)), 0) for L in lengths]
        xs = [words, chars]
    group = draw(st.integers(1, n))
    batch = draw(st.integers(1, 4))
    order = draw(st.permutations(range(n)))
    return xs, group, batch, list(order)


def _inputs(name, xs):
    return xs if name in CHARS else xs[:1]


@pytest.mark.parametrize("name", ["tagger", "tagger_chars", "slots", "slots_chars_intent_to_slots"])
@SETTINGS
@given(data=files())
def test_predict_grouped_gives_each_line_its_own_prediction(name, data):
    model = MODELS[name]
    xs, group, batch, order = data
    xs = _inputs(name, xs)
    together = common.predict_grouped(model, xs, batch_size=batch, group=group)
    shuffled = common.predict_grouped(model, [[inp[i] for i in order] for inp in xs], batch_size=batch, group=group)
    for i in range(len(xs[0])):
        alone = common.predict_grouped(model, [[inp[i]] for inp in xs], batch_size=1)
        for k, out in enumerate(together):
            _close(out[i], alone[k][0])
            _close(shuffled[k][order.index(i)], alone[k][0])
            if k == 0:
                assert out[i].shape[0] == len(xs[0][i])  # per-step output cut to the line
            else:
                assert out[i].shape == (N_INTENTS + 1,)  # the intent vector is never cut


@SETTINGS
@given(data=files(dialogues=True))
def test_dialogue_predictions_are_independent_of_the_other_dialogues(data):
    model = MODELS["dialogue"]
    xs, group, batch, order = data
    together = common.predict_grouped(model, xs, batch_size=batch, group=group)
    shuffled = common.predict_grouped(model, [[xs[0][i] for i in order]], batch_size=batch, group=group)
    for i in range(len(xs[0])):
        alone = common.predict_grouped(model, [[xs[0][i]]], batch_size=1)
        for k, out in enumerate(together):
            assert out[i].shape[0] == len(xs[0][i])  # one row per turn, even when turns == n_act_slot
            _close(out[i], alone[k][0])
            _close(shuffled[k][order.index(i)], alone[k][0])


def _slot_vocabs():
    words = Vocabulary([f"w{i}" for i in range(WORD_IDS - 2)])
    chars = Vocabulary([chr(97 + i) for i in range(CHAR_IDS - 1)])
    tags = Vocabulary(["O", "B-a", "I-a", "B-b"], unknown=False)
    intents = Vocabulary([f"intent{i}" for i in range(N_INTENTS)], unknown=False)
    return {"words": words, "chars": chars, "tags": tags, "intents": intents}


@pytest.mark.parametrize("mode", ["joint", "bio", "argmax"])
@SETTINGS
@given(lengths=st.lists(st.one_of(st.integers(0, 6), st.just(N_INTENTS + 1)), min_size=1, max_size=6),
       seed=st.integers(0, 2 ** 16), order=st.randoms(use_true_random=False))
def test_slots_predict_decodes_each_line_as_it_would_alone(mode, lengths, seed, order):
    rng = np.random.default_rng(seed)
    vocabs = _slot_vocabs()
    config = dict(_word_config(2), n_tags=len(vocabs["tags"]), n_intents=len(vocabs["intents"]),
                  intent_tags={"intent0": ["O", "B-a", "I-a"]})
    model = MODELS["slots_chars_intent_to_slots"]
    lines = [[f"w{rng.integers(0, WORD_IDS - 2)}" for _ in range(L)] for L in lengths]
    tags, intents = slots.predict_examples(model, lines, config, vocabs, batch_size=2, mode=mode)
    perm = list(range(len(lines)))
    order.shuffle(perm)
    tags_p, intents_p = slots.predict_examples(model, [lines[i] for i in perm], config, vocabs, mode=mode)
    for i, line in enumerate(lines):
        alone_tags, alone_intent = slots.predict_examples(model, [line], config, vocabs, mode=mode)
        assert len(tags[i]) == len(line)
        assert (tags[i], intents[i]) == (alone_tags[0], alone_intent[0])
        assert (tags_p[perm.index(i)], intents_p[perm.index(i)]) == (alone_tags[0], alone_intent[0])


@SETTINGS
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=6), seed=st.integers(0, 2 ** 16))
def test_tagger_predict_tags_each_line_as_it_would_alone(lengths, seed):
    rng = np.random.default_rng(seed)
    vocabs = {k: v for k, v in _slot_vocabs().items() if k in ("words", "chars", "tags")}
    config = dict(_word_config(2), n_tags=len(vocabs["tags"]))
    lines = [[f"w{rng.integers(0, WORD_IDS - 2)}" for _ in range(L)] for L in lengths]
    together = tagger.predict_tags(MODELS["tagger_chars"], lines, config, vocabs, batch_size=3)
    for line, tags in zip(lines, together):
        assert tags == tagger.predict_tags(MODELS["tagger_chars"], [line], config, vocabs)[0]
        assert len(tags) == len(line)


# ---------------------------------------------------------------- fixed-size windows: forecast, addition
@SETTINGS
@given(n=st.integers(1, 9), batch=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_forecast_and_addition_windows_are_predicted_independently(n, batch, seed):
    from seqlayers.tasks import addition, forecast

    rng = np.random.default_rng(seed)
    torch.manual_seed(0)
    s2s = forecast.Seq2SeqForecaster(lookback=5, n_features=2, n_out=1, units=3)
    x = rng.normal(size=(n, 5, 2)).astype("float32")
    together = s2s.predict(x, horizon=3, target_index=0, batch_size=batch)
    torch.manual_seed(0)
    add = addition.build_model(digits=2, units=4).eval()
    q = np.eye(len(addition.CHARS), dtype="float32")[rng.integers(0, len(addition.CHARS), size=(n, 5))]
    answers = add.predict(q, batch_size=batch, verbose=0)
    for i in range(n):
        _close(together[i], s2s.predict(x[i:i + 1], horizon=3, target_index=0)[0])
        _close(answers[i], add.predict(q[i:i + 1], verbose=0)[0])


# ---------------------------------------------------------------- Model.predict with masks
def _masked_model(kind, bidirectional):
    torch.manual_seed(0)
    ids = Input(shape=(None,), dtype="int64")
    e = Embedding(WORD_IDS, 4, mask_zero=True)(ids)
    rnn = (LSTM if kind == "lstm" else GRU)(3, return_sequences=True)
    h = (Bidirectional(rnn) if bidirectional else rnn)(e)
    per_step = TimeDistributed(Dense(N_INTENTS + 1, activation="softmax"))(h)
    last = Dense(N_INTENTS + 1, activation="softmax")((LSTM if kind == "lstm" else GRU)(3)(h))
    return Model(ids, [per_step, last]).eval()


MASKED = {(k, b): _masked_model(k, b) for k in ("lstm", "gru") for b in (False, True)}


@pytest.mark.parametrize("kind,bidirectional", list(MASKED))
@SETTINGS
@given(lengths=st.lists(st.one_of(st.integers(1, 7), st.just(N_INTENTS + 1)), min_size=1, max_size=6),
       batch=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_model_predict_on_ragged_masked_input_is_independent_of_the_batch(kind, bidirectional, lengths, batch, seed):
    model = MASKED[(kind, bidirectional)]
    rng = np.random.default_rng(seed)
    lines = [rng.integers(1, WORD_IDS, size=L).tolist() for L in lengths]
    per_step, last = model.predict(lines, batch_size=batch, verbose=0)  # ragged: padded and masked for us
    for i, line in enumerate(lines):
        alone_step, alone_last = model.predict([line], verbose=0)
        _close(per_step[i, :len(line)], alone_step[0])
        _close(last[i], alone_last[0])
