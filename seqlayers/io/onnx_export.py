"""``export_onnx(model, path)``: an ONNX graph with dynamic batch and time axes, checked by onnxruntime.

Uses torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``). The recurrent layers'
fused paths call torch's LSTM/GRU/RNN kernels, which the exporter writes as native ONNX ``LSTM``,
``GRU`` and ``RNN`` operators (one node per layer and direction, no unrolled loop). Masks made inside
the model (``Embedding(mask_zero=True)``, ``Masking``) are exported as ordinary ops around those nodes.

What the graph assumes, and what is refused:

* masks are **right-padded** (each sequence's valid steps first, padding at the end), as padded
  batches are; the graph follows the fused padded path and does not check this at run time;
* a recurrent layer that runs its per-step Python loop (``GRU(reset_after=False)``, non-default
  activations, ``recurrent_dropout``) would be unrolled to the example's length: refused with
  ``dynamic_time=True`` (export it with ``dynamic_time=False`` for one fixed length);
* stateful layers (states kept between calls) are refused: ONNX graphs have no memory;
* the model is exported in eval mode (dropout off).

Before the file is written, the graph is run with onnxruntime (when installed) at another batch
size and sequence length than the example's and compared with the torch model; a mismatch raises
``ValueError`` and nothing is written.
onnx is needed (``pip install onnx``), onnxruntime for the check; both are imported only here.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import native
from ..atomic import atomic_write
from ..errors import layer_label, require_extra
from ..layers.embedding import Embedding, Masking
from ..models.functional import Model
from ..models.sequential import Sequential
from ..utils import flatten

_EXAMPLE_BATCH, _EXAMPLE_TIME = 2, 5


class _Flat(nn.Module):
    """``forward(*inputs) -> tuple of outputs``: the calling convention the exporter wants."""

    def __init__(self, model: nn.Module, n_inputs: int):
        super().__init__()
        self.model = model
        self.n_inputs = n_inputs

    def forward(self, *xs):
        out = self.model(list(xs) if self.n_inputs > 1 else xs[0])
        return tuple(flatten(out))


def _input_specs(model) -> list[tuple[tuple, torch.dtype, str]]:
    """(shape with None for unknown, dtype, name) of each model input."""

    if isinstance(model, Model) and getattr(model, "_functional", False):
        return [(t.shape, t.dtype, name) for t, name in zip(model.inputs, model.input_names)]
    shape = getattr(model, "declared_input_shape", None) or getattr(model, "_build_input_shape", None)
    if shape is None or (shape and isinstance(shape[0], (list, tuple))):
        raise ValueError(
            f"export_onnx: {layer_label(model)} has no known input shape; pass example_inputs=... "
            f"(a tensor, or a list of tensors, one per input)."
        )
    dtype = torch.float32
    first = model.layers[0] if isinstance(model, Sequential) and model.layers else model
    if isinstance(model, Sequential) and model._input_dtype is not None:
        dtype = model._input_dtype
    elif getattr(getattr(first, "input_spec", None), "dtype", None) == "int":
        dtype = torch.int64
    return [(tuple(shape), dtype, "input")]


def _masking_value(model) -> float:
    values = {m.mask_value for m in model.modules() if isinstance(m, Masking)}
    return values.pop() if len(values) == 1 else 0.0


def _vocab(model) -> int:
    sizes = [m.input_dim for m in model.modules() if isinstance(m, Embedding)]
    return min(sizes) if sizes else 2


def _time_axes(specs, dynamic_time: bool) -> list[bool]:
    """Whether axis 1 of each input is a time axis to leave dynamic."""
    out = []
    for shape, dtype, _ in specs:
        is_int = not (dtype.is_floating_point or dtype == torch.bool)
        out.append(len(shape) >= 2 and (shape[1] is None or dynamic_time) and (len(shape) >= 3 or is_int))
    return out


def _make_inputs(specs, time_axes, batch, time, vocab, pad_value, seed):
    """Random inputs of the given batch and time; row 0 right-padded so masks take the padded path."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for (shape, dtype, _), timed in zip(specs, time_axes):
        dims = [batch] + [(time if (i == 1 and timed) else (d if d is not None else 3))
                          for i, d in enumerate(shape) if i > 0]
        if dtype.is_floating_point:
            x = torch.randn(dims, generator=g, dtype=dtype)
        elif dtype == torch.bool:
            x = torch.ones(dims, dtype=torch.bool)
        else:
            x = torch.randint(1, max(vocab, 2), dims, generator=g).to(dtype)
        out.append(x if dtype == torch.bool else _pad_first_row(x, timed, pad_value))
    return out


def _pad_first_row(x: torch.Tensor, timed: bool, pad_value: float) -> torch.Tensor:
    """Make the last 2 steps of sample 0 padding (0 ids / the Masking value) when there is room."""
    if timed and x.dim() >= 2 and x.shape[1] > 2:
        x[0, -2:] = pad_value if x.is_floating_point() else 0
    return x


def _check_exportable(model) -> None:
    for m in model.modules():
        if getattr(m, "stateful", False) is True:
            raise ValueError(
                f"export_onnx: {layer_label(m)} is stateful (it keeps its states between calls); an ONNX "
                f"graph has no memory. Export a copy with stateful=False and feed the states as "
                f"initial_state inputs instead."
            )


def _loops_or_fails(model, specs, time_axes, vocab, pad_value) -> bool:
    """True when the model cannot run at two lengths on its fused paths (so time must stay fixed)."""
    for time in (_EXAMPLE_TIME, _EXAMPLE_TIME + 3):
        x = [t.to(_device(model)) for t in _make_inputs(specs, time_axes, _EXAMPLE_BATCH, time, vocab, pad_value, 0)]
        try:
            with torch.no_grad(), native.disabled():  # the paths an export traces (never the native loops)
                model(x if len(x) > 1 else x[0])
        except (ValueError, RuntimeError):
            return True
        if _loop_layers(model):
            return True
    return False


def _device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _loop_layers(model) -> list:
    return [m for m in model.modules() if getattr(m, "last_path", None) == "loop"]


def export_onnx(model: nn.Module, path, example_inputs=None, *, dynamic_time: bool | None = None,
                opset_version: int = 17, input_names=None, output_names=None, verify: bool = True,
                atol: float = 1e-5) -> Path:
    """Export a model (or layer) to ONNX with a dynamic batch axis and dynamic time axes.

    Args:
        path: the ``.onnx`` file to write.
        example_inputs: a tensor or a list of tensors, one per input; by default made from the
            model's input shapes (batch 2, time 5 where the time is unknown).
        dynamic_time: leave axis 1 (time) of sequence inputs (``(B, T, F)`` float inputs and
            ``(B, T)`` integer ids) dynamic. None (default): dynamic where the input's length is
            unknown (``Input(shape=(None, F))``), and where it is declared too when the model runs
            at other lengths on its fused kernels; True: always (an error if impossible); False:
            only where unknown.
        input_names / output_names: ONNX names; by default the model's input names and
            ``output`` / ``output_<i>``.
        verify: run the file with onnxruntime at another batch size and length, compare within ``atol``.

    Returns the path written.
    """
    require_extra("onnx", "interop", "export_onnx")
    _check_exportable(model)
    path = Path(path)
    was_training = model.training
    model.eval()
    try:
        if example_inputs is None:
            specs = _input_specs(model)
        else:
            given = list(example_inputs) if isinstance(example_inputs, (list, tuple)) else [example_inputs]
            specs = [(tuple([None] + list(x.shape[1:])), x.dtype, f"input_{i}" if len(given) > 1 else "input")
                     for i, x in enumerate(given)]
        vocab, pad_value = _vocab(model), _masking_value(model)
        # auto: time axes declared None are dynamic; declared lengths too when the model runs at others
        time_axes = _time_axes(specs, dynamic_time is not False)
        if dynamic_time is None and time_axes != _time_axes(specs, False):
            if _loops_or_fails(model, specs, time_axes, vocab, pad_value):
                time_axes = _time_axes(specs, False)
        if example_inputs is None:
            example = _make_inputs(specs, time_axes, _EXAMPLE_BATCH, _EXAMPLE_TIME, vocab, pad_value, seed=0)
        else:  # a copy whose first sequence ends with padding, so that masks are traced
            example = [_pad_first_row(x.clone(), timed, pad_value) for x, timed in zip(given, time_axes)]
        device = _device(model)
        example = [x.to(device) for x in example]
        if input_names is None:
            input_names = [s[2] for s in specs]
        with torch.no_grad(), native.disabled():  # the paths the trace takes
            reference = flatten(model(example if len(example) > 1 else example[0]))
        loops = _loop_layers(model)
        if loops and any(time_axes):
            raise ValueError(
                f"export_onnx: {layer_label(loops[0])} runs its per-step loop (not torch's fused kernel: "
                f"e.g. GRU(reset_after=False), a non-default activation, recurrent_dropout, or a mask "
                f"that is not right-padded), which the exporter would unroll to the example's "
                f"{example[time_axes.index(True)].shape[1]} steps. Give the input a fixed length "
                f"(Input(shape=(T, F))) and pass dynamic_time=False, or use the layer's default settings."
            )
        if output_names is None:
            output_names = ["output"] if len(reference) == 1 else [f"output_{i}" for i in range(len(reference))]
        dynamic_axes = _dynamic_axes(input_names, output_names, time_axes, reference)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python values; verify() is the real check
            # the wrapper starts in eval mode: the exporter restores its mode (recursively) afterwards
            # (torch's stubs type f as a path only; the exporter accepts a file object too)
            torch.onnx.export(_Flat(model, len(example)).eval(), tuple(example), buf,  # type: ignore[arg-type]
                              dynamo=False,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes, opset_version=opset_version)
        if verify:  # before writing: a graph that does not reproduce the model is never left on disk
            _verify(model, buf.getvalue(), specs, time_axes, input_names, example, atol)

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buf.getvalue())
    finally:
        model.train(was_training)
    return path


def _dynamic_axes(input_names, output_names, time_axes: list[bool], reference: list) -> dict:
    """One batch axis for all; each input's own time axis (an encoder's and a decoder's lengths differ)."""
    dynamic_axes = {}
    several = sum(time_axes) > 1
    for name, timed in zip(input_names, time_axes):
        dynamic_axes[name] = {0: "batch", 1: f"{name}_time" if several else "time"} if timed else {0: "batch"}
    for name, out in zip(output_names, reference):
        dynamic_axes[name] = {0: "batch", 1: f"{name}_time"} if (out.dim() >= 3 and any(time_axes)) else {0: "batch"}
    return dynamic_axes


def _verify(model, onnx_bytes, specs, time_axes, input_names, example, atol) -> None:
    try:
        import onnxruntime as ort
    except ImportError:
        warnings.warn("export_onnx: onnxruntime is not installed; the exported file was not checked.", stacklevel=2)
        return
    batch = example[0].shape[0] + 1
    time = (example[time_axes.index(True)].shape[1] + 3) if any(time_axes) else None
    if time is None:  # fixed length: the example's sizes, one more sample
        inputs = [torch.cat([x, x[:1]], dim=0) for x in example]
    else:
        inputs = _make_inputs(specs, time_axes, batch, time, _vocab(model), _masking_value(model), seed=1)
    inputs = [x.to(_device(model)) for x in inputs]
    with torch.no_grad():
        try:
            expected = [t.cpu().numpy() for t in flatten(model(inputs if len(inputs) > 1 else inputs[0]))]
        except (ValueError, RuntimeError) as e:
            raise ValueError(
                f"export_onnx: the model itself does not run at another sequence length ({e}); export "
                f"it with dynamic_time=False."
            ) from e
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {n: x.cpu().numpy() for n, x in zip(input_names, inputs)})
    for i, (g, want) in enumerate(zip(got, expected)):
        if g.shape != want.shape or not np.allclose(g, want, atol=atol, rtol=0):
            diff = "shape " + str(g.shape) if g.shape != want.shape else f"max difference {np.abs(g - want).max():.3g}"
            raise ValueError(
                f"export_onnx: the exported graph does not reproduce the model at batch {batch}"
                + (f", time {time}" if time else "") + f" (output {i}: {diff}, expected shape {want.shape}). "
                f"Some layer computes with Python values that tracing froze (or a mask made outside "
                f"Embedding(mask_zero=True)/Masking); export with dynamic_time=False, or report the layer."
            )


__all__ = ["export_onnx"]
