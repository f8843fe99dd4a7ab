"""OptimizerPair: two optimizers' states saved as one and restored into a fresh pair."""
import copy

import pytest
import torch

from seqlayers.generative.optimizer_pair import OptimizerPair


def _nets():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Linear(4, 1))


def _step(pair, d, g):
    x = torch.randn(5, 3)
    pair.zero_grad()
    d(x).pow(2).mean().backward()
    pair.discriminator.step()
    pair.zero_grad()
    g(torch.randn(5, 2)).pow(2).mean().backward()
    pair.generator.step()


def test_state_dict_round_trip_continues_both_optimizers_identically():
    d, g = _nets()
    pair = OptimizerPair(torch.optim.Adam(d.parameters(), lr=0.01), torch.optim.SGD(g.parameters(), lr=0.1,
                                                                                     momentum=0.9))
    _step(pair, d, g)
    sd = copy.deepcopy(pair.state_dict())  # (torch hands out its live state tensors)
    assert len(sd["param_groups"]) == 2 and sorted(sd["state"]) == list(range(2 + 4))
    d2, g2 = copy.deepcopy(d), copy.deepcopy(g)
    pair2 = OptimizerPair(torch.optim.Adam(d2.parameters(), lr=0.5), torch.optim.SGD(g2.parameters(), lr=0.5,
                                                                                      momentum=0.9))
    pair2.load_state_dict(sd)
    assert pair2.discriminator.param_groups[0]["lr"] == 0.01 and pair2.generator.param_groups[0]["lr"] == 0.1
    torch.manual_seed(1)
    _step(pair, d, g)
    torch.manual_seed(1)
    _step(pair2, d2, g2)
    for a, b in zip(list(d.parameters()) + list(g.parameters()), list(d2.parameters()) + list(g2.parameters())):
        torch.testing.assert_close(a, b)


def test_stepping_the_pair_itself_is_refused():
    d, g = _nets()
    pair = OptimizerPair(torch.optim.Adam(d.parameters()), torch.optim.Adam(g.parameters()))
    with pytest.raises(TypeError, match=r"step the discriminator or the generator itself"):
        pair.step()
