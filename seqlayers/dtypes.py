"""The one table of dtype names (Keras's spelling) that layers, ``Input`` and saved configs share."""
from __future__ import annotations

import torch

#: every dtype name seqlayers accepts, with the torch dtype it means
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "mixed_float16": torch.float32, "mixed_bfloat16": torch.float32,  # Keras policies: float32 variables
    "int32": torch.int32, "int64": torch.int64, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool, "float": torch.float32, "int": torch.int64,
}
#: what a layer's ``dtype=`` (its parameters' dtype) may be
LAYER_DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
#: what an ``Input``'s ``dtype=`` may be
INPUT_DTYPES = ("float32", "float64", "float16", "bfloat16", "int32", "int64", "int16", "int8", "uint8", "bool",
                "float", "int")


def parse_dtype(dtype, who: str = "Input", names: tuple[str, ...] = INPUT_DTYPES, or_torch: bool = True) -> torch.dtype:
    """``dtype`` (None -> float32, a name in ``names``, a Keras 3 DTypePolicy config or a
    ``torch.dtype``) as a ``torch.dtype``; else a ValueError naming ``who`` and the choices."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    if dtype in names:
        return DTYPES[dtype]
    extra = " or a torch.dtype" if or_torch else ""
    raise ValueError(f"{who}: dtype must be one of {', '.join(names)}{extra}, got {dtype!r}.")


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).replace("torch.", "")


__all__ = ["DTYPES", "INPUT_DTYPES", "LAYER_DTYPES", "dtype_name", "parse_dtype"]
