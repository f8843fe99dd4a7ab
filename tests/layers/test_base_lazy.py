"""Layers as plain torch modules: no silent lazy weights (issue 17 item 1) and the meta-device round trip.

A layer without an input shape creates its weights on its first call. Reading ``parameters()`` before
that warns once with the fix; ``load_state_dict`` into such a layer builds it from the state dict."""
import warnings

import pytest
import torch
from torch import nn

import seqlayers as sl
from seqlayers.layers.base import UnbuiltWeightsWarning


class Tagger(nn.Module):
    """The issue's model, inside a plain nn.Module: no input_shape anywhere."""

    def __init__(self):
        super().__init__()
        self.emb = sl.Embedding(100, 8)
        self.rnn = sl.Bidirectional(sl.LSTM(16, return_sequences=True))
        self.out = sl.TimeDistributed(sl.Dense(5))

    def forward(self, x):
        return self.out(self.rnn(self.emb(x)))


def _ids(seed=0):
    return torch.randint(1, 100, (4, 7), generator=torch.Generator().manual_seed(seed))


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if issubclass(w.category, UnbuiltWeightsWarning)]


def test_reading_parameters_of_an_unbuilt_model_warns_exactly_once_with_the_fix():
    model = Tagger()

    def read():
        torch.optim.Adam(model.parameters())   # the normal PyTorch order: the optimizer first
        list(model.named_parameters())
        sum(p.numel() for p in model.parameters())

    caught = _caught(read)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Bidirectional" in message and "no weights yet" in message
    assert "call model.build(input_shape) or run one batch first" in message.lower()
    assert caught[0].filename == __file__   # points at the user's line, not at torch
    # walking the tree for anything else does not warn; nor does a built model
    assert _caught(lambda: (list(Tagger().modules()), list(Tagger().buffers()), Tagger().state_dict())) == []
    model(_ids())
    assert _caught(lambda: list(model.parameters())) == []


def test_each_unbuilt_model_warns_once():
    lstm = sl.LSTM(4)
    assert len(_caught(lambda: list(lstm.parameters()))) == 1
    assert _caught(lambda: list(lstm.parameters())) == []
    assert len(_caught(lambda: list(sl.Sequential([sl.Dense(3)]).parameters()))) == 1


def test_an_unbuilt_layer_reading_its_weights_warns():
    with pytest.warns(UnbuiltWeightsWarning, match=r"Dense has no weights yet.*model\.build\(input_shape\)"):
        list(sl.Dense(3).parameters())


def test_an_optimizer_made_after_build_trains_every_weight():
    torch.manual_seed(0)
    model = sl.Sequential([sl.Embedding(100, 8), sl.Bidirectional(sl.LSTM(16, return_sequences=True)),
                           sl.TimeDistributed(sl.Dense(5))])
    model.build((None, 7))
    assert _caught(lambda: list(model.parameters())) == []
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    assert sum(v.numel() for v in before.values()) == 800 + 2 * 4 * 16 * (8 + 16 + 1) + 32 * 5 + 5
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = nn.functional.cross_entropy(model(_ids()).reshape(-1, 5), torch.arange(28) % 5)
    loss.backward()
    opt.step()
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert unchanged == []


def test_load_state_dict_into_an_unbuilt_plain_module_builds_it_and_gives_identical_outputs():
    torch.manual_seed(1)
    trained = Tagger()
    x = _ids(2)
    expected = trained(x)
    fresh = Tagger()
    assert not fresh.rnn.built and not fresh.out.built
    result = fresh.load_state_dict(trained.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert fresh.rnn.built and fresh.out.built
    assert _caught(lambda: list(fresh.parameters())) == []
    assert torch.equal(fresh(x), expected)


def test_load_state_dict_into_an_unbuilt_sequential_with_masks_and_stacked_layers():
    torch.manual_seed(3)

    def make():
        return sl.Sequential([sl.Embedding(50, 8, mask_zero=True),
                              sl.Bidirectional(sl.GRU(6, return_sequences=True)),
                              sl.SimpleRNN(5, return_sequences=True), sl.LSTM(4), sl.Dense(3)])

    trained = make()
    x = torch.tensor([[3, 4, 5, 0], [1, 2, 0, 0]])
    expected = trained(x)
    fresh = make()
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh(x), expected)


def test_load_state_dict_of_other_shapes_still_fails_as_torch_does():
    trained = sl.LSTM(16)
    trained(torch.zeros(1, 2, 8))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        sl.LSTM(17).load_state_dict(trained.state_dict())


def test_meta_device_then_to_empty_and_load_state_dict_gives_the_trained_model_back():
    torch.manual_seed(4)

    def make():
        return sl.Sequential([sl.Embedding(50, 8, mask_zero=True),
                              sl.Bidirectional(sl.LSTM(6, return_sequences=True)), sl.GRU(5), sl.Dense(3)])

    trained = make()
    x = torch.tensor([[3, 4, 5, 0], [1, 2, 0, 0]])
    expected = trained(x)
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    trained.to("meta")
    assert all(p.is_meta for p in trained.parameters())
    trained.to_empty(device="cpu")
    trained.load_state_dict(state)
    assert torch.equal(trained(x), expected)
    # plain torch's own layer does the same round trip (the reference behaviour)
    ref = nn.LSTM(8, 6, batch_first=True)
    ref_state = {k: v.clone() for k, v in ref.state_dict().items()}
    h = torch.randn(2, 4, 8)
    ref_out = ref(h)[0]
    ref.to("meta").to_empty(device="cpu").load_state_dict(ref_state)
    assert torch.equal(ref(h)[0], ref_out)


def _plain_loop(model, opt, steps=3):
    """The PyTorch order's last part: a plain loop (no fit), cross-entropy over the tags."""
    target = torch.arange(28) % 5
    for s in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(_ids(s)).reshape(-1, 5), target).backward()
        opt.step()


@pytest.mark.parametrize("shaped", [True, False])
def test_the_pytorch_order_trains_every_weight_or_warns_which_layers_it_misses(shaped):
    """construct -> make an optimizer -> a plain loop: with input shapes given every weight trains, silently;
    without, the optimizer's parameters() read warns once, naming the first layer left out and the fix."""
    torch.manual_seed(3)
    if shaped:
        model = sl.Sequential([sl.Embedding(100, 8, input_shape=(7,)),
                               sl.Bidirectional(sl.LSTM(16, return_sequences=True)),
                               sl.TimeDistributed(sl.Dense(5))])
    else:
        model = Tagger()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    told = " ".join(str(w.message) for w in caught if issubclass(w.category, UnbuiltWeightsWarning))
    in_opt = {id(p) for group in opt.param_groups for p in group["params"]}
    before = {k: v.detach().clone() for k, v in model.named_parameters()}  # after the loop's first build
    _plain_loop(model, opt, steps=1)
    before.update({k: v.detach().clone() for k, v in model.named_parameters() if k not in before})
    _plain_loop(model, opt)
    trained = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    missed = {k for k, v in model.named_parameters() if id(v) not in in_opt}
    assert trained == set(before) - missed  # what the optimizer holds trains, every element of it
    if shaped:
        assert told == "" and missed == set()
    else:
        assert missed and "model.build(input_shape)" in told
        assert {k.split(".")[0] for k in missed} == {"rnn", "out"}  # Embedding knows its shape: built, trained
        assert told.startswith("Bidirectional") and told.count("has no weights yet") == 1
