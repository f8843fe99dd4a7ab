"""The builders in seqlayers.topologies: ordinary models with the documented shapes; seq2seq decoding."""
import numpy as np
import pytest
import torch

from seqlayers import Lambda, Sequential
from seqlayers import topologies as T
from seqlayers.layers.recurrent import GRU


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train 10x faster on one CPU thread than on two busy ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("build, x_shape, y_shape", [
    (lambda: T.one_to_one(3, 2, units=4), (2, 3), (2, 2)),
    (lambda: T.one_to_many(3, 4, 2, units=5), (2, 3), (2, 4, 2)),
    (lambda: T.many_to_one(6, 3, 2, units=5, cell="gru"), (2, 6, 3), (2, 2)),
    (lambda: T.many_to_many(6, 3, 2, units=5, cell="simple_rnn"), (2, 6, 3), (2, 6, 2)),
    (lambda: T.many_to_many(None, 3, 2, units=5), (2, 9, 3), (2, 9, 2)),
    (lambda: T.last_n_steps(6, 3, 2, 1, units=5), (2, 6, 3), (2, 2, 1)),
    (lambda: T.encoder_decoder_repeat(6, 3, 4, 2, units=5), (2, 6, 3), (2, 4, 2)),
])
def test_builders_return_ordinary_sequential_models_with_the_documented_shapes(build, x_shape, y_shape):
    model = build()
    assert isinstance(model, Sequential)
    assert tuple(model(torch.randn(*x_shape)).shape) == y_shape


def test_cell_picks_the_recurrent_layer_and_unknown_cells_are_named():
    assert isinstance(T.many_to_one(4, 1, 1, cell="gru").layers[0], GRU)
    with pytest.raises(ValueError, match="unknown cell 'lstmm'. Did you mean 'lstm'"):
        T.many_to_one(4, 1, 1, cell="lstmm")


def test_last_n_steps_uses_a_named_function_so_the_model_can_be_saved(tmp_path):
    model = T.last_n_steps(6, 1, 3, 1, units=4)
    lam = model.layers[1]
    assert isinstance(lam, Lambda) and lam.function is T.last_steps
    assert lam.function_name() == "seqlayers.topologies:last_steps"
    x = torch.randn(2, 6, 1)
    np.testing.assert_array_equal(T.last_steps(x, 3).numpy(), x[:, -3:, :].numpy())
    from seqlayers.io import load_model

    model.save(str(tmp_path / "m.seqlayers"))
    again = load_model(str(tmp_path / "m.seqlayers"))
    torch.testing.assert_close(again(x), model(x))


def test_last_n_steps_refuses_more_output_steps_than_input_steps():
    with pytest.raises(ValueError, match="n_out_steps must be a positive integer <= n_steps \\(4\\), got 5. For more"):
        T.last_n_steps(4, 1, 5, 1)


def test_encoder_decoder_repeat_is_seed_001_b():
    model = T.encoder_decoder_repeat(7, 2, 3, 1, units=6)
    kinds = [type(lyr).__name__ for lyr in model.layers]
    assert kinds == ["LSTM", "RepeatVector", "LSTM", "TimeDistributed"]
    assert model.layers[0].return_sequences is False and model.layers[2].return_sequences is True


# ------------------------------------------------------------------ seq2seq
@pytest.mark.parametrize("attention", [None, "dot", "additive"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_seq2seq_models_share_one_set_of_weights(cell, attention):
    s2s = T.encoder_decoder(3, 6, units=5, cell=cell, attention=attention)
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    assert ids(s2s.encoder) | ids(s2s.decoder) == ids(s2s.model)
    # one step at a time through encoder + decoder equals the teacher-forced training model
    x = torch.randn(2, 4, 3)
    targets = torch.tensor([[2, 3, 4], [5, 2, 1]])
    dec_in = s2s.teacher_forcing(targets, start=0)
    s2s.model.eval()
    full = s2s.model([x, dec_in])
    enc = s2s.encoder(x)
    enc = list(enc) if isinstance(enc, (list, tuple)) else [enc]
    memory = [enc.pop(0)] if attention else []
    states, steps = enc, []
    for t in range(3):
        out = s2s.decoder([dec_in[:, t:t + 1], *states, *memory])
        steps.append(out[0])
        states = list(out[1:])
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_teacher_forcing_shifts_the_targets_right_behind_the_start_token():
    s2s = T.encoder_decoder(2, 4, units=3)
    dec_in = s2s.teacher_forcing(torch.tensor([[2, 3, 1]]), start=0)
    assert dec_in.argmax(-1).tolist() == [[0, 2, 3]] and tuple(dec_in.shape) == (1, 3, 4)


def test_greedy_decode_stops_at_the_stop_token_and_at_max_len():
    s2s = T.encoder_decoder(2, 4, units=3)
    with torch.no_grad():  # make the decoder always predict token 3 (a big bias on it)
        s2s.decoder.get_layer("next_token").bias.copy_(torch.tensor([0.0, 0.0, 0.0, 100.0]))
    x = torch.randn(3, 5, 2)
    assert s2s.decode(x, max_len=4, start=0, stop=1) == [[3, 3, 3, 3]] * 3
    assert s2s.decode(x, max_len=4, start=0, stop=3) == [[]] * 3


def test_seq2seq_learns_to_echo_a_short_sequence_with_compile_and_fit():
    s2s = T.encoder_decoder(4, 4, units=16)
    ids = np.array([[2, 3, 1], [3, 2, 1]])  # answer, then stop (1)
    x = s2s.one_hot(torch.tensor([[2, 3, 0], [3, 2, 0]])).numpy()
    s2s.model.compile(optimizer="adam", loss="categorical_crossentropy")
    s2s.model.fit([x, s2s.teacher_forcing(ids, 0).numpy()], s2s.one_hot(ids).numpy(), epochs=300, batch_size=2,
                  verbose=0)
    assert s2s.decode(x, max_len=5, start=0, stop=1) == [[2, 3], [3, 2]]


def test_encoder_decoder_refuses_an_unknown_attention():
    with pytest.raises(ValueError, match="attention must be None, 'dot' or 'additive', got 'luong'"):
        T.encoder_decoder(2, 4, attention="luong")


# ------------------------------------------------------------------ the docs' snippets run and say the truth
def _snippets(path, start=None):
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / path).read_text()
    if start:  # only that section: up to the next "## " heading
        text = text[text.index(start):]
        end = text.find("\n## ", len(start))
        text = text if end < 0 else text[:end]
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("path, start", [("docs/topologies.md", None), ("README.md", "## Which model do I need?")])
def test_docs_snippets_run_and_their_topology_comments_are_what_gets_printed(path, start):
    import contextlib
    import io
    import re

    blocks = _snippets(path, start)
    assert len(blocks) >= 5
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"{path} snippet", "exec"), {})
        for claim in re.findall(r"\.topology\(\)\)\s+# (.+)", block):
            assert claim.split(" ...")[0] in out.getvalue(), (claim, out.getvalue())
