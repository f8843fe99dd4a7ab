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


def test_predict_answers_questions_from_a_file(tmp_path, capsys):
    import seqlayers as sl
    from seqlayers.cli import main

    out = tmp_path / "out"
    assert main(["train", "addition", "--digits", "2", "--reverse", "--examples", "200", "--epochs", "1",
                 "--units", "16", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "None" not in err
    questions = tmp_path / "q.txt"
    questions.write_text("12+7\n\n 3 + 45 \n")
    assert main(["predict", str(out), str(questions)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the same answers from the saved model, by hand: padded to 5 characters, reversed, one-hot, argmax
    net = sl.load_model(out / "model.seqlayers")
    x = addition.one_hot([q.ljust(5)[::-1] for q in ("12+7", "3+45")])
    import torch

    with torch.no_grad():
        answers = ["".join(addition.CHARS[i] for i in row).strip() for row in net(torch.as_tensor(x)).argmax(-1)]
    assert lines == [f"12+7 = {answers[0]}", f"3+45 = {answers[1]}"]
    questions.write_text("12+7\n123+4\n")
    assert main(["predict", str(out), str(questions)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seqlayers predict: error: {questions}:2: expected a question like 12+345 (two numbers of at most 2 digits, "
        f"the model's --digits), got '123+4'.")


def test_the_final_log_line_says_whether_the_target_was_reached(tmp_path, capsys):
    from seqlayers.cli import main

    assert main(["train", "addition", "--digits", "1", "--examples", "50", "--epochs", "1", "--units", "4",
                 "--target", "1.01", "--out", str(tmp_path / "o")]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "target 1.01 not reached" in last and "None" not in last
