"""`seqlayers train dialogue` end to end on tiny generated dialogues, where the system's reply
depends on the previous turn (so the dialogue-level LSTM has something to learn)."""
import json
import random

import numpy as np
import pytest

from seqlayers.cli import main
from seqlayers.tasks.dialogue import f1_scores, tokenize


def dialogue(rng, k):
    """'find a restaurant' -> REQUEST(city); then the city -> OFFER(...) or, after 'find a flight',
    the same kind of answer 'in X' -> REQUEST(date): only the earlier turn tells which."""
    domain = rng.choice(["restaurant", "flight"])
    city = rng.choice(["paris", "rome", "oslo"])
    turns = [{"user": f"please find a {domain}", "system": "where?", "system_acts": ["REQUEST(city)"]},
             {"user": f"in {city}", "system": "ok",
              "system_acts": ["OFFER(restaurant_name)", "OFFER(city)"] if domain == "restaurant" else ["REQUEST(date)"]},
             {"user": "thanks bye", "system": "bye", "system_acts": ["GOODBYE"]}]
    return json.dumps({"dialogue_id": f"d{k}", "services": [], "turns": turns})


def write_data(root, seed=0):
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 60), ("dev", 10), ("test", 16)):
        (root / f"{split}.jsonl").write_text("".join(dialogue(rng, k) + "\n" for k in range(n)))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("dialogue")
    write_data(d / "data")
    argv = ["train", "dialogue", "--data", str(d / "data"), "--out", str(d / "out"), "--epochs", "15",
            "--batch-size", "8", "--units", "16", "--dialogue-units", "16", "--patience", "15",
            "--learning-rate", "0.02", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    return d


def test_dialogue_model_beats_the_per_turn_baseline_where_context_decides(trained):
    report = json.loads((trained / "out" / "report.json").read_text())
    assert report["task"] == "dialogue" and report["dialogues"] == {"train": 60, "dev": 10, "test": 16}
    for variant in ("dialogue", "turn"):
        assert set(report[variant]["scores"]) == {"type", "act_slot"}
    # the second turn's acts depend on the first turn: the per-turn model cannot know them
    assert report["dialogue"]["scores"]["act_slot"]["micro_f1"] >= 95.0
    assert report["margin"]["act_slot"]["micro_f1"] > 5.0
    assert "margin (dialogue - turn)" in (trained / "out" / "report.md").read_text()


def test_predict_lists_acts_per_turn(trained, tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"dialogue_id": "x", "turns": [
        {"user": "please find a flight", "system_acts": []}, {"user": "in rome", "system_acts": []}]}) + "\n")
    capsys.readouterr()
    assert main(["predict", str(trained / "out"), str(inp)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["x\tplease find a flight\tREQUEST(city)", "x\tin rome\tREQUEST(date)"]


def test_f1_scores_micro_and_macro():
    gold = [np.array([[1, 0, 0], [1, 1, 0]], dtype=np.float32)]
    prob = [np.array([[0.9, 0.2, 0.1], [0.8, 0.1, 0.7]], dtype=np.float32)]
    s = f1_scores(gold, prob)
    # label 0: tp 2 -> F1 1; label 1: fn 1 -> F1 0; label 2 absent from gold: not in the macro average
    assert s["micro_f1"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1 + 1))
    assert s["macro_f1"] == pytest.approx(50.0) and s["labels_scored"] == 2


def test_tokenize_keeps_empty_turns_visible():
    assert tokenize("Hi, Rome!", 10) == ["hi", ",", "rome", "!"]
    assert tokenize("", 10) == ["<empty>"]


def test_malformed_jsonl_fails_with_file_and_line(tmp_path, capsys):
    root = write_data(tmp_path / "data")
    with open(root / "test.jsonl", "a") as f:
        f.write('{"turns": [{"user": "hi"}]}\n')
    assert main(["train", "dialogue", "--data", str(root), "--out", str(tmp_path / "o"), "--epochs", "1"]) == 2
    assert "test.jsonl:17: turn 0 needs 'system_acts'" in capsys.readouterr().err
