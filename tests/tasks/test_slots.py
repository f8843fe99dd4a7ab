"""`seqlayers train slots` / `seqlayers predict` end to end on a tiny generated SNIPS-style data set."""
import argparse
import json
import random

import numpy as np
import pytest
import torch

from seqlayers import CRF
from seqlayers.cli import main
from seqlayers.data.snips_reader import SlotExample
from seqlayers.data.vocab import Vocabulary
from seqlayers.io import load_model
from seqlayers.layers.base import get_mask
from seqlayers.tasks.common import load_weights
from seqlayers.tasks.slots import (
    add_arguments,
    build_model,
    crf_potentials,
    decode,
    intent_tags,
    interaction,
    predict_examples,
    scores,
    scoring_model,
    utterance_intent,
)

ARTISTS = [["abba"], ["daft", "punk"], ["madonna"], ["the", "beatles"]]
SERVICES = [["spotify"], ["deezer"], ["google", "music"]]
CITIES = [["paris"], ["new", "york"], ["berlin"]]


def span(words, slot):
    return words, ["B-" + slot] + ["I-" + slot] * (len(words) - 1)


def utterance(rng):
    if rng.random() < 0.5:
        a, s = span(rng.choice(ARTISTS), "artist"), span(rng.choice(SERVICES), "service")
        toks = ["play"] + a[0] + ["on"] + s[0]
        return toks, ["O"] + a[1] + ["O"] + s[1], "PlayMusic"
    c = span(rng.choice(CITIES), "city")
    toks = ["weather", "in"] + c[0] + ["today"]
    return toks, ["O", "O"] + c[1] + ["B-timeRange"], "GetWeather"


def write_data(root, seed=0):
    rng = random.Random(seed)
    for split, n in (("train", 80), ("valid", 12), ("test", 12)):
        d = root / split
        d.mkdir(parents=True)
        rows = [utterance(rng) for _ in range(n)]
        (d / "seq.in").write_text("".join(" ".join(t) + " \n" for t, _, _ in rows))
        (d / "seq.out").write_text("".join(" ".join(g) + " \n" for _, g, _ in rows))
        (d / "label").write_text("".join(i + "\n" for _, _, i in rows))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("slots")
    write_data(d / "data")
    argv = ["train", "slots", "--data", str(d / "data"), "--out", str(d / "out"), "--epochs", "10",
            "--batch-size", "8", "--units", "16", "--char-units", "8", "--word-dim", "16", "--patience", "10",
            "--learning-rate", "0.01", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    return d


def test_train_reports_slot_f1_intent_and_sentence_accuracy(trained):
    report = json.loads((trained / "out" / "report.json").read_text())
    assert report["task"] == "slots"
    test = report["test"]
    assert set(test) >= {"slot_f1", "intent_accuracy", "sentence_accuracy", "slot_precision", "slot_recall"}
    assert test["intent_accuracy"] >= 0.90 and test["slot_f1"] >= 0.80  # fractions, as Keras logs them
    assert len(report["history"]["loss"]) == 10
    assert {"slots_loss", "intent_loss", "val_slots_accuracy", "val_intent_accuracy"} <= set(report["history"])
    f1 = report["history"]["val_slot_f1"]  # added by EpochScores(valid_scores) each epoch; early stopping watches it
    assert len(f1) == 10 and all(0.0 <= v <= 1.0 for v in f1) and f1[-1] > f1[0]
    assert report["valid"]["slot_f1"] == pytest.approx(max(f1))  # the best epoch's weights are restored
    assert set(report["decodings"]) == {"joint", "bio", "argmax"}
    assert report["test"] == report["decodings"]["joint"]["test"]  # the default decoding is reported
    md = (trained / "out" / "report.md").read_text()
    assert "| test slot F1 (%) |" in md and "| test intent accuracy (%) |" in md


def test_predict_writes_tags_and_intent(trained, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    inp.write_text("play abba on spotify\nweather in paris today\n")
    capsys.readouterr()
    assert main(["predict", str(trained / "out"), str(inp)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "play/O abba/B-artist on/O spotify/B-service\tPlayMusic"
    assert lines[1].endswith("\tGetWeather")


def test_scores_follow_conlleval_rules():
    gold = [["B-artist", "I-artist", "O"], ["B-city", "O", "O"]]
    pred = [["B-artist", "I-artist", "O"], ["B-city", "B-city", "O"]]  # one spurious slot
    s = scores(gold, ["A", "B"], pred, ["A", "C"])
    assert s["slot_precision"] == pytest.approx(2 / 3) and s["slot_recall"] == pytest.approx(1.0)
    assert s["slot_f1"] == pytest.approx(0.80)
    assert s["intent_accuracy"] == pytest.approx(0.50) and s["sentence_accuracy"] == pytest.approx(0.50)
    # conlleval: an I- tag after O starts a slot, so "O I-city" is one (wrong-boundary-free) city slot
    s = scores([["O", "B-city"]], ["A"], [["O", "I-city"]], ["A"])
    assert s["slot_f1"] == pytest.approx(1.0)


def test_misaligned_files_fail_with_file_and_line(tmp_path, capsys):
    root = write_data(tmp_path / "data")
    lines = (root / "valid" / "seq.out").read_text().splitlines()
    lines[2] = lines[2] + " O"
    (root / "valid" / "seq.out").write_text("\n".join(lines) + "\n")
    assert main(["train", "slots", "--data", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "valid/seq.out:3:" in capsys.readouterr().err


def _vocabs():
    tags = Vocabulary(["O", "B-city", "I-city", "B-artist", "I-artist"], unknown=False)  # ids 1..5
    return {"tags": tags, "intents": Vocabulary(["GetWeather", "PlayMusic"], unknown=False)}


def test_intent_tags_lists_the_tags_seen_with_each_intent():
    ex = [SlotExample(["paris"], ["B-city"], "GetWeather"),
          SlotExample(["abba", "x"], ["B-artist", "B-zzz"], "PlayMusic")]  # B-zzz: not in the tag vocabulary
    assert intent_tags(ex, _vocabs()["tags"]) == {"GetWeather": ["B-city", "O"], "PlayMusic": ["B-artist", "O"]}


def test_decodings_argmax_bio_and_joint():
    v = _vocabs()
    # "weather in new york": "york" is most probably I-city, "new" most probably O (an invalid pair)
    p = np.full((4, 6), 1e-3)
    p[0, 1] = p[1, 1] = 0.99
    p[2, 1], p[2, 2] = 0.5, 0.45  # O, B-city
    p[3, 3], p[3, 5] = 0.6, 0.39  # I-city, I-artist
    q = np.array([0.0, 0.45, 0.55])  # the intent alone leans to PlayMusic
    allowed = {"GetWeather": ["B-city", "I-city", "O"], "PlayMusic": ["B-artist", "I-artist", "O"]}
    tags, intents = decode([p], [q], v, "argmax")
    assert tags == [["O", "O", "O", "I-city"]] and intents == ["PlayMusic"]
    tags, intents = decode([p], [q], v, "bio")
    assert tags == [["O", "O", "B-city", "I-city"]] and intents == ["PlayMusic"]
    # joint: PlayMusic allows no city tags, so its best path (all O) scores far below GetWeather's
    tags, intents = decode([p], [q], v, "joint", allowed)
    assert tags == [["O", "O", "B-city", "I-city"]] and intents == ["GetWeather"]
    # without the intent's tag sets, joint is bio decoding plus the most probable intent
    assert decode([p], [q], v, "joint") == decode([p], [q], v, "bio")
    with pytest.raises(ValueError, match="mode must be one of joint, bio, argmax, got 'crf'"):
        decode([p], [q], v, "crf")


@pytest.mark.parametrize("intent_to_slots", [False, True])
def test_model_outputs_ignore_padding_with_and_without_the_utterance_vector_on_tokens(intent_to_slots):
    cfg = dict(word_dim=8, char_dim=4, char_units=0, units=6, dropout=0.0, max_word_len=4, n_words=20, n_chars=5,
               n_tags=7, n_intents=4, intent_to_slots=intent_to_slots)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert ("utterance_over_time" in [n.layer.name for n in model._nodes]) == intent_to_slots
    words = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])  # (B=2, T=5), the first padded after 3 words
    slots, intent = model(words)
    assert tuple(slots.shape) == (2, 5, 7) and tuple(intent.shape) == (2, 4)
    assert get_mask(slots).tolist() == [[True] * 3 + [False] * 2, [True] * 5]  # the slot loss skips padding
    alone_slots, alone_intent = model(words[:1, :3])
    torch.testing.assert_close(slots[:1, :3], alone_slots)
    torch.testing.assert_close(intent[:1], alone_intent)


def test_train_with_the_utterance_vector_on_tokens_saves_a_loadable_model(tmp_path):
    write_data(tmp_path / "data")
    argv = ["train", "slots", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--epochs", "1",
            "--units", "4", "--char-units", "0", "--word-dim", "4", "--intent-to-slots", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    model = load_model(tmp_path / "out" / "model.seqlayers")  # the Lambda's functions are stored by name
    assert "utterance_over_time" in [n.layer.name for n in model._nodes]


def test_cosine_lr_schedule_decays_the_slot_models_rate_each_epoch(tmp_path):
    write_data(tmp_path / "data")
    argv = ["train", "slots", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--epochs", "3",
            "--patience", "3", "--units", "4", "--char-units", "0", "--word-dim", "4", "--learning-rate", "0.01",
            "--lr-schedule", "cosine", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["history"]["learning_rate"] == pytest.approx([0.01, 0.0075, 0.0025], rel=1e-5)  # cos(k pi / 3)
    assert report["args"]["lr_schedule"] == "cosine"


@pytest.fixture(scope="module")
def trained_crf(tmp_path_factory):
    d = tmp_path_factory.mktemp("slots_crf")
    write_data(d / "data")
    argv = ["train", "slots", "--data", str(d / "data"), "--out", str(d / "out"), "--epochs", "10",
            "--batch-size", "8", "--units", "16", "--char-units", "8", "--word-dim", "16", "--patience", "10",
            "--learning-rate", "0.01", "--quiet", "--threads", "1", "--head", "crf", "--interaction", "token-intent"]
    assert main(argv) == 0
    return d


def test_crf_head_with_token_level_intent_trains_and_reports_every_decoding(trained_crf):
    report = json.loads((trained_crf / "out" / "report.json").read_text())
    assert report["config"]["head"] == "crf" and report["config"]["interaction"] == "token-intent"
    h = report["history"]
    assert len(h["loss"]) == 10 and h["slots_loss"][-1] < 0.5 * h["slots_loss"][0]  # the CRF's NLL falls
    assert "val_intent_accuracy" in h and "val_slots_accuracy" not in h  # no accuracy on a CRF's tags
    assert report["valid"]["slot_f1"] == pytest.approx(max(h["val_slot_f1"]))
    assert set(report["decodings"]) == {"joint", "bio", "argmax"}
    assert report["test"]["intent_accuracy"] >= 0.90 and report["test"]["slot_f1"] >= 0.80


def test_crf_model_predicts_and_its_saved_model_loads(trained_crf, tmp_path, capsys):
    out = trained_crf / "out"
    inp = tmp_path / "in.txt"
    inp.write_text("play abba on spotify\nweather in paris today\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(inp)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "play/O abba/B-artist on/O spotify/B-service\tPlayMusic"
    assert lines[1] == "weather/O in/O paris/B-city today/B-timeRange\tGetWeather"
    loaded = load_model(out / "model.seqlayers")
    assert isinstance(loaded.get_layer("slots"), CRF)
    config = json.loads((out / "task.json").read_text())["config"]
    sentences = [["play", "abba", "on", "spotify"], ["weather", "in", "new", "york", "today"]]
    assert predict_examples(loaded, sentences, config, _vocabs_of(config)) == \
        predict_examples(build_and_load(config, out), sentences, config, _vocabs_of(config))


def _vocabs_of(config):
    return {k: Vocabulary.from_dict(config[k]) for k in ("words", "chars", "tags", "intents")}


def build_and_load(config, out):
    model = build_model(config)
    load_weights(out, model)
    return model


def _crf_config(interaction, head="crf"):
    tags = Vocabulary(["O", "B-city", "I-city", "B-artist", "I-artist"], unknown=False)  # ids 1..5, 0 padding
    return dict(word_dim=8, char_dim=4, char_units=0, units=6, dropout=0.0, max_word_len=4, n_words=20, n_chars=5,
                n_tags=len(tags), n_intents=4, interaction=interaction, head=head, tags=tags.to_dict())


@pytest.mark.parametrize("interaction", ["none", "utterance", "token-intent"])
def test_crf_head_shapes_in_training_and_inference_and_padding_ignored(interaction):
    torch.manual_seed(0)
    model = build_model(_crf_config(interaction))
    words = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])  # (B=2, T=5), the first padded after 3 words
    scores, intent = model.train()(words)
    assert tuple(scores.shape) == (2, 5, 6) and scores.is_floating_point()  # the CRF passes its scores in fit
    assert tuple(intent.shape) == ((2, 5, 4) if interaction == "token-intent" else (2, 4))
    tags, intent = model.eval()(words)
    assert tags.dtype == torch.int64 and tuple(tags.shape) == (2, 5)  # Viterbi tag ids in inference
    assert (tags[0, 3:] == 0).all() and (tags[0, :3] > 0).all() and (tags[1] > 0).all()  # padding never decoded
    alone_tags, alone_intent = model(words[:1, :3])
    torch.testing.assert_close(tags[:1, :3], alone_tags)
    torch.testing.assert_close(intent[:1, :3] if interaction == "token-intent" else intent[:1], alone_intent)


def test_bio_decoding_of_a_crf_model_is_the_crf_layers_own_viterbi_path():
    """The task's numpy decoding (emission scores + learnt transitions) against the layer's torch Viterbi."""
    torch.manual_seed(1)
    config = _crf_config("none")
    model = build_model(config)
    crf = model.get_layer("slots")
    with torch.no_grad():  # transitions strong enough to matter
        crf.transitions.normal_(0, 2.0)
        crf.start_transitions.normal_(0, 2.0)
        crf.end_transitions.normal_(0, 2.0)
    words = torch.tensor([[3, 4, 5, 6, 0, 0], [6, 7, 8, 9, 10, 11], [12, 13, 0, 0, 0, 0]])
    lengths = [4, 6, 2]
    model.eval()
    with torch.no_grad():
        layer_tags = model(words)[0].numpy()
        emissions, intent = scoring_model(model)(words)
    vocabs = {"tags": Vocabulary.from_dict(config["tags"]), "intents": Vocabulary(["a", "b", "c"], unknown=False)}
    tags, _ = decode([emissions[i, :n].numpy() for i, n in enumerate(lengths)], list(intent.numpy()), vocabs,
                     "bio", crf=crf_potentials(model))
    assert tags == [vocabs["tags"].decode(layer_tags[i, :n]) for i, n in enumerate(lengths)]
    argmax, _ = decode([emissions[i, :n].numpy() for i, n in enumerate(lengths)], list(intent.numpy()), vocabs,
                       "argmax", crf=crf_potentials(model))
    assert argmax != tags  # the transitions change the path, so the check above can fail


def test_token_level_intents_vote_by_their_normalised_product():
    q = np.array([[0.0, 0.6, 0.3, 0.1], [0.0, 0.2, 0.7, 0.1], [0.0, 0.5, 0.4, 0.1]])  # (T=3, K=4), id 0: padding
    p = utterance_intent(q)
    product = np.prod(np.maximum(q, 1e-12), axis=0) ** (1 / 3)
    np.testing.assert_allclose(p, product / product.sum())
    assert int(p.argmax()) == 2  # the product prefers the token that is sure over two lukewarm ones


def test_interaction_options_and_the_old_flag(tmp_path):
    assert interaction({"intent_to_slots": True}) == "utterance" and interaction({}) == "none"
    with pytest.raises(ValueError, match="slots: interaction must be one of none, utterance, token-intent, "
                                         "got 'gate'"):
        build_model(_crf_config("gate"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--data", "d", "--out", "o"]
    assert parser.parse_args(base + ["--intent-to-slots"]).interaction == "utterance"
    args = parser.parse_args(base)
    assert (args.interaction, args.head, args.lr_schedule) == ("none", "softmax", "constant")
