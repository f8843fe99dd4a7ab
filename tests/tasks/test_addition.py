"""`seqlayers train addition` (keras-io addition_rnn): data generation, model shape, a tiny run."""
import json

import numpy as np
import pytest

from seqlayers.tasks import addition


def test_generate_distinct_padded_and_reversed_questions():
    q, a = addition.generate(300, digits=2, reverse=False, seed=0)
    assert len(set(q)) == 300 and all(len(s) == 5 for s in q) and all(len(s) == 3 for s in a)
    for s, ans in zip(q, a):
        x, y = s.strip().split("+")
        assert int(x) + int(y) == int(ans)
    keys = {tuple(sorted(map(int, s.strip().split("+")))) for s in q}
    assert len(keys) == 300  # a+b and b+a are one question
    qr, ar = addition.generate(300, digits=2, reverse=True, seed=0)
    assert qr == [s[::-1] for s in q] and ar == a


def test_generate_refuses_more_questions_than_exist():
    with pytest.raises(ValueError, match="only 55 distinct questions exist with 1 digits"):
        addition.generate(56, digits=1, reverse=False, seed=0)


def test_one_hot_and_decode_round_trip():
    x = addition.one_hot(["535+61 ", "1+2    "])
    assert x.shape == (2, 7, 12) and np.all(x.sum(-1) == 1)
    assert addition.decode(x) == ["535+61 ", "1+2    "]


def test_model_is_the_keras_io_stack():
    m = addition.build_model(digits=3)
    import torch

    assert m(torch.zeros(2, 7, 12)).shape == (2, 4, 12)
    # keras-io summary: 72,192 + 0 + 131,584 + 1,548 = 205,324 parameters
    assert m.count_params() == 205324


def test_tiny_training_run_writes_report(tmp_path):
    from seqlayers.cli import main

    out = tmp_path / "out"
    assert main(["train", "addition", "--digits", "2", "--reverse", "--examples", "200", "--epochs", "1",
                 "--units", "16", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert 0.0 <= report["val_exact_match"] <= report["val_char_accuracy"] <= 1.0
    assert report["epochs_run"] == 1 and len(report["per_epoch"]) == 1
    assert report["history"]["val_exact_match"] == [report["per_epoch"][0]["val_exact_match"]]
    # per-character accuracy is Keras's "accuracy" metric over the answer characters
    assert report["history"]["val_accuracy"][0] == pytest.approx(report["per_epoch"][0]["val_char_accuracy"], abs=1e-6)
    assert report["config"]["examples"] == 200
    assert "val per-character accuracy" in (out / "report.md").read_text()
