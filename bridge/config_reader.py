"""Walking the raw YAML of the config: typed values, ${VAR} expansion, problems by path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
T = TypeVar("T")


class Reader:
    """Walks the raw YAML tree, collecting problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path or '(top level)'}: {text}")

    def section(self, raw: Any, path: str, keys: set[str]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(path, "must be a mapping")
            return {}
        for key in raw:
            if key not in keys:
                self.problem(f"{path}.{key}" if path else str(key), "unknown key")
        return raw

    def expand(self, value: str, path: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problem(path, f"environment variable {name} is not set")
            return ""

        return _ENV_REF.sub(sub, value)

    def get(self, raw: dict[str, Any], key: str, path: str, kind: type[T], default: T) -> T:
        where = f"{path}.{key}" if path else key
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        if isinstance(value, str):
            before = len(self.problems)
            value = self.expand(value, where)
            if len(self.problems) > before:
                return default
            if kind is int:
                value = self._to_int(value, where, default)
            elif kind is float:
                value = self._to_float(value, where, default)
        if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.problem(where, f"must be {kind.__name__}")
            return default
        if isinstance(value, str) and any(c in value for c in "\r\n\0"):
            self.problem(where, "must not contain CR, LF or NUL")
            return default
        return value

    def _to_int(self, value: str, where: str, default: Any) -> Any:
        try:
            return int(value)
        except ValueError:
            self.problem(where, "must be int")
            return default

    def _to_float(self, value: str, where: str, default: Any) -> Any:
        try:
            return float(value)
        except ValueError:
            self.problem(where, "must be float")
            return default

    def items(self, raw: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(path, "must be a list")
            return []
        out = []
        for i, item in enumerate(raw):
            where = f"{path}[{i}]"
            if isinstance(item, dict):
                out.append((where, item))
            else:
                self.problem(where, "must be a mapping")
        return out


def simple(r: Reader, raw: Any, path: str, cls: Callable[..., T], defaults: T) -> T:
    """Reads a section whose fields are scalars with the dataclass's defaults."""
    fields = defaults.__dataclass_fields__  # type: ignore[attr-defined]
    sec = r.section(raw, path, set(fields))
    values = {}
    for name in fields:
        default = getattr(defaults, name)
        kind = type(default) if default is not None else str
        values[name] = r.get(sec, name, path, kind, default)
    return cls(**values)
