"""The GAN's networks: shapes, what each generator step can see, a plain-torch reference, errors, explain."""
import pytest
import torch

from seqlayers.generative import conditional_generator, sequence_discriminator, unconditional_generator
from seqlayers.generative.builders import generator_form


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("t_in,t_out,form", [(6, 6, "aligned"), (6, 6, "encoder_decoder"), (6, 4, "encoder_decoder"),
                                             (3, 7, "auto")])
def test_conditional_generator_maps_first_half_and_noise_to_second_half(cell, t_in, t_out, form):
    g = conditional_generator(t_in, t_out, 2, noise_dim=3, units=5, cell=cell, form=form)
    out = g([torch.randn(4, t_in, 2), torch.randn(4, t_out, 3)])
    assert tuple(out.shape) == (4, t_out, 2)
    assert g.name == f"generator_{generator_form(form, t_in, t_out)}"


def _step_sensitivity(g, t_in, t_out):
    """Which output steps change when only the last given step of x changes."""
    torch.manual_seed(0)
    x, z = torch.randn(2, t_in, 1), torch.randn(2, t_out, 2)
    x2 = x.clone()
    x2[:, -1] += 1.0
    with torch.no_grad():
        d = (g([x2, z]) - g([x, z])).abs().amax(dim=(0, 2))  # (t_out,)
    return (d > 1e-7).numpy()


def test_aligned_form_step_t_sees_only_the_first_t_given_steps_encoder_decoder_sees_all():
    """The reader's point 4: output step 0 of the aligned generator has read x[0] only, so the last given
    value reaches only the last generated step; the encoder-decoder's first step already knows it."""
    torch.manual_seed(0)
    aligned = _step_sensitivity(conditional_generator(5, 5, 1, noise_dim=2, units=4, form="aligned"), 5, 5)
    assert aligned.tolist() == [False, False, False, False, True]
    enc_dec = _step_sensitivity(conditional_generator(5, 5, 1, noise_dim=2, units=4, form="encoder_decoder"), 5, 5)
    assert enc_dec.all()


def test_aligned_lstm_generator_equals_plain_torch_with_copied_weights():
    torch.manual_seed(0)
    g = conditional_generator(7, 7, 2, noise_dim=3, units=4, cell="lstm", form="aligned")
    kernel, recurrent, bias = g.get_layer("recurrent").get_weights()
    w, b = g.get_layer("head").get_weights()
    lstm, lin = torch.nn.LSTM(5, 4, batch_first=True), torch.nn.Linear(4, 2)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))  # Keras (in, 4H) i,f,c,o == torch (4H, in) i,f,g,o
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        lin.weight.copy_(torch.from_numpy(w.T))
        lin.bias.copy_(torch.from_numpy(b))
    x, z = torch.randn(3, 7, 2), torch.randn(3, 7, 3)
    with torch.no_grad():
        ref = lin(lstm(torch.cat([x, z], dim=-1))[0])
        torch.testing.assert_close(g([x, z]), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bidirectional,n_layers", [(False, 1), (True, 1), (True, 2), (False, 3)])
def test_discriminator_is_many_to_one(bidirectional, n_layers):
    d = sequence_discriminator(10, 3, units=4, n_layers=n_layers, bidirectional=bidirectional)
    assert tuple(d(torch.randn(5, 10, 3)).shape) == (5, 1)
    assert sum(type(m).__name__ == "Bidirectional" for m in d.layers) == (n_layers if bidirectional else 0)


def test_unconditional_generator_shapes_and_output_range():
    g = unconditional_generator(9, 4, 5, units=6, output_activation="sigmoid")
    y = g(torch.randn(3, 9, 4))
    assert tuple(y.shape) == (3, 9, 5) and float(y.detach().min()) > 0 and float(y.detach().max()) < 1


def test_explain_shows_both_networks_shapes():
    g_text = conditional_generator(4, 4, 1, noise_dim=2, units=3, form="encoder_decoder").explain_text()
    d_text = sequence_discriminator(8, 1, units=3, bidirectional=True).explain_text()
    assert "LSTM 'encoder'" in g_text and "LSTM 'decoder'" in g_text
    assert "out  (batch, time=4, features=1)" in g_text and "initial_state  (batch, features=3)" in g_text
    assert "many-to-one: 8 input steps -> one output" in d_text and "Bidirectional 'bidirectional'" in d_text


def test_explain_names_the_encoder_decoder_noise_input_not_teacher_forcing():
    g = conditional_generator(4, 6, 1, noise_dim=2, units=3, form="encoder_decoder")
    assert str(g.topology()).endswith("(via decoder input 'noise')")
    text = g.explain_text()
    assert "teacher forcing" not in text and "inputs, then decoder input 'noise'" in text


def test_builder_errors_teach():
    with pytest.raises(ValueError, match=r"aligned form .* needs n_in == n_out; got n_in=4, n_out=3.*encoder_decoder"):
        conditional_generator(4, 3, 1, form="aligned")
    with pytest.raises(ValueError, match=r"form must be one of auto, aligned, encoder_decoder, got 'seq'"):
        conditional_generator(4, 4, 1, form="seq")
    with pytest.raises(ValueError, match=r"sequence_discriminator: units must be a positive integer, got 0"):
        sequence_discriminator(4, 1, units=0)
    with pytest.raises(ValueError, match=r"unknown cell 'lstn'.*Did you mean 'lstm'"):
        unconditional_generator(4, 2, 1, cell="lstn")
