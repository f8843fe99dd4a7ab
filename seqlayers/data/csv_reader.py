"""Read numeric columns of a CSV file into a float array, with errors that name file, line and column.

Only the standard library's ``csv`` module is used (pandas is not a dependency)::

    header, values = read_numeric_csv("ETTh1.csv", columns=["OT"])   # values: (T, 1) float32
"""
from __future__ import annotations

import csv
import os

import numpy as np

from ..errors import require_utf8


def read_header(path: str | os.PathLike) -> list[str]:
    """The column names on the first line of ``path``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"CSV file {path!r} does not exist.")
    require_utf8(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header or all(not h.strip() for h in header):
        raise ValueError(f"CSV file {path!r} is empty: expected a header line with column names.")
    return [h.strip() for h in header]


def read_numeric_csv(path: str | os.PathLike, columns: list[str] | None = None,
                     skip: tuple[str, ...] = ("date",), dtype=np.float32,
                     allow_nonfinite: bool = False) -> tuple[list[str], np.ndarray]:
    """Read ``columns`` (default: every column except those named in ``skip``) as a ``(T, F)`` array.

    Raises ``ValueError`` naming the columns that exist when one is missing, and the file, line and
    column of the first value that is not a number, or (unless ``allow_nonfinite=True``) that is
    ``NaN`` / ``inf``: scaling and training need finite values, and a NaN would silently spread.
    """
    path = os.fspath(path)
    header = read_header(path)
    if columns is None:
        columns = [h for h in header if h not in skip]
        if not columns:
            raise ValueError(f"CSV file {path!r} has no numeric columns besides {', '.join(skip)}.")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"CSV file {path!r} has no column {missing[0]!r}. Columns in the file: "
                         f"{', '.join(header)}.")
    index = [header.index(c) for c in columns]
    rows: list[list[float]] = []
    line_nos: list[int] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line (often the last one)
            if len(row) < len(header):
                raise ValueError(f"{path}, line {line_no}: expected {len(header)} fields "
                                 f"({', '.join(header)}), got {len(row)}.")
            values = []
            for i, name in zip(index, columns):
                cell = row[i].strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise ValueError(f"{path}, line {line_no}, column {name!r}: {cell!r} is not a number. "
                                     f"Forecasting needs numeric values in every row of the columns used; "
                                     f"clean or drop this row.") from None
                if not allow_nonfinite and not np.isfinite(value):
                    raise ValueError(f"{path}, line {line_no}, column {name!r}: {cell!r} is not a finite number. "
                                     f"Fill or drop this row (a NaN spreads through scaling and training), or "
                                     f"pass allow_nonfinite=True to read it as it is.")
                values.append(value)
            rows.append(values)
            line_nos.append(line_no)
    if not rows:
        raise ValueError(f"CSV file {path!r} has a header but no data rows.")
    data = np.asarray(rows, dtype=dtype)
    if not allow_nonfinite and not np.isfinite(data).all():  # finite in Python, too large for dtype
        r, c = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(f"{path}, line {line_nos[r]}, column {columns[c]!r}: {rows[r][c]!r} does not fit in "
                         f"{np.dtype(dtype).name} (it becomes {data[r, c]}). Rescale the column, or read it with "
                         f"dtype=np.float64.")
    return list(columns), data
