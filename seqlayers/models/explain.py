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
from .topology import (
    ENCODER_DECODER,
    MANY_TO_MANY,
    MANY_TO_ONE,
    ONE_TO_MANY,
    ONE_TO_ONE,
    Call,
    TensorInfo,
    Topology,
    classify,
    label,
    recurrent_flags,
    trace,
)

MAX_DRAWN_STEPS = 8  # longer (or variable) sequences are drawn with this many steps and "..."
VARIABLE_DRAWN_STEPS = 4


# ---------------------------------------------------------------- shapes with named axes
def named_shape(info: TensorInfo) -> str:
    """``(batch, time=5, features=1)``; ``(batch, features=5)`` without a time axis."""
    s = info.shape

    def d(v):
        return "any" if v is None else str(v)

    if info.time is not None and len(s) >= 2:
        parts = [info.batch, f"time={d(s[1])}"]
        middle = [d(v) for v in s[2:-1]]
        parts += middle
        if len(s) >= 3:
            parts.append(f"features={d(s[-1])}")
    else:
        parts = [info.batch] + [d(v) for v in s[1:-1]] + ([f"features={d(s[-1])}"] if len(s) >= 2 else [])
    return "(" + ", ".join(parts) + ")"


def _time_note(call: Call) -> str | None:
    fold = getattr(call.layer, "batch_note", None)  # FoldIntoBatch / UnfoldFromBatch say what they fold
    if callable(fold) and call.inputs:
        return fold(call.inputs[0].shape)
    is_rnn, seqs, _ = recurrent_flags(call.layer)
    effect = call.time_effect
    ins = [t for t in call.inputs if t.time is not None]
    out = call.outputs[0]
    if effect == "keeps" and call.parallel_steps:
        return "parallel_steps=True: one step per entry of the time axis, none reading another's output"
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
    """Rows of nodes (bottom-up: inputs, steps, outputs) at column positions, and their links.

    ``directions`` says, for each row that carries a state along time, which way it flows:
    ``"forward"``, ``"backward"`` (``go_backwards``) or ``"both"`` (``Bidirectional``).
    """

    title: str
    rows: list[tuple[list[int], str]]  # (columns, label) from the bottom row up
    links: list[list[int]]  # columns linked between row k and row k+1
    directions: dict[int, str]  # row index -> direction of its state, for the recurrent rows
    truncated: bool

    @property
    def recurrent(self) -> bool:
        return bool(self.directions)


def _drawn(n: int | None) -> tuple[int, bool]:
    if n is None:
        return VARIABLE_DRAWN_STEPS, True
    return (n, False) if n <= MAX_DRAWN_STEPS else (MAX_DRAWN_STEPS, True)


def ancestors(calls: list[Call], output: TensorInfo) -> list[Call]:
    """The calls that ``output`` depends on, in running order (the path drawn for that output)."""
    made_by = {id(t): c for c in calls for t in c.outputs}
    needed, todo = set(), [output]
    while todo:
        call = made_by.get(id(todo.pop()))
        if call is not None and id(call) not in needed:
            needed.add(id(call))
            todo += call.inputs + call.state_inputs
    return [c for c in calls if id(c) in needed]


def _direction(layer) -> str:
    if hasattr(layer, "forward_layer") and hasattr(layer, "backward_layer"):
        return "both"
    return "backward" if getattr(layer, "go_backwards", False) else "forward"


def _hidden_rows(rnn_calls: list[Call], main_axis, p_axis: list[int], p_new: list[int]):
    """One row per recurrent layer stacked on the same time axis; a layer on a new axis (a decoder
    after ``RepeatVector``, or over teacher-forced inputs) continues the row before it."""
    rows: list[tuple[list[int], list[Call]]] = []
    for call in rnn_calls:
        axis = next((t.time for t in call.inputs if t.time is not None), None)
        cols = p_axis if axis is main_axis else p_new
        if rows and not set(cols) & set(rows[-1][0]):  # encoder, then decoder: one row
            rows[-1] = (sorted(set(rows[-1][0]) | set(cols)), rows[-1][1] + [call])
        else:
            rows.append((list(cols), [call]))
    return rows


def layout(topo: Topology, calls: list[Call], inputs: list[TensorInfo], outputs: list[TensorInfo],
           output_label: str = "outputs") -> Drawing:
    """Where the circles go for the topology of ``outputs[0]`` (drawn as text and as a picture).

    Only the layers on the path from the inputs to that output are drawn: each recurrent layer in
    its own row (a many-to-one branch above the encoder it reads), with its direction.
    """
    path = ancestors(calls, outputs[0]) or calls
    i, ti = _drawn(topo.input_steps if topo.sequence_in else 1)
    o, to = _drawn(topo.output_steps if topo.sequence_out else 1)
    rnn_calls = [c for c in path if recurrent_flags(c.layer)[0] and not c.repeated]
    in_label = "inputs " + " + ".join(named_shape(t) for t in inputs)
    out_label = f"{output_label} {named_shape(outputs[0])}"
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
        via = topo.via or ""
        if via.startswith("decoder input"):
            p_in = list(range(i + o))
            in_label = ("inputs, then [start] + previous targets (teacher forcing)" if "teacher forcing" in via
                        else f"inputs, then {via}")
    timed = [t for t in inputs if t.time is not None]
    main_axis = timed[0].time if timed else None
    p_axis = list(range(i)) if kind != ONE_TO_MANY else p_h
    p_new = p_out if kind not in (MANY_TO_ONE, MANY_TO_MANY) else p_h
    hidden = _hidden_rows(rnn_calls, main_axis, p_axis, p_new) if rnn_calls else []
    if not hidden:
        others = [c for c in path if c is not path[-1]] if len(path) > 1 else []
        text = ", ".join(label(c.layer) for c in others) or "(no hidden layer)"
        rows = [(p_in, in_label), (p_h, text), (p_out, out_label)]
        directions = {}
    else:
        rows = [(p_in, in_label)] + [(cols, ", ".join(label(c.layer) for c in group)) for cols, group in hidden]
        rows.append((p_out, out_label))
        directions = {k + 1: _direction(group[0].layer) for k, (_, group) in enumerate(hidden)}
    if kind == MANY_TO_ONE and directions.get(len(rows) - 2) == "backward":  # go_backwards ends at step 0
        rows[-1] = ([rows[-2][0][0]], out_label)
    links = [[c for c in rows[k][0] if c in rows[k + 1][0]] for k in range(len(rows) - 1)]
    if kind == ONE_TO_MANY:
        links[0] = [0]
    return Drawing(str(topo), rows, links, directions, truncated=ti or to)


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


def _draw_one(ax, drawing: Drawing) -> None:
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    right = max(max(cols) for cols, _ in drawing.rows if cols)
    for k, (cols, text) in enumerate(drawing.rows):
        color = colors[0] if k == 0 else colors[2] if k == len(drawing.rows) - 1 else colors[1]
        ax.scatter(cols, [k] * len(cols), s=260, color=color, zorder=3, edgecolors="black")
        ax.text(right + 1.0, k, text, va="center", fontsize=8)
    for k, cols in enumerate(drawing.links):
        for c in cols:
            ax.plot([c, c], [k, k + 1], color="black", lw=1, zorder=1)
    for k, direction in drawing.directions.items():
        cols = drawing.rows[k][0]
        arrows = {"forward": [(0.0, "->")], "backward": [(0.0, "<-")],
                  "both": [(0.16, "->"), (-0.16, "<-")]}[direction]
        for dy, style in arrows:
            for a, b in zip(cols, cols[1:]):
                ax.annotate("", xy=(b - 0.22, k + dy), xytext=(a + 0.22, k + dy),
                            arrowprops=dict(arrowstyle=style, color="dimgray", lw=1))
    ax.set_title(drawing.title, fontsize=9, loc="left")
    if drawing.truncated:
        ax.text(-0.5, -0.75, f"long or variable-length sequences are drawn with at most {MAX_DRAWN_STEPS} steps",
                fontsize=7, color="dimgray", va="top")
    ax.set_xlim(-0.8, right + 1.2)
    ax.set_ylim(-0.6, len(drawing.rows) - 0.4)
    ax.axis("off")


def draw(drawings, path, format=None) -> None:
    """Draw the unrolled picture(s) (a ``Drawing`` or one per output, stacked) with matplotlib (Agg)
    into ``path`` (a file name, or a file object with ``format``, e.g. ``"svg"``). The figure is cut
    to its contents (``bbox_inches="tight"``), so no title or label is clipped."""
    matplotlib = require_extra("matplotlib", "plots", "explain(path=...)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawings = [drawings] if isinstance(drawings, Drawing) else list(drawings)
    n = max(max(max(cols) for cols, _ in d.rows if cols) for d in drawings) + 1
    heights = [0.55 * len(d.rows) + 0.5 for d in drawings]
    fig, axes = plt.subplots(len(drawings), 1, figsize=(max(3.0, 0.6 * n + 1.0), sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights, "hspace": 0.45})
    for ax, drawing in zip(axes[:, 0], drawings):
        _draw_one(ax, drawing)
    fig.savefig(path, dpi=110, format=format, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------- the report
def _output_names(model, n: int) -> list[str]:
    names = list(getattr(model, "output_names", None) or []) if n > 1 else []
    return names if len(names) == n else [f"output {k}" for k in range(n)]


def report(model) -> tuple[str, list[Drawing]]:
    """The shape trace (text) and the layout of the unrolled picture, one drawing per output."""
    inputs, calls, outputs = trace(model)
    topos = [classify(inputs, out) for out in outputs]
    name = getattr(model, "display_name", type(model).__name__)
    names = _output_names(model, len(outputs))
    if len(outputs) == 1:
        lines = [f'Model "{name}": {topos[0]}', ""]
    else:
        lines = [f'Model "{name}": {len(outputs)} outputs, each with its own topology:']
        lines += [f"  output '{n}': {t}" for n, t in zip(names, topos)] + [""]
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
        for note in (_time_note(call), getattr(layer, "explain_note", None), _mask_note(call)):
            if note:
                lines.append(f"      {note}")
        if call.repeated:
            lines.append("      the same layer object as above: its weights are shared with that call")
        elif call.sharing:
            lines.append(f"      weights: {call.sharing}")
        n = _params(layer)
        if n and not call.repeated:
            lines.append(f"      params: {n:,}")
    total = sum(_params(layer) for layer in _unique(c.layer for c in calls))
    lines += ["", f"Total params: {total:,}"]
    drawings = []
    for k, (topo, out) in enumerate(zip(topos, outputs)):
        single = len(outputs) == 1
        drawing = layout(topo, calls, inputs, [out], "outputs" if single else f"output '{names[k]}'")
        if not single:
            drawing.title = f"output '{names[k]}': {drawing.title}"
        drawings.append(drawing)
        lines += ["", "Unrolled in time (read bottom-up):" if single else
                  f"Output '{names[k]}' unrolled in time (read bottom-up): {topo.kind}"]
        lines.append(ascii_diagram(drawing))
    return "\n".join(lines), drawings


def _unique(layers):
    seen, out = set(), []
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


class Explanation(str):
    """The text of ``model.explain()``, a ``str``; Jupyter displays it as the text and the picture.

    ``print(e)`` prints the text; ``e.svg()`` is the unrolled picture as SVG (``plots`` extra);
    ``e._repr_html_()`` is what a notebook shows: the text, then the picture when matplotlib is there.
    """

    drawings: list[Drawing]  # one per output

    def __new__(cls, text: str, drawings: list[Drawing]):
        obj = super().__new__(cls, text)
        obj.drawings = drawings
        return obj

    def svg(self) -> str:
        buf = io.StringIO()
        draw(self.drawings, buf, format="svg")
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
    text, drawings = report(model)
    if path is not None:
        draw(drawings, path)
    (print_fn or print)(text)


__all__ = ["explain", "report", "explanation", "Explanation", "named_shape", "layout", "ascii_diagram", "draw",
           "Drawing"]
