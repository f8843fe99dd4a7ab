"""model.explain(): shapes with the time axis named, weight sharing, masks, the unrolled diagram."""
import pytest

from seqlayers import CRF, Dense, Embedding, Flatten, Input, Masking, RepeatVector, Sequential, TimeDistributed
from seqlayers import topologies as T
from seqlayers.layers.recurrent import LSTM
from seqlayers.models import Model
from seqlayers.models.explain import named_shape
from seqlayers.models.topology import TensorInfo, TimeAxis


def text_of(model):
    return model.explain_text()


def test_named_shapes_say_which_axis_is_time():
    t = TimeAxis(5, "input", "x")
    assert named_shape(TensorInfo((None, 5, 1), t)) == "(batch, time=5, features=1)"
    assert named_shape(TensorInfo((None, None, 8), TimeAxis(None, "input", "x"))) == "(batch, time=any, features=8)"
    assert named_shape(TensorInfo((None, 5))) == "(batch, features=5)"
    assert named_shape(TensorInfo((None, 12), TimeAxis(12, "input", "ids"))) == "(batch, time=12)"
    assert named_shape(TensorInfo((None, 3, 4, 6), t)) == "(batch, time=3, 4, features=6)"


def test_trace_of_the_tutorial_many_to_many_model():
    text = text_of(T.many_to_many(5, 1, 1, units=5))
    assert 'Model "many_to_many": many-to-many (aligned): 5 input steps -> 5 output steps' in text
    assert "in   (batch, time=5, features=1)\n      out  (batch, time=5, features=5)" in text
    assert "keeps the time axis (return_sequences=True: one output per step)" in text
    assert "weights: the same cell weights at every step" in text
    assert "weights: the wrapped Dense runs on every step with the same weights" in text
    assert "Total params: 146" in text


def test_trace_says_where_the_time_axis_ends_and_where_a_new_one_starts():
    text = text_of(T.encoder_decoder_repeat(6, 1, 3, 1, units=4))
    assert "returns only its last step (return_sequences=False): the time axis ends here" in text
    assert "repeats its input vector 3 times: a new time axis starts here" in text
    text = text_of(T.last_n_steps(6, 1, 3, 1, units=4))
    assert "changes the number of steps: 6 -> 3 (a new time axis)" in text


def test_dense_on_a_sequence_is_reported_as_shared_across_steps():
    text = text_of(Sequential([Dense(3, input_shape=(4, 2))]))
    assert "applied to every step with the same weights (like TimeDistributed)" in text
    assert "weights:" not in text_of(Sequential([Dense(3, input_shape=(2,))]))


def test_mask_starts_at_embedding_and_stops_at_a_recurrent_layer_without_return_sequences():
    model = Sequential([Embedding(20, 4, mask_zero=True, input_shape=(6,)), LSTM(3, return_sequences=True),
                        LSTM(2), Dense(1)])
    lines = text_of(model).splitlines()
    starts = lines.index("      a padding mask starts here (padded steps will be skipped downstream)")
    assert lines[starts - 3].strip() == "Embedding 'embedding'"
    assert "      skips padded steps and passes the mask on" in lines
    stops = lines.index("      uses the mask and stops it: padded steps were skipped, the output has no time axis")
    assert lines[stops - 4].strip() == "LSTM 'lstm_1'"


def test_a_layer_without_mask_support_is_reported_as_dropping_the_mask():
    model = Sequential([Masking(input_shape=(6, 2)), Flatten(), Dense(1)])
    text = text_of(model)
    assert "Flatten 'flatten'" in text.split("does not support masking: the mask stops here")[0]
    consumed = Sequential([Masking(input_shape=(6, 2)), LSTM(3), RepeatVector(2), LSTM(2, return_sequences=True)])
    assert "does not support masking" not in text_of(consumed)  # the LSTM consumed the mask first


PINNED_MANY_TO_ONE = """\
Unrolled in time (read bottom-up):
          O    outputs (batch, features=1)
          |
    O O O O    LSTM 'lstm'
    | | | |
    O O O O    inputs (batch, time=4, features=2)"""


def test_the_unrolled_ascii_diagram_is_seed_001s_drawing():
    assert text_of(T.many_to_one(4, 2, 1, units=3)).endswith(PINNED_MANY_TO_ONE)
    encdec = text_of(T.encoder_decoder_repeat(3, 1, 2, 1, units=3))
    assert encdec.endswith(
        "          O O    outputs (batch, time=2, features=1)\n"
        "          | |\n"
        "    O O O O O    LSTM 'encoder', LSTM 'decoder'\n"
        "    | | |\n"
        "    O O O        inputs (batch, time=3, features=1)")
    last = text_of(T.last_n_steps(4, 1, 2, 1, units=3))
    assert "        O O    outputs" in last and "    O O O O    LSTM 'lstm'" in last
    assert "    O          inputs (batch, features=3)" in text_of(T.one_to_many(3, 4, 1))


def test_long_and_variable_sequences_are_drawn_with_few_steps():
    text = text_of(T.many_to_many(None, 1, 1, units=2))
    assert "    O O O O    inputs (batch, time=any, features=1)" in text
    assert "drawn with at most 8 steps" in text
    assert "O O O O O O O O    LSTM" in text_of(T.many_to_many(50, 1, 1, units=2))


def test_explain_prints_through_print_fn_and_returns_none(capsys):
    model = T.one_to_one(2, 1)
    seen = []
    assert model.explain(print_fn=seen.append) is None
    assert seen == [model.explain_text()] and "one-to-one" in seen[0]
    assert capsys.readouterr().out == ""
    assert model.explain() is None
    assert capsys.readouterr().out == model.explain_text() + "\n"


def test_explain_text_displays_in_jupyter_as_the_text_and_the_svg_picture():
    text = T.many_to_one(5, 1, 1).explain_text()
    assert isinstance(text, str) and text.startswith('Model "')
    page = text._repr_html_()
    assert page.startswith("<pre>Model &quot;") and "many-to-one" in page
    svg = text.svg()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<?xml" not in page and page.count("<svg") == 1 and page.rstrip().endswith("</svg>")


def test_explain_text_in_jupyter_without_matplotlib_shows_the_text(monkeypatch):
    import sys

    text = T.many_to_one(5, 1, 1).explain_text()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert text._repr_html_().rstrip().endswith("</pre>")


def test_explain_with_a_path_draws_a_png(tmp_path):
    path = tmp_path / "model.png"
    T.encoder_decoder(3, 5, units=4, attention="additive").model.explain(path=str(path), print_fn=lambda text: None)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_the_traced_shapes_equal_keras_output_shapes_for_the_same_model():
    keras = pytest.importorskip("keras")
    ours = T.encoder_decoder_repeat(6, 2, 3, 4, units=5)
    ref = keras.Sequential([keras.Input((6, 2)), keras.layers.LSTM(5), keras.layers.RepeatVector(3),
                            keras.layers.LSTM(5, return_sequences=True),
                            keras.layers.TimeDistributed(keras.layers.Dense(4))])
    text = text_of(ours)
    outs = [line.split("out  ")[1] for line in text.splitlines() if line.strip().startswith("out ")]
    expected = []
    for layer in ref.layers:
        shape = tuple(layer.output.shape)
        dims = ["batch"] + [str(d) for d in shape[1:]]
        if len(shape) == 3:
            dims[1] = f"time={shape[1]}"
        dims[-1] = f"features={shape[-1]}"
        expected.append("(" + ", ".join(dims) + ")")
    assert outs == expected
    assert ours.count_params() == ref.count_params()


def test_cli_explains_a_saved_model(tmp_path, capsys):
    from seqlayers.cli import main

    path = tmp_path / "m.seqlayers"
    T.last_n_steps(6, 1, 3, 1, units=4).save(str(path))
    png = tmp_path / "m.png"
    assert main(["explain", str(path), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "many-to-many (different lengths): 6 input steps -> 3 output steps" in out
    assert png.exists()


def test_cli_reports_a_missing_file(tmp_path, capsys):
    from seqlayers.cli import main

    assert main(["explain", str(tmp_path / "nope.seqlayers")]) == 2
    assert "seqlayers explain: error:" in capsys.readouterr().err


def two_output_slots_model():
    from seqlayers.tasks.slots import build_model

    cfg = dict(word_dim=8, char_dim=4, char_units=0, units=6, dropout=0.0, max_word_len=4, n_words=20, n_chars=5,
               n_tags=7, n_intents=4, intent_to_slots=False)
    return build_model(cfg)


def test_every_output_of_a_multi_output_model_gets_its_own_topology_and_drawing():
    from seqlayers.models.explain import report

    model = two_output_slots_model()
    text, drawings = report(model)
    assert text.splitlines()[:3] == [
        'Model "joint_slots_intent": 2 outputs, each with its own topology:',
        "  output 'slots': many-to-many (aligned): a variable number of input steps -> a variable number of "
        "output steps",
        "  output 'intent': many-to-one: a variable number of input steps -> one output (via Bidirectional "
        "'utterance')"]
    assert [d.title.split(":")[0] for d in drawings] == ["output 'slots'", "output 'intent'"]
    slots, intent = drawings
    # slots: inputs, the encoder, one output per step; the utterance branch is not on its path
    assert [label for _, label in slots.rows][1:] == ["Bidirectional 'encoder'",
                                                      "output 'slots' (batch, time=any, features=7)"]
    # intent: the many-to-one branch reads every encoder step, in a row of its own above the encoder
    assert [label for _, label in intent.rows][1:3] == ["Bidirectional 'encoder'", "Bidirectional 'utterance'"]
    assert intent.rows[-1][0] == [3] and intent.links == [[0, 1, 2, 3], [0, 1, 2, 3], [3]]
    assert slots.directions == {1: "both"} and intent.directions == {1: "both", 2: "both"}
    assert "Output 'intent' unrolled in time (read bottom-up): many-to-one\n          O    output 'intent'" in text


def test_a_go_backwards_layer_ends_at_the_first_step():
    from seqlayers import Bidirectional
    from seqlayers.models.explain import report

    model = Sequential([Bidirectional(LSTM(4, return_sequences=True), input_shape=(5, 2)),
                        LSTM(3, go_backwards=True), Dense(1)])
    (drawing,) = report(model)[1]
    assert drawing.directions == {1: "both", 2: "backward"}
    assert drawing.rows[-1][0] == [0] and drawing.links[-1] == [0]


def test_a_multi_output_picture_stacks_one_panel_per_output(tmp_path):
    import matplotlib.image as mpimg

    one, two = tmp_path / "one.png", tmp_path / "two.png"
    T.many_to_many(4, 1, 1).explain(path=one, print_fn=lambda text: None)
    two_output_slots_model().explain(path=two, print_fn=lambda text: None)
    h1, h2 = mpimg.imread(one).shape[0], mpimg.imread(two).shape[0]
    assert h2 > 1.8 * h1  # two panels (one of 5 rows) against one of 3


def test_a_crf_head_keeps_the_time_axis_uses_the_mask_and_says_what_it_returns():
    x = Input(shape=(7,), dtype="int64")
    h = LSTM(8, return_sequences=True)(Embedding(20, 8, mask_zero=True)(x))
    model = Model(x, CRF(name="crf")(TimeDistributed(Dense(5))(h)))
    text = text_of(model)
    assert text.splitlines()[0] == 'Model "model": many-to-many (aligned): 7 input steps -> 7 output steps'
    crf = text.split("CRF 'crf'")[1].split("Total params")[0]
    assert "out  (batch, time=7)\n" in crf  # the tag ids, one per step (not "features=7")
    assert "predict/evaluate: the Viterbi path, int64 tag ids (batch, time)" in crf
    assert "fit: its input scores (batch, time, tags) unchanged, for crf.loss" in crf
    assert "skips padded steps and passes the mask on" in crf
    assert "folds the time axis away" not in text and "does not support masking" not in text
    assert "O O O O O O O    outputs (batch, time=7)" in text
