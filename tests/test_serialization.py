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


# ---------------------------------------------------------------- values Keras saves and we now save too
def _revive(layer, custom_objects=None):
    import json

    from seqlayers.serialization import layer_from_config, layer_to_config

    return layer_from_config(json.loads(json.dumps(layer_to_config(layer))), custom_objects)


def test_a_constant_tensor_argument_is_saved_by_value():
    import torch

    from seqlayers import Lambda

    mask = torch.tensor([[True, False, True]])
    revived = _revive(Lambda(torch.square, mask=mask), {"square": torch.square})
    assert revived.mask.dtype == torch.bool and torch.equal(revived.mask, mask)
    assert torch.equal(revived.compute_mask(torch.zeros(1, 3, 2)), mask)
    ints = _revive(Lambda(torch.square, mask=torch.arange(6).reshape(2, 3)), {"square": torch.square})
    assert ints.mask.dtype == torch.int64 and ints.mask.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_bad_saved_tensor_is_a_model_file_error():
    import pytest

    from seqlayers.errors import ModelFileError
    from seqlayers.serialization import value_from_json

    with pytest.raises(ModelFileError, match=r"cfg: a saved tensor must be \{'value': nested lists, 'dtype'"):
        value_from_json({"__array__": {"value": [1], "dtype": "complex"}}, None, "cfg")
    with pytest.raises(ModelFileError, match=r"cfg: the saved tensor's values are not a rectangular array"):
        value_from_json({"__array__": {"value": [[1, 2], [3]], "dtype": "float32"}}, None, "cfg")


def test_a_function_defined_inside_another_is_saved_by_name_and_found_in_custom_objects():
    import pytest
    import torch

    from seqlayers import Lambda
    from seqlayers.errors import ModelFileError

    def stacker(x):
        return torch.cat([x, x], dim=1)

    revived = _revive(Lambda(stacker), {"stacker": stacker})
    assert revived.function is stacker
    with pytest.raises(ModelFileError, match=r"function '.*<locals>\.stacker', which is not registered.*"
                                             r"custom_objects=\{'stacker': fn\}"):
        _revive(Lambda(stacker))
    with pytest.raises(ValueError, match=r"cannot save an anonymous function"):
        _revive(Lambda(lambda x: x))  # a lambda has no name to find it by: still refused on save


def test_keras_activation_functions_are_saved_by_their_name_and_compute_the_same():
    import numpy as np
    import pytest
    import torch

    from seqlayers import Activation
    from seqlayers.activations import ACTIVATIONS, name_of

    keras = pytest.importorskip("keras")
    x = torch.linspace(-4, 4, 41)
    found = 0
    for name in ACTIVATIONS:
        fn = getattr(keras.activations, name, None)
        if fn is None or name_of(fn) is None:
            continue
        found += 1
        revived = _revive(Activation(fn))
        assert revived.activation is ACTIVATIONS[name_of(fn)]
        np.testing.assert_allclose(revived(x).numpy(), np.asarray(fn(x)), atol=1e-6, err_msg=name)
    assert found >= 15
    assert name_of(keras.activations.gelu) == "gelu"
