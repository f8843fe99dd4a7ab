"""``seqlayers demo``: one model with few epochs through the real CLI (compile/fit as users do)."""
import pytest
import torch

from seqlayers import demo
from seqlayers.cli import main


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_demo_trains_one_model_prints_its_story_and_writes_the_figure(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--model", "many_to_many", "--epochs", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "many-to-many (aligned): 5 input steps -> 5 output steps" in text
    assert "(batch, time=5, features=1)" in text and "O O O O O" in text
    assert "parameters: 146   epochs: 3   final loss: " in text
    assert "expected:    0.0 0.2 0.4 0.6 0.8" in text and "predictions: " in text
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_demo_examples_are_the_tutorials_models_with_its_parameter_counts():
    torch.manual_seed(0)
    counts = {name: fn(epochs=1).model.count_params()
              for name, fn in demo.EXAMPLES.items() if name in ("one_to_one", "many_to_one", "many_to_many")}
    assert counts == {"one_to_one": 146, "many_to_one": 170, "many_to_many": 146}


def test_report_says_when_predictions_do_not_round_to_the_echo(capsys):
    ex = demo.Example("x", "x", demo.one_to_one(epochs=1).model, None, None, [0.5],
                      pred=demo.ECHO + 0.1, expected=demo.ECHO)
    assert demo.report(ex, print_fn=print) is False
    assert "NOT all right yet" in capsys.readouterr().out


def test_demo_refuses_an_unknown_model_name(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--model", "many_to_few"])
    assert "invalid choice: 'many_to_few'" in capsys.readouterr().err


def test_the_seq2seq_report_prints_one_decoded_sample_a_line(capsys, tmp_path):
    torch.manual_seed(0)
    ex = demo.seq2seq(epochs=1)
    demo.report(ex, print_fn=print)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  sample ")]
    assert [line.split(":")[0] for line in lines] == [f"  sample {k}" for k in range(1, 6)]
    assert lines[4].startswith("  sample 5: expected 0.0 0.2 0.4 0.6 0.8   decoded")
    demo.figure([ex], tmp_path / "s2s.png")  # one line per decoded sample, integer step ticks
    assert (tmp_path / "s2s.png").stat().st_size > 1000
