"""models/symbolic.py: symbolic shapes found by running a layer at two stand-in sizes (issue 14.6):
a real size equal to a stand-in is kept, a size that follows an unknown one is None."""
import torch


# ---------------------------------------------------------------- shapes without a sentinel size (issue 14.6)
def _seven(x):
    return torch.cat([x, x[..., :3]], dim=-1)  # 4 features -> 7


def test_a_real_size_equal_to_the_first_stand_in_is_kept():
    import torch.nn as tnn

    from seqlayers import LSTM, Input, Lambda, Model, TimeDistributed

    x = Input((None, 4))
    y = TimeDistributed(tnn.Linear(4, 7))(x)
    assert y.shape == (None, None, 7)
    z = LSTM(3)(y)  # a following LSTM needs the known feature size
    assert z.shape == (None, 3)
    w = Lambda(_seven)(x)
    assert w.shape == (None, None, 7)
    assert LSTM(2)(w).shape == (None, 2)
    m = Model(x, z)
    assert tuple(m(torch.zeros(2, 5, 4)).shape) == (2, 3)


def test_sizes_that_follow_an_unknown_size_stay_unknown():
    from seqlayers import Input, Lambda

    x = Input((None, 10))  # 10: the second stand-in size, a real size here
    assert Lambda(lambda t: t[:, :, :7])(x).shape == (None, None, 7)
    assert Lambda(lambda t: t.reshape(t.shape[0], -1))(Input((None, 2))).shape == (None, None)
    assert Lambda(lambda t: t.sum(dim=1))(x).shape == (None, 10)
