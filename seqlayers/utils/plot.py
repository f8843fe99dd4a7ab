"""Keras's ``plot_model``: a picture of the model, drawn by the model's own ``explain`` (matplotlib)."""
from __future__ import annotations


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Draw ``model`` into ``to_file`` (PNG, SVG or PDF by the suffix) and return the path.

    The picture is ``model.explain``'s unrolled diagram: inputs, recurrent steps and outputs with
    their shapes and the time axis named (not Keras's graphviz box graph, which needs pydot and a
    graphviz install); the ``show_*``, ``rankdir`` and ``dpi`` arguments of Keras are accepted and
    have no effect. Needs matplotlib (``pip install matplotlib``).
    """
    explain = getattr(model, "explain", None)
    if explain is None:
        raise TypeError(f"plot_model: expected a seqlayers model (Sequential or Model), got {type(model).__name__}.")
    explain(path=to_file, print_fn=lambda text: None)  # the picture only
    return to_file


__all__ = ["plot_model"]
