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
              "system_acts": ["OFFER(restaurant_name)",
                              "OFFER(city)"] if domain == "restaurant" else ["REQUEST(date)"]},
             {"user": "thanks bye", "system": "bye", "system_acts": ["GOODBYE"]}]
    return json.dumps({"dialogue_id": f"d{k}", "services": [], "turns": turns})


def write_data(root, seed=0):
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    # 300 training dialogues: with 60 the run reached the target on one seed in three (and flipped with
    # the last bits of the kernels' arithmetic); with 300, seeds 0-2 all reach F1 1.0 on both LSTM kernels
    for split, n in (("train", 300), ("dev", 10), ("test", 16)):
        (root / f"{split}.jsonl").write_text("".join(dialogue(rng, k) + "\n" for k in range(n)))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("dialogue")
    write_data(d / "data")
    argv = ["train", "dialogue", "--data", str(d / "data"), "--out", str(d / "out"), "--epochs", "20",
            "--batch-size", "8", "--units", "16", "--dialogue-units", "16", "--patience", "15",
            "--learning-rate", "0.02", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    return d


def test_dialogue_model_beats_the_per_turn_baseline_where_context_decides(trained):
    report = json.loads((trained / "out" / "report.json").read_text())
    assert report["task"] == "dialogue" and report["dialogues"] == {"train": 300, "dev": 10, "test": 16}
    for variant in ("dialogue", "turn"):
        assert set(report[variant]["scores"]) == {"type", "act_slot"}
    # the second turn's acts depend on the first turn: the per-turn model cannot know them
    assert report["dialogue"]["scores"]["act_slot"]["micro_f1"] >= 0.90  # fractions, as Keras logs them
    assert report["margin"]["act_slot"]["micro_f1"] > 0.05
    # the headline figures use one threshold per output, tuned on dev; 0.5 and per-label ones are kept too
    assert set(report["dialogue"]["scores"]["act_slot"]) >= {"at_0.5", "dev_global", "dev_per_label", "micro_f1"}
    assert 0.05 <= report["dialogue"]["global_threshold"]["act_slot"] <= 0.95
    assert "val_f1" in report["dialogue"]["history"]  # early stopping watches dev F1
    # `seqlayers predict` decides with the dialogue model's dev-tuned thresholds, kept in task.json
    config = json.loads((trained / "out" / "task.json").read_text())["config"]
    assert len(config["thresholds"]["act_slot"]) == config["n_act_slot"]
    assert config["thresholds"]["act_slot"][0] == pytest.approx(report["dialogue"]["global_threshold"]["act_slot"])
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
    assert s["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert s["macro_f1"] == pytest.approx(0.50) and s["labels_scored"] == 2


def test_tokenize_keeps_empty_turns_visible():
    assert tokenize("Hi, Rome!", 10) == ["hi", ",", "rome", "!"]
    assert tokenize("", 10) == ["<empty>"]


def test_malformed_jsonl_fails_with_file_and_line(tmp_path, capsys):
    root = write_data(tmp_path / "data")
    with open(root / "test.jsonl", "a") as f:
        f.write('{"turns": [{"user": "hi"}]}\n')
    assert main(["train", "dialogue", "--data", str(root), "--out", str(tmp_path / "o"), "--epochs", "1"]) == 2
    assert "test.jsonl:17: turn 0 needs 'system_acts'" in capsys.readouterr().err


def test_tune_thresholds_picks_the_best_global_then_per_label_threshold():
    from seqlayers.tasks.dialogue import tune_thresholds

    gold = [np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32)]
    # label 0 is separated at 0.6 < t <= 0.7; label 1 at 0.2 < t <= 0.3
    prob = [np.array([[0.8, 0.1], [0.7, 0.3], [0.6, 0.4], [0.1, 0.2]], dtype=np.float32)]
    g = tune_thresholds(gold, prob)
    assert g.shape == (2,) and g[0] == g[1]  # one threshold for the whole output
    assert f1_scores(gold, prob, g)["micro_f1"] == max(f1_scores(gold, prob, t)["micro_f1"]
                                                       for t in np.arange(0.05, 0.951, 0.05))
    per = tune_thresholds(gold, prob, per_label_min=2)
    assert 0.6 < per[0] <= 0.7 and 0.2 < per[1] <= 0.4
    assert f1_scores(gold, prob, per)["micro_f1"] == pytest.approx(1.0)
    # a label with too few positives keeps the global threshold
    assert tune_thresholds(gold, prob, per_label_min=3)[1] == g[1]


def test_given_type_multiplies_each_act_slot_by_its_type_probability():
    import torch

    from seqlayers.tasks.dialogue import GivenType

    types = torch.tensor([[[0.9, 0.2], [0.5, 0.0]]])  # (B=1, T=2, n_type=2)
    given = torch.tensor([[[0.5, 1.0, 0.5], [1.0, 1.0, 0.2]]])  # (1, 2, n_act_slot=3)
    out = GivenType([0, 0, 1])([types, given])
    expected = np.array([[[0.45, 0.9, 0.1], [0.5, 0.5, 0.0]]], dtype=np.float32)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"one column per act\(slot\) label \(3\), got shape \(1, 2, 4\)"):
        GivenType([0, 0, 1])([types, torch.zeros(1, 2, 4)])


def test_spread_takes_dev_dialogues_from_the_whole_file():
    from seqlayers.tasks.dialogue import spread

    assert spread(list(range(10)), 3) == [0, 3, 6]
    assert spread(list(range(4)), 0) == [0, 1, 2, 3] and spread(list(range(4)), 9) == [0, 1, 2, 3]
