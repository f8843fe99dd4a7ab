"""``seqlayers convert`` and ``seqlayers export``: model files from one format to another.

    seqlayers convert model.keras out/          # Keras (.keras or legacy .h5) -> seqlayers folder
    seqlayers convert model.h5 model.seqlayers   # ... or one .seqlayers file
    seqlayers convert out/ model.keras           # seqlayers -> Keras 3 .keras
    seqlayers export out/ model.onnx             # seqlayers (or Keras) model -> ONNX
"""
from __future__ import annotations

from pathlib import Path

from .keras_export import to_keras
from .keras_import import from_keras
from .onnx_export import export_onnx
from .saving import load_model, save_model

_KERAS = (".keras", ".h5", ".hdf5")


def _read(path: str):
    p = Path(path)
    if p.suffix in _KERAS:
        return from_keras(p)
    return load_model(p)


def _describe(model) -> str:
    n = sum(p.numel() for p in model.parameters())
    layers = getattr(model, "layers", [])
    return f"{type(model).__name__} ({len(layers)} layers, {n:,} parameters)"


def convert(args) -> int:
    model = _read(args.source)
    if Path(args.dest).suffix == ".keras":
        to_keras(model, args.dest)
    else:
        save_model(model, args.dest)
    print(f"converted {args.source} -> {args.dest}: {_describe(model)}")
    return 0


def export(args) -> int:
    model = _read(args.source)
    dynamic = False if args.fixed_time else None
    export_onnx(model, args.dest, dynamic_time=dynamic, opset_version=args.opset, verify=not args.no_verify)
    checked = "" if args.no_verify else ", checked with onnxruntime"
    print(f"exported {args.source} -> {args.dest}: {_describe(model)}{checked}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert a model file: Keras (.keras/.h5) <-> seqlayers (folder or .seqlayers)",
        description="Convert a model file. A .keras or .h5 source is read with from_keras; any other "
                    "source is a seqlayers model (a folder or a .seqlayers file). A destination ending "
                    "in .keras is written for Keras 3 (to_keras); any other destination is a seqlayers "
                    "model: a .seqlayers file, or a folder (config.json + model.safetensors).")
    p.add_argument("source", help="model.keras, model.h5, a seqlayers folder or model.seqlayers")
    p.add_argument("dest", help="out/ (folder), model.seqlayers, or model.keras")
    p.set_defaults(func=convert)

    e = sub.add_parser(
        "export", help="export a model to ONNX (dynamic batch and time axes)",
        description="Export a seqlayers model (folder or .seqlayers) or a Keras file to ONNX. Recurrent "
                    "layers become native ONNX LSTM/GRU/RNN nodes; the file is checked with onnxruntime "
                    "at another batch size and length before it is written.")
    e.add_argument("source", help="a seqlayers folder, model.seqlayers, model.keras or model.h5")
    e.add_argument("dest", help="model.onnx")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    e.add_argument("--fixed-time", action="store_true",
                   help="keep the time axis fixed where the model declares a length (needed for layers "
                        "that run a per-step loop, e.g. GRU(reset_after=False))")
    e.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    e.set_defaults(func=export)


__all__ = ["convert", "export", "register"]
