"""seqlayers/serialization.py: the shared ordering of a saved graph's calls (used by load_model and from_keras)."""

from seqlayers.serialization import call_when_ready


def _maker(edges):
    """``attempt(name)`` makes ``name`` once all the names it reads are made; returns the order made."""
    made = []

    def attempt(name):
        if any(dep not in made for dep in edges[name]):
            return False
        made.append(name)
        return True

    return attempt, made


def test_calls_are_made_after_their_inputs_whatever_the_saved_order():
    edges = {"a": [], "b": ["a"], "c": ["b", "a"], "d": ["c"]}
    attempt, made = _maker(edges)
    pending = [("d",), ("c",), ("b",), ("a",)]
    assert call_when_ready(pending, attempt) is None
    assert made == ["a", "b", "c", "d"] and pending == []


def test_a_call_whose_input_nothing_produces_is_returned_not_looped_on():
    edges = {"a": [], "b": ["ghost"], "c": ["b"]}
    attempt, made = _maker(edges)
    pending = [("c",), ("a",), ("b",)]
    assert call_when_ready(pending, attempt) == ("c",)
    assert made == ["a"] and pending == [("c",), ("b",)]


def test_a_cycle_is_returned():
    attempt, made = _maker({"a": ["b"], "b": ["a"]})
    assert call_when_ready([("a",), ("b",)], attempt) == ("a",)
    assert made == []
