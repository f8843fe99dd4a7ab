"""`seqlayers train tagger` / `seqlayers predict` end to end on a tiny generated treebank."""
import json
import random

import numpy as np
import pytest
import torch

from seqlayers import CRF
from seqlayers.cli import main
from seqlayers.io import load_model
from seqlayers.tasks import tagger

LEXICON = {"DET": ["the", "a", "this"], "NOUN": ["cat", "dog", "idea", "house"], "VERB": ["sees", "likes", "eats"],
           "ADJ": ["big", "red", "old"], "PUNCT": ["."]}


def sentence(rng):
    tags = ["DET"] + (["ADJ"] if rng.random() < 0.5 else []) + ["NOUN", "VERB", "DET", "NOUN", "PUNCT"]
    return [(rng.choice(LEXICON[t]).capitalize() if i == 0 else rng.choice(LEXICON[t]), t) for i, t in enumerate(tags)]


def write_treebank(path, n, seed):
    rng = random.Random(seed)
    blocks = []
    for k in range(n):
        lines = [f"# sent_id = {k}"]
        for i, (w, t) in enumerate(sentence(rng), 1):
            lines.append(f"{i}\t{w}\t{w.lower()}\t{t}\t{t[:2]}\t_\t0\tdep\t_\t_")
        if k == 0:  # a multi-word token line and an empty node, which the reader must skip
            lines.insert(1, "1-2\tThecat\t_\t_\t_\t_\t_\t_\t_\t_")
            lines.append("7.1\tgone\tgo\t_\t_\t_\t_\t_\t7:dep\t_")
        blocks.append("\n".join(lines) + "\n")
    path.write_text("\n".join(blocks) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("tagger")
    paths = [write_treebank(d / f"{s}.conllu", n, seed) for s, n, seed in (("train", 60, 1), ("dev", 10, 2),
                                                                            ("test", 10, 3))]
    argv = ["train", "tagger", "--train", str(paths[0]), "--dev", str(paths[1]), "--test", str(paths[2]),
            "--out", str(d / "out"), "--epochs", "12", "--batch-size", "8", "--units", "16", "--char-units", "8",
            "--word-dim", "16", "--patience", "12", "--learning-rate", "0.01", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    return d, argv


def test_train_writes_model_report_and_heatmap_and_learns(trained):
    d, _ = trained
    out = d / "out"
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "tagger" and report["column"] == "upos"
    assert report["test_accuracy"] >= 0.90  # every word has one tag: easy to learn (a fraction, as Keras)
    assert len(report["history"]["loss"]) == 12 and report["history"]["loss"][-1] < report["history"]["loss"][0]
    labels = report["test_confusion"]["labels"]
    assert sorted(labels) == sorted(LEXICON)
    assert sum(map(sum, report["test_confusion"]["counts"])) == report["test_words"]
    assert (out / "confusion.png").stat().st_size > 1000
    assert (out / "weights.safetensors").is_file() and (out / "task.json").is_file()
    assert "| test UPOS accuracy (%) |" in (out / "report.md").read_text()


def test_predict_tags_pretokenized_text(trained, tmp_path, capsys):
    d, _ = trained
    inp = tmp_path / "in.txt"
    inp.write_text("The big dog likes a cat .\n\nthis house eats .\n")
    capsys.readouterr()
    assert main(["predict", str(d / "out"), str(inp)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1] == ""
    assert lines[0].split() == ["The/DET", "big/ADJ", "dog/NOUN", "likes/VERB", "a/DET", "cat/NOUN", "./PUNCT"]


def test_rerun_of_a_finished_run_reuses_the_trained_model(trained, capsys):
    d, argv = trained
    before = json.loads((d / "out" / "report.json").read_text())
    capsys.readouterr()
    assert main([a for a in argv if a != "--quiet"]) == 0
    assert "already trained" in capsys.readouterr().err
    after = json.loads((d / "out" / "report.json").read_text())
    assert after["test_accuracy"] == before["test_accuracy"] and after["history"] == before["history"]


def test_malformed_training_file_fails_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tThe\tthe\tDET\tDT\t_\t0\tdet\t_\t_\n2 cat cat NOUN NN _ 0 root _ _\n")
    code = main(["train", "tagger", "--train", str(bad), "--dev", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "bad.conllu:2: expected 10 tab-separated CoNLL-U columns, got 1" in capsys.readouterr().err


def test_interrupted_run_resumes_from_its_backup_and_ends_as_an_uninterrupted_one(trained, monkeypatch):
    import seqlayers.tasks.common as common

    d, argv = trained
    out = d / "resumed"
    argv = [a if a != str(d / "out") else str(out) for a in argv]

    class Interrupt(common.EarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 4:
                raise KeyboardInterrupt

    monkeypatch.setattr(common, "EarlyStopping", Interrupt)
    assert main(argv) == 130
    assert (out / "backup_model" / "state.safetensors").is_file() and not (out / "report.json").exists()
    assert len(json.loads((out / "backup_model" / "history.json").read_text())["loss"]) == 5
    monkeypatch.undo()
    assert main(argv) == 0
    resumed = json.loads((out / "report.json").read_text())
    full = json.loads((d / "out" / "report.json").read_text())
    assert len(resumed["history"]["loss"]) == 12
    assert resumed["history"]["loss"] == pytest.approx(full["history"]["loss"], rel=1e-4)
    assert resumed["test_accuracy"] == pytest.approx(full["test_accuracy"])
    assert not (out / "backup_model").exists()


def test_cosine_schedule_falls_from_the_learning_rate_towards_zero_over_the_epochs():
    import math

    from seqlayers.tasks.tagger import cosine_schedule

    schedule = cosine_schedule(0.002, 10)
    rates = [schedule(e) for e in range(10)]
    assert rates[0] == pytest.approx(0.002) and rates[5] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    assert rates[9] == pytest.approx(0.001 * (1 + math.cos(math.pi * 0.9)))


def test_word_dropout_rates_combine_the_uniform_rate_with_the_rare_word_rate():
    from collections import Counter

    from seqlayers.data.vocab import Vocabulary
    from seqlayers.tasks.tagger import word_dropout_rates

    counts = Counter({"the": 99, "cat": 3, "zyx": 1})
    words = Vocabulary.build([counts.elements()])  # <pad>, <unk>, the, cat, zyx
    rates = word_dropout_rates(words, counts, rate=0.1, alpha=0.25)
    expected = [0, 0] + [1 - 0.9 * (1 - 0.25 / (0.25 + c)) for c in (99, 3, 1)]
    assert rates == pytest.approx(expected, rel=1e-6)
    assert word_dropout_rates(words, counts, rate=0.1, alpha=0.0) == pytest.approx([0, 0, 0.1, 0.1, 0.1])


def test_lr_callbacks_schedule_cosine_only_and_refuse_an_unknown_schedule():
    from types import SimpleNamespace

    from seqlayers.tasks.tagger import lr_callbacks
    from seqlayers.training.callbacks import LearningRateScheduler

    args = SimpleNamespace(lr_schedule="cosine", learning_rate=0.002, epochs=10)
    assert [type(c) for c in lr_callbacks(args)] == [LearningRateScheduler]
    assert lr_callbacks(SimpleNamespace(**args.__dict__ | {"lr_schedule": "constant"})) == []
    with pytest.raises(ValueError, match="lr_callbacks: lr_schedule must be one of constant, cosine, got 'step'"):
        lr_callbacks(SimpleNamespace(**args.__dict__ | {"lr_schedule": "step"}))


def test_cosine_schedule_and_rare_word_dropout_train_end_to_end(trained, tmp_path):
    d, argv = trained
    argv = [a if a != str(d / "out") else str(tmp_path / "out") for a in argv]
    argv[argv.index("--epochs") + 1] = "4"
    assert main(argv + ["--lr-schedule", "cosine", "--rare-word-dropout", "0.25", "--min-count", "1"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["history"]["learning_rate"] == pytest.approx([0.01, 0.01 * 0.5 * (1 + 2 ** -0.5), 0.005,
                                                                0.01 * 0.5 * (1 - 2 ** -0.5)], rel=1e-5)
    assert report["config"]["min_count"] == 1 and report["test_accuracy"] > 0.50


def test_layers_stacks_sentence_bilstms_and_old_configs_build_one():
    import numpy as np

    from seqlayers.tasks.tagger import DEFAULTS, build_model

    config = dict(DEFAULTS, word_dim=8, char_dim=4, char_units=3, units=5, n_words=20, n_chars=10, n_tags=6)
    names = lambda m: [layer.name for layer in m.layers if layer.name.startswith("sentence_bilstm")]  # noqa: E731
    two = build_model(dict(config, layers=2))
    assert names(two) == ["sentence_bilstm", "sentence_bilstm_2"]
    old = {k: v for k, v in config.items() if k != "layers"}  # a task.json written before --layers
    assert names(build_model(old)) == ["sentence_bilstm"]
    words = np.array([[3, 4, 5, 0]])
    chars = np.ones((1, 4, config["max_word_len"]), dtype=np.int64)
    probs = two.predict([words, chars], verbose=0)
    assert probs.shape == (1, 4, 6) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def trained_crf(tmp_path_factory):
    d = tmp_path_factory.mktemp("tagger_crf")
    paths = [write_treebank(d / f"{s}.conllu", n, seed) for s, n, seed in (("train", 60, 1), ("dev", 10, 2),
                                                                            ("test", 10, 3))]
    argv = ["train", "tagger", "--train", str(paths[0]), "--dev", str(paths[1]), "--test", str(paths[2]),
            "--out", str(d / "out"), "--epochs", "6", "--batch-size", "8", "--units", "16", "--char-units", "8",
            "--word-dim", "16", "--patience", "6", "--learning-rate", "0.01", "--quiet", "--threads", "1",
            "--head", "crf"]
    assert main(argv) == 0
    return d


def test_crf_head_trains_on_the_likelihood_and_stops_on_decoded_dev_accuracy(trained_crf):
    report = json.loads((trained_crf / "out" / "report.json").read_text())
    assert report["config"]["head"] == "crf" and report["args"]["head"] == "crf"
    h = report["history"]
    assert len(h["loss"]) == 6 and h["loss"][-1] < 0.5 * h["loss"][0]  # the NLL per sentence falls
    acc = h["val_tag_accuracy"]  # added after each epoch from the Viterbi tags (the early-stopping figure)
    assert len(acc) == 6 and acc[-1] > acc[0]
    assert report["dev_accuracy"] == pytest.approx(max(acc))  # the best epoch's weights are restored
    assert report["test_accuracy"] >= 0.90


def test_crf_head_predicts_and_its_saved_model_loads_and_decodes_tag_ids(trained_crf, tmp_path, capsys):
    out = trained_crf / "out"
    inp = tmp_path / "in.txt"
    inp.write_text("The big dog likes a cat .\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(inp)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.split() == ["The/DET", "big/ADJ", "dog/NOUN", "likes/VERB", "a/DET", "cat/NOUN", "./PUNCT"]

    loaded = load_model(out / "model.seqlayers")
    assert isinstance(loaded.get_layer("tags"), CRF)
    config = json.loads((out / "task.json").read_text())["config"]
    vocabs = tagger._vocabs(config)
    words = [["the", "dog", "sees", "a", "cat", "."], ["a", "red", "house", "."]]
    x = tagger.sample_arrays(words, config, vocabs)
    batch = [np.stack([np.pad(a, [(0, 6 - len(a))] + [(0, 0)] * (a.ndim - 1)) for a in inp]) for inp in x]
    ids = loaded.predict(batch, verbose=0)
    assert ids.dtype == np.int64 and ids.shape == (2, 6)  # Viterbi tags (B, T), not probabilities
    assert (ids[0] > 0).all() and (ids[1, :4] > 0).all() and (ids[1, 4:] == 0).all()  # padding only where padded
    rebuilt = tagger.build_model(config)
    rebuilt.load_state_dict(loaded.state_dict())
    with torch.no_grad():
        np.testing.assert_array_equal(rebuilt.eval()([torch.as_tensor(b) for b in batch]).numpy(), ids)
    assert vocabs["tags"].decode(ids[1, :4]) == ["DET", "ADJ", "NOUN", "PUNCT"]


def test_tag_head_rejects_an_unknown_head():
    with pytest.raises(ValueError, match="tag_head: head must be one of softmax, crf, got 'hmm'"):
        tagger.tag_head(None, 5, "hmm", {}, "tags")
