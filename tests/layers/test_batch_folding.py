"""FoldIntoBatch / UnfoldFromBatch: the row order of the fold, the round trip, shapes, errors."""
import pytest
import torch

from seqlayers import Input, Model
from seqlayers.layers import GRU, FoldIntoBatch, UnfoldFromBatch


def test_fold_puts_sample_b_entry_a_at_row_b_times_a_plus_a():
    x = torch.randn(3, 4, 5, 2)
    y = FoldIntoBatch()(x)
    assert y.shape == (12, 5, 2)
    for b in range(3):
        for a in range(4):
            assert torch.equal(y[b * 4 + a], x[b, a])


def test_unfold_inverts_fold():
    x = torch.randn(2, 7, 6)
    assert torch.equal(UnfoldFromBatch(7)(FoldIntoBatch()(x)), x)


def test_a_layer_between_fold_and_unfold_sees_each_entry_as_its_own_sample():
    torch.manual_seed(0)
    inp = Input(shape=(3, 5, 2))  # (B, C, T, F)
    gru = GRU(4)
    out = UnfoldFromBatch(3)(gru(FoldIntoBatch()(inp)))  # (B, C, 4)
    model = Model(inp, out)
    assert tuple(out.shape) == (None, 3, 4)
    x = torch.randn(2, 3, 5, 2)
    y = model(x)
    for c in range(3):  # the same GRU run on channel c alone
        torch.testing.assert_close(y[:, c], gru(x[:, c]))


def test_symbolic_shapes_and_errors():
    assert FoldIntoBatch().compute_output_shape((4, 3, 2)) == (12, 2)
    assert FoldIntoBatch().compute_output_shape((None, 3, 2)) == (None, 2)
    assert UnfoldFromBatch(3).compute_output_shape((None, 2)) == (None, 3, 2)
    with pytest.raises(ValueError, match=r"UnfoldFromBatch.*: expected a batch size that "
                                         r"is a multiple of size=3, got 4\. Unfold with the size"):
        UnfoldFromBatch(3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"UnfoldFromBatch: size must be a positive integer, got 0"):
        UnfoldFromBatch(0)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, axis to fold, \.\.\.\)"):
        FoldIntoBatch()(torch.zeros(3))
