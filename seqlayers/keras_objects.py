"""Keras's ``get`` / ``serialize`` / ``deserialize`` for small named objects (regularizers, constraints).

One rule for every such family: ``None`` stays None, a Keras name (``"l2"``, ``"non_neg"``) or class name
gives a default instance, a ``{"class_name", "config"}`` dict is rebuilt through the family's table (never
by importing anything a file names), a class is instantiated, and any other callable is used as given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from .errors import unknown_name_error


class KerasObject:
    """What a regularizer or constraint is beside its ``__call__``: its constructor arguments as
    ``get_config()``, rebuilt by ``from_config``, shown by ``repr`` and compared by ``==``."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class Family:
    """A family of Keras objects looked up by name.

    Args:
        kind: the singular noun used in error messages (``"regularizer"``).
        table: Keras's names (class names and their snake_case forms) -> class.
        base: the family's base class (a subclass given as a class is instantiated).
        example: a constructor call shown in the TypeError's fix (``"seqlayers.regularizers.L2(0.01)"``).
        example_name: a name shown in the TypeError's fix (``"l2"``).
    """

    def __init__(self, kind: str, table: Mapping[str, Any], base: type, example: str, example_name: str):
        self.kind, self.table, self.base = kind, table, base
        self.example, self.example_name = example, example_name

    def get(self, identifier: Any, where: str | None = None) -> Callable | None:
        if identifier is None:
            return None
        if isinstance(identifier, str):
            cls = self.table.get(identifier)
            if cls is None:
                raise unknown_name_error(self.kind, identifier, self.table, where)
            return cls()
        if isinstance(identifier, dict):
            return self.deserialize(identifier, where)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return cast(Callable, identifier())  # a base subclass: its instances are callable
        if callable(identifier):
            return identifier
        raise TypeError(f"{where + ': ' if where else ''}a {self.kind} must be a name such as "
                        f"'{self.example_name}', a {self.base.__name__} (e.g. {self.example}) or a callable, "
                        f"got {type(identifier).__name__}.")

    @staticmethod
    def serialize(obj: Any) -> dict[str, Any]:
        """``{"class_name": ..., "config": {...}}`` (Keras's layout)."""
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config: dict, where: str | None = None) -> Any:
        name = config.get("class_name")
        cls = self.table.get(name) if isinstance(name, str) else None
        if cls is None:
            raise unknown_name_error(self.kind, name, [k for k in self.table if k[0].isupper()], where)
        return cls.from_config(dict(config.get("config") or {}))
