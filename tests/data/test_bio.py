"""BIO transition rules and constrained Viterbi, against brute-force enumeration of every tag path."""
import itertools

import numpy as np
import pytest

from seqlayers.data.bio import bio_transitions, viterbi

LABELS = ["<pad>", "O", "B-a", "I-a", "B-b", "I-b"]


def valid_path(tags):
    """The BIO rules written out directly: no padding, each I-x continues a B-x or I-x."""
    for i, t in enumerate(tags):
        if t == "<pad>":
            return False
        if t.startswith("I-") and (i == 0 or tags[i - 1] not in ("B-" + t[2:], "I-" + t[2:])):
            return False
    return True


def brute_force(emissions):
    """The best valid path and its score, by trying all N ** T paths."""
    T, N = emissions.shape
    best = (-np.inf, None)
    for path in itertools.product(range(N), repeat=T):
        if valid_path([LABELS[j] for j in path]):
            best = max(best, (sum(emissions[t, j] for t, j in enumerate(path)), path), key=lambda b: b[0])
    return best


def test_transitions_follow_the_bio_rules():
    allowed, start = bio_transitions(LABELS)
    ix = {t: i for i, t in enumerate(LABELS)}
    assert allowed[ix["B-a"], ix["I-a"]] and allowed[ix["I-a"], ix["I-a"]] and allowed[ix["I-a"], ix["B-b"]]
    assert not allowed[ix["O"], ix["I-a"]] and not allowed[ix["B-b"], ix["I-a"]] and not allowed[ix["I-b"], ix["I-a"]]
    assert allowed[ix["O"], ix["O"]] and allowed[ix["I-b"], ix["O"]]
    assert not allowed[:, ix["<pad>"]].any() and not allowed[ix["<pad>"]].any()
    assert start.tolist() == [False, True, True, False, True, False]


@pytest.mark.parametrize("T", [1, 2, 3, 4])
def test_viterbi_matches_brute_force_over_all_paths(T):
    allowed, start = bio_transitions(LABELS)
    rng = np.random.default_rng(T)
    for _ in range(5):
        em = np.log(rng.dirichlet(np.ones(len(LABELS)), size=T))  # (T, N) per-token log-probabilities
        path, score = viterbi(em, allowed, start)
        best_score, best_path = brute_force(em)
        assert tuple(path.tolist()) == best_path
        assert score == pytest.approx(best_score)


def test_viterbi_decodes_a_batch_like_each_sequence_alone():
    allowed, start = bio_transitions(LABELS)
    em = np.log(np.random.default_rng(0).dirichlet(np.ones(len(LABELS)), size=(2, 3, 4)))  # (2, 3, T=4, N)
    paths, scores = viterbi(em, allowed, start)
    assert paths.shape == (2, 3, 4) and scores.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        p, s = viterbi(em[i, j], allowed, start)
        assert (paths[i, j] == p).all() and scores[i, j] == pytest.approx(s)


def test_viterbi_repairs_an_inside_tag_after_outside():
    allowed, start = bio_transitions(LABELS)
    p = np.full((2, len(LABELS)), 0.01)
    p[0, 1], p[1, 3], p[1, 2] = 0.9, 0.6, 0.3  # argmax would say "O I-a"
    path, _ = viterbi(np.log(p), allowed, start)
    assert [LABELS[j] for j in path] == ["O", "B-a"]


def test_viterbi_rejects_emissions_of_the_wrong_width():
    allowed, start = bio_transitions(LABELS)
    with pytest.raises(ValueError, match=r"expected emissions of shape \(\.\.\., T, N\) with N = 6 tags"):
        viterbi(np.zeros((3, 5)), allowed, start)
    with pytest.raises(ValueError, match="T >= 1"):
        viterbi(np.zeros((0, 6)), allowed, start)


@pytest.mark.parametrize("T", [1, 2, 3])
def test_viterbi_with_learnt_transition_scores_matches_brute_force(T):
    """A CRF's transitions, start and end scores added to the path score: brute force over all paths."""
    allowed, start = bio_transitions(LABELS)
    rng = np.random.default_rng(10 + T)
    N = len(LABELS)
    for _ in range(4):
        em, trans = rng.normal(size=(T, N)), rng.normal(size=(N, N))
        s0, s1 = rng.normal(size=N), rng.normal(size=N)
        best = (-np.inf, None)
        for path in itertools.product(range(N), repeat=T):
            if valid_path([LABELS[j] for j in path]):
                score = sum(em[t, j] for t, j in enumerate(path)) + s0[path[0]] + s1[path[-1]] + \
                    sum(trans[a, b] for a, b in zip(path, path[1:]))
                best = max(best, (score, path), key=lambda b: b[0])
        path, score = viterbi(em, allowed, start, transitions=trans, start_scores=s0, end_scores=s1)
        assert tuple(path.tolist()) == best[1]
        assert score == pytest.approx(best[0])
    # without learnt scores the same emissions may choose another path: the scores are used
    assert any(tuple(viterbi(e, allowed, start)[0].tolist()) !=
               tuple(viterbi(e, allowed, start, transitions=10 * np.eye(N))[0].tolist())
               for e in rng.normal(size=(20, max(T, 2), N)))
