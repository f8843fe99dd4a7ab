"""``model.explain()``: the shapes at every layer with the time axis named, and the unrolled picture.

For each layer it says what happens to the time axis (kept, dropped by a recurrent layer without
``return_sequences``, created by ``RepeatVector``, shortened by a slice), whether the layer's weights
are shared across steps (``TimeDistributed``, ``Dense`` on a sequence, recurrent layers), and where a
padding mask starts (``Embedding(mask_zero=True)``, ``Masking``) and where it stops. It ends with
the model's topology drawn unrolled in time, in the style of seed 001's drawings::

          O      outputs
          |
    O O O O      lstm (LSTM)
    | | | |
    O O O O      inputs

``explain(model, path="model.png")`` draws the same picture with matplotlib.
"""
from __future__ import annotations

import html
import io
from dataclasses import dataclass

from ..errors import MissingExtraError, require_extra

from .topology import (ENCODER_DECODER, MANY_TO_MANY, MANY_TO_ONE, ONE_TO_MANY, ONE_TO_ONE, Call, TensorInfo,
                       Topology, classify, label, recurrent_flags, trace)

MAX_DRAWN_STEPS = 8  # longer (or variable) sequences are drawn with this many steps and "..."
VARIABLE_DRAWN_STEPS = 4


# ---------------------------------------------------------------- shapes with named axes
def named_shape(info: TensorInfo) -> str:
    """``(batch, time=5, features=1)``; ``(batch, features=5)`` without a time axis."""
    s = info.shape

    def d(v):
        return "any" if v is None else str(v)

    if info.time is not None and len(s) >= 2:
        parts = ["batch", f"time={d(s[1])}"]
        middle = [d(v) for v in s[2:-1]]
        parts += middle
        if len(s) >= 3:
            parts.append(f"features={d(s[-1])}")
    else:
        parts = ["batch"] + [d(v) for v in s[1:-1]] + ([f"features={d(s[-1])}"] if len(s) >= 2 else [])
    return "(" + ", ".join(parts) + ")"


def _time_note(call: Call) -> str | None:
    is_rnn, seqs, _ = recurrent_flags(call.layer)
    effect = call.time_effect
    ins = [t for t in call.inputs if t.time is not None]
    out = call.outputs[0]
    if effect == "keeps":
        return "keeps the time axis (return_sequences=True: one output per step)" if is_rnn else None
    if effect == "drops":
        if is_rnn:
            return "returns only its last step (return_sequences=False): the time axis ends here"
        return "folds the time axis away"
    if effect == "creates":
        n = out.shape[1] if len(out.shape) > 1 else None
        verb = "repeats its input vector" if type(call.layer).__name__ == "RepeatVector" else "makes"
        return f"{verb} {'a variable number of' if n is None else n} times: a new time axis starts here"
    if effect == "changes":
        before = ins[0].shape[1] if ins else None
        return (f"changes the number of steps: {'any' if before is None else before} -> "
                f"{'any' if out.shape[1] is None else out.shape[1]} (a new time axis)")
    return None


def _mask_note(call: Call) -> str | None:
    return {
        "starts": "a padding mask starts here (padded steps will be skipped downstream)",
        "stops": "uses the mask and stops it: padded steps were skipped, the output has no time axis",
        "uses": "skips padded steps and passes the mask on",
        "passes": None,
        "drops": "this layer does not support masking: the mask stops here and padding counts as data",
    }.get(call.mask_effect or "")


def _params(layer) -> int:
    ws = layer.weights if hasattr(layer, "weights") else list(layer.parameters())
    return sum(w.numel() for w in ws)


# ---------------------------------------------------------------- the unrolled drawing
@dataclass
class Drawing:
    """Rows of nodes (bottom-up: inputs, steps, outputs) at column positions, and their links."""

    title: str
    rows: list[tuple[list[int], str]]  # (columns, label) from the bottom row up
    links: list[list[int]]  # columns linked between row k and row k+1
    recurrent: bool  # the middle row carries a state from left to right
    truncated: bool


def _drawn(n: int | None) -> tuple[int, bool]:
    if n is None:
        return VARIABLE_DRAWN_STEPS, True
    return (n, False) if n <= MAX_DRAWN_STEPS else (MAX_DRAWN_STEPS, True)


def layout(topo: Topology, calls: list[Call], inputs: list[TensorInfo], outputs: list[TensorInfo]) -> Drawing:
    """Where the circles go for a topology (the same layout is drawn as text and as a picture)."""
    i, ti = _drawn(topo.input_steps if topo.sequence_in else 1)
    o, to = _drawn(topo.output_steps if topo.sequence_out else 1)
    rnn_calls = [c for c in calls if recurrent_flags(c.layer)[0] and not c.repeated]
    hidden = ", ".join(label(c.layer) for c in rnn_calls) or ", ".join(label(c.layer) for c in calls[:-1]) \
        or "(no hidden layer)"
    in_label = "inputs " + " + ".join(named_shape(t) for t in inputs)
    out_label = "outputs " + named_shape(outputs[0])
    kind = topo.kind
    if kind == ONE_TO_ONE:
        p_in, p_h, p_out = [0], [0], [0]
    elif kind == ONE_TO_MANY:
        p_in, p_h, p_out = [0], list(range(o)), list(range(o))
    elif kind == MANY_TO_ONE:
        p_in, p_h, p_out = list(range(i)), list(range(i)), [i - 1]
    elif kind == MANY_TO_MANY:
        p_in, p_h, p_out = list(range(i)), list(range(i)), list(range(i))
    elif kind == ENCODER_DECODER and topo.via and "slice" in _origin(outputs[0]) and o <= i:
        p_in, p_h, p_out = list(range(i)), list(range(i)), list(range(i - o, i))
    else:  # encoder steps, then decoder steps
        p_in, p_h, p_out = list(range(i)), list(range(i + o)), list(range(i, i + o))
        if "teacher forcing" in (topo.via or ""):
            p_in = list(range(i + o))
            in_label = "inputs, then [start] + previous targets (teacher forcing)"
    rows = [(p_in, in_label), (p_h, hidden), (p_out, out_label)]
    links = [[c for c in p_in if c in p_h], [c for c in p_out if c in p_h]]
    if kind == ONE_TO_MANY:
        links[0] = [0]
    return Drawing(str(topo), rows, links, recurrent=bool(rnn_calls), truncated=ti or to)


def _origin(info: TensorInfo) -> str:
    return info.time.origin if info.time is not None else ""


def ascii_diagram(drawing: Drawing) -> str:
    """Seed 001's style: ``O`` for each step, ``|`` for each link, outputs on top."""
    width = 2 * max(max(cols) for cols, _ in drawing.rows if cols) + 1

    def line(cols, ch):
        chars = [" "] * width
        for c in cols:
            chars[2 * c] = ch
        return "".join(chars)

    out = []
    for k in range(len(drawing.rows) - 1, -1, -1):
        cols, text = drawing.rows[k]
        out.append(f"    {line(cols, 'O')}    {text}")
        if k > 0:
            out.append(f"    {line(drawing.links[k - 1], '|')}".rstrip())
    if drawing.truncated:
        out.append(f"    (long or variable-length sequences are drawn with at most {MAX_DRAWN_STEPS} steps)")
    return "\n".join(out)


def draw(drawing: Drawing, path, ax=None, format=None):
    """Draw the unrolled picture with matplotlib (Agg backend) into ``path`` (a file name, or a file
    object with ``format``, e.g. ``"svg"``), or onto ``ax``."""
    matplotlib = require_extra("matplotlib", "plots", "explain(path=...)")
    if ax is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    own = ax is None
    if own:
        n = max(max(cols) for cols, _ in drawing.rows if cols) + 1
        fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * n + 4.0), 3.2))
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    for k, (cols, text) in enumerate(drawing.rows):
        ax.scatter(cols, [k] * len(cols), s=260, color=colors[k % 3], zorder=3, edgecolors="black")
        ax.text(max(max(c for c, _ in drawing.rows if c) + [0]) + 1.0, k, text, va="center", fontsize=8)
    for k, cols in enumerate(drawing.links):
        for c in cols:
            ax.plot([c, c], [k, k + 1], color="black", lw=1, zorder=1)
    if drawing.recurrent:
        cols = drawing.rows[1][0]
        for a, b in zip(cols, cols[1:]):
            ax.annotate("", xy=(b - 0.2, 1), xytext=(a + 0.2, 1),
                        arrowprops=dict(arrowstyle="->", color="gray"))
    ax.set_title(drawing.title, fontsize=9)
    ax.set_xlim(-0.8, max(max(c for c, _ in drawing.rows if c)) + 9)
    ax.set_ylim(-0.6, len(drawing.rows) - 0.4)
    ax.axis("off")
    if own:
        fig.tight_layout()
        fig.savefig(path, dpi=110, format=format)
        plt.close(fig)
    return ax


# ---------------------------------------------------------------- the report
def report(model) -> tuple[str, Drawing]:
    """The shape trace (text) and the layout of the unrolled picture."""
    inputs, calls, outputs = trace(model)
    topo = classify(inputs, outputs[0])
    name = getattr(model, "display_name", type(model).__name__)
    lines = [f'Model "{name}": {topo}', ""]
    for k, t in enumerate(inputs):
        lines.append(f"  input{'' if len(inputs) == 1 else ' ' + str(k)}  {named_shape(t)}")
    for call in calls:
        layer = call.layer
        lines.append(f"  {label(layer)}")
        lines.append(f"      in   {' + '.join(named_shape(t) for t in call.inputs) or '-'}")
        states = call.state_inputs
        if states:
            lines.append(f"      initial_state  {', '.join(named_shape(t) for t in states)}")
        outs = call.outputs
        if len(outs) == 1:
            lines.append(f"      out  {named_shape(outs[0])}")
        else:
            lines.append(f"      out  {named_shape(outs[0])}  + states {', '.join(named_shape(t) for t in outs[1:])}")
        for note in (_time_note(call), _mask_note(call)):
            if note:
                lines.append(f"      {note}")
        if call.repeated:
            lines.append("      the same layer object as above: its weights are shared with that call")
        elif call.sharing:
            lines.append(f"      weights: {call.sharing}")
        n = _params(layer)
        if n and not call.repeated:
            lines.append(f"      params: {n:,}")
    total = sum(_params(l) for l in _unique(c.layer for c in calls))
    lines += ["", f"Total params: {total:,}", "", "Unrolled in time (read bottom-up):"]
    drawing = layout(topo, calls, inputs, outputs)
    lines.append(ascii_diagram(drawing))
    return "\n".join(lines), drawing


def _unique(layers):
    seen, out = set(), []
    for l in layers:
        if id(l) not in seen:
            seen.add(id(l))
            out.append(l)
    return out


class Explanation(str):
    """The text of ``model.explain()``, a ``str``; Jupyter displays it as the text and the picture.

    ``print(e)`` prints the text; ``e.svg()`` is the unrolled picture as SVG (``plots`` extra);
    ``e._repr_html_()`` is what a notebook shows: the text, then the picture when matplotlib is there.
    """

    drawing: Drawing

    def __new__(cls, text: str, drawing: Drawing):
        obj = super().__new__(cls, text)
        obj.drawing = drawing
        return obj

    def svg(self) -> str:
        buf = io.StringIO()
        draw(self.drawing, buf, format="svg")
        return buf.getvalue()

    def _repr_html_(self) -> str:
        try:
            picture = self.svg()
            picture = picture[picture.index("<svg"):]  # inline: no XML prolog inside HTML
        except MissingExtraError:  # a notebook without matplotlib still shows the text
            picture = ""
        return f"<pre>{html.escape(str(self))}</pre>\n{picture}"


def explanation(model) -> Explanation:
    """``model.explain_text()``: the shape trace and the diagram as an :class:`Explanation`."""
    return Explanation(*report(model))


def explain(model, path=None, print_fn=None) -> None:
    """Print (with ``print_fn``, default ``print``) the shape trace and the unrolled diagram; with
    ``path``, also draw the diagram into that image file (before printing). Returns None."""
    text, drawing = report(model)
    if path is not None:
        draw(drawing, path)
    (print_fn or print)(text)


__all__ = ["explain", "report", "explanation", "Explanation", "named_shape", "layout", "ascii_diagram", "draw",
           "Drawing"]
