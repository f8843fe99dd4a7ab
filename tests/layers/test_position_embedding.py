"""PositionEmbedding: the table broadcast along its axis (checked entry by entry), shapes, errors."""
import pytest
import torch

from seqlayers.layers import PositionEmbedding


def test_default_is_one_row_per_time_step_of_the_input_size():
    layer = PositionEmbedding(6)
    x = torch.randn(2, 4, 3)
    y = layer(x)
    assert layer.embeddings.shape == (6, 3) and y.shape == (2, 4, 3)
    for b in range(2):
        for t in range(4):  # the first 4 rows, the same for every sample, whatever the input's values
            assert torch.equal(y[b, t], layer.embeddings[t])
    assert torch.equal(layer(x * 10), y)


def test_another_axis_and_output_dim():
    layer = PositionEmbedding(3, axis=1, output_dim=5)
    y = layer(torch.zeros(2, 3, 4, 8))  # (B, C, m, F) -> (B, C, m, 5), row c of the table
    assert y.shape == (2, 3, 4, 5)
    for b in range(2):
        for c in range(3):
            for j in range(4):
                assert torch.equal(y[b, c, j], layer.embeddings[c])


def test_gradients_reach_the_table():
    layer = PositionEmbedding(4, output_dim=2)
    (layer(torch.zeros(3, 4, 1)) * torch.arange(8.0).reshape(1, 4, 2)).sum().backward()
    torch.testing.assert_close(layer.embeddings.grad, 3 * torch.arange(8.0).reshape(4, 2))


def test_errors_name_the_rule_and_the_fix():
    with pytest.raises(ValueError, match=r"axis 1 has 5 entries but the table has sequence_length=4 rows\. Build "
                                         r"the layer with sequence_length >= 5"):
        PositionEmbedding(4)(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match=r"axis -1 must name an axis between the batch axis and the last"):
        PositionEmbedding(4, axis=-1)(torch.zeros(2, 4, 3))
    with pytest.raises(TypeError, match=r"PositionEmbedding: axis must be an integer, got 'time'"):
        PositionEmbedding(4, axis="time")
    with pytest.raises(ValueError, match=r"PositionEmbedding: output_dim must be a positive integer, got 0"):
        PositionEmbedding(4, output_dim=0)
