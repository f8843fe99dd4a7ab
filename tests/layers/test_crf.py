"""CRF: the forward algorithm and Viterbi against brute-force enumeration of every tag path."""
import itertools

import numpy as np
import pytest
import torch

from seqlayers import CRF, LSTM, Dense, Embedding, Sequential, bio_transitions, load_model, optimizers
from seqlayers.layers.base import set_mask
from seqlayers.layers.crf import FORBIDDEN, crf_decode, crf_log_partition, crf_nll
from tests.layers.checker import check_layer

B, T, K = 3, 4, 3
MASKS = {
    "none": None,
    "right_padded": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool),
    "holes": torch.tensor([[1, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.bool),
}


def random_case(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, T, K, generator=g, dtype=dtype), torch.randn(K, K, generator=g, dtype=dtype),
            torch.randn(K, generator=g, dtype=dtype), torch.randn(K, generator=g, dtype=dtype))


def brute_force(scores, mask, trans, start, end):
    """log Z, the best path and every path's score, by listing all K**n paths over the valid steps."""
    log_z, best = [], []
    for b in range(scores.shape[0]):
        steps = [t for t in range(scores.shape[1]) if mask is None or bool(mask[b, t])]
        paths = {}
        for path in itertools.product(range(scores.shape[2]), repeat=len(steps)):
            s = 0.0
            for i, (t, y) in enumerate(zip(steps, path)):
                s += float(scores[b, t, y]) + (float(start[y]) if i == 0 else float(trans[path[i - 1], y]))
            if steps:
                s += float(end[path[-1]])
            paths[path] = s
        log_z.append(float(np.logaddexp.reduce(list(paths.values()))) if steps else 0.0)
        top = max(paths, key=paths.get)
        tags = [0] * scores.shape[1]
        for t, y in zip(steps, top):
            tags[t] = y
        best.append(tags)
    return torch.tensor(log_z, dtype=torch.float64), torch.tensor(best), paths


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("seed", [0, 1])
def test_log_partition_nll_and_best_path_match_brute_force(mask_name, seed):
    scores, trans, start, end = random_case(seed)
    mask = MASKS[mask_name]
    log_z, best, _ = brute_force(scores, mask, trans, start, end)
    torch.testing.assert_close(crf_log_partition(scores, mask, trans, start, end), log_z)
    assert torch.equal(crf_decode(scores, mask, trans, start, end), best)
    # the NLL of a random path is log Z minus that path's score, summed by hand over the valid steps
    g = torch.Generator().manual_seed(seed + 10)
    tags = torch.randint(0, K, (B, T), generator=g)
    nll = crf_nll(scores, tags, mask, trans, start, end)
    for b in range(B):
        steps = [t for t in range(T) if mask is None or bool(mask[b, t])]
        path = tuple(int(tags[b, t]) for t in steps)
        s = sum(float(scores[b, t, y]) for t, y in zip(steps, path))
        s += float(start[path[0]]) + float(end[path[-1]]) + sum(float(trans[a, c]) for a, c in zip(path, path[1:]))
        torch.testing.assert_close(nll[b].item(), log_z[b].item() - s)
        assert nll[b] >= 0


def test_an_all_masked_sequence_has_zero_loss_and_zero_tags():
    scores, trans, start, end = random_case(3)
    mask = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 1]], dtype=torch.bool)
    tags = torch.zeros(B, T, dtype=torch.long)
    assert crf_nll(scores, tags, mask, trans, start, end)[0] == 0
    assert crf_decode(scores, mask, trans, start, end)[0].tolist() == [0, 0, 0, 0]


def test_gradcheck_float64():
    scores, trans, start, end = random_case(4)
    scores, trans, start, end = (x[:2, :3].clone() if x.ndim == 3 else x.clone() for x in (scores, trans, start, end))
    tags = torch.tensor([[0, 2, 1], [1, 1, 0]])
    mask = torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=torch.bool)
    inputs = tuple(x.requires_grad_(True) for x in (scores, trans, start, end))
    assert torch.autograd.gradcheck(lambda s, a, b, c: crf_nll(s, tags, mask, a, b, c), inputs)


def test_layer_loss_and_decode_use_its_weights():
    scores, trans, start, end = random_case(5, dtype=torch.float32)
    crf = CRF()
    crf.eval()
    x = scores.clone()
    crf(x)
    crf.set_weights([trans.numpy(), start.numpy(), end.numpy()])
    mask = MASKS["holes"]
    x = scores.clone()
    set_mask(x, mask)
    tags = crf(x)
    assert tags.dtype == torch.int64 and tags.shape == (B, T)
    _, best, _ = brute_force(scores.double(), mask, trans.double(), start.double(), end.double())
    assert torch.equal(tags, best)
    y = torch.randint(0, K, (B, T), generator=torch.Generator().manual_seed(0))
    want = crf_nll(scores.double(), y, mask, trans.double(), start.double(), end.double()).float()
    torch.testing.assert_close(crf.loss(y, tags), want)  # inference output carries its scores
    crf.train()
    out = crf(x)
    assert out is x
    torch.testing.assert_close(crf.loss(y, out), want)


def test_constraints_never_yield_a_forbidden_transition():
    names = ["O", "B-a", "I-a", "B-b", "I-b"]
    cons = bio_transitions(names)
    allowed = torch.tensor(cons["allowed_transitions"])
    assert allowed[0, 2].item() is False and allowed[1, 2].item() is True and allowed[3, 2].item() is False
    crf = CRF(**cons)
    crf.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, 5, generator=g) * 3
    x[:, :, 2] += 4  # push towards I-a everywhere: unconstrained decoding would start with and repeat it
    x[:, :, 4] += 4
    crf(x)
    tags = crf(x)
    assert not torch.tensor([t.startswith("I-") for t in names])[tags[:, 0]].any()
    for t in range(1, 6):
        assert allowed[tags[:, t - 1], tags[:, t]].all()
    free = CRF()
    free.eval()
    free(x)
    free.set_weights(crf.get_weights())
    loose = free(x)
    assert not all(allowed[loose[:, t - 1], loose[:, t]].all() for t in range(1, 6))  # the check can fail


def test_bio_transitions_and_bad_arguments_explain_themselves():
    with pytest.raises(ValueError, match=r"bio_transitions: expected tag names 'O', 'B-X' or 'I-X', got 'city'"):
        bio_transitions(["O", "city"])
    with pytest.raises(ValueError, match=r"CRF: allowed_transitions must have shape \(3, 3\).*got \(2, 2\)"):
        CRF(allowed_transitions=[[True, True], [True, True]])(torch.randn(2, 4, 3))
    crf = CRF()
    crf.eval()
    out = crf(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"CRF.*loss expected integer tags of shape \(2, 4\).*got y_true of shape"):
        crf.loss(torch.zeros(2, 4, 3), out)
    with pytest.raises(ValueError, match=r"CRF.*loss expected this CRF layer's output"):
        crf.loss(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"CRF.*expected scores of shape \(batch, time, tags\)"):
        CRF()(torch.randn(2, 3))


def test_shared_layer_checker():
    check_layer(CRF, {}, (2, 5, 4), (2, 5))
    check_layer(CRF, bio_transitions(["O", "B-x", "I-x"]), (2, 5, 3), (2, 5))


def tagger(K_=4):
    return Sequential([Embedding(20, 8, mask_zero=True), LSTM(8, return_sequences=True), Dense(K_), CRF()])


def toy_data(n=64, seed=0):
    """Tag = the token id mod 4 shifted by the previous token's parity: a chain the CRF can learn."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 20, (n, 7), generator=g)
    x[: n // 2, 5:] = 0  # padding
    y = (x % 4).clone()
    y[x == 0] = 0
    return x, y


def test_a_tagger_with_a_crf_head_learns_with_fit():
    torch.manual_seed(0)
    x, y = toy_data()
    model = tagger()
    crf = model.layers[-1]
    model.compile(optimizer=optimizers.Adam(learning_rate=0.03), loss=crf.loss)
    hist = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.3 * losses[0], losses
    pred = model.predict(x, verbose=0)
    assert np.asarray(pred).dtype == np.int64 and np.asarray(pred).shape == (64, 7)
    ev = model.evaluate(x, y, verbose=0)
    assert np.isfinite(np.asarray(ev, dtype=float)).all()


def test_save_load_keeps_the_decode(tmp_path):
    torch.manual_seed(1)
    x, _ = toy_data(8)
    model = Sequential([Embedding(20, 8, mask_zero=True), Dense(3), CRF(**bio_transitions(["O", "B-a", "I-a"]))])
    model.eval()
    model(x)
    with torch.no_grad():
        model.layers[-1].transitions.normal_()
    before = model(x)
    path = tmp_path / "crf.seqlayers"
    model.save(path)
    loaded = load_model(path)
    loaded.eval()
    assert torch.equal(loaded(x), before)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()


def test_forbidden_is_finite():
    assert np.isfinite(FORBIDDEN) and FORBIDDEN < -1e3
