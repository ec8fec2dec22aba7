"""YAML loading that remembers where every key and value came from.

Every config file (watchlists, sources, subscriptions) is loaded through `load_yaml`, then
validated with pydantic; `validate` turns pydantic's error locations back into
`file:line:col: key: message`, so users never see a bare traceback. Duplicate keys, which
PyYAML would silently overwrite, are an error here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from worker.errors import ConfigError, ConfigErrors

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based
    style: str | None = None  # scalar style: None (plain), "'" or '"', "|" or ">"

    def text_column(self, offset: int) -> int:
        """Column in the file of character `offset` (0-based) of a one-line scalar's value."""
        return self.column + (1 if self.style in ("'", '"') else 0) + offset


class PosDict(dict):  # type: ignore[type-arg]
    """A mapping that knows the position of each key and of each value."""

    mark: Mark
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class PosList(list):  # type: ignore[type-arg]
    mark: Mark
    item_marks: list[Mark]


def _mark(node: yaml.Node) -> Mark:
    style = getattr(node, "style", None)
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self.duplicate_errors: list[ConfigError] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> PosDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = PosDict()
        result.mark = _mark(node)
        result.key_marks, result.value_marks = {}, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ConfigError(
                    "mapping keys must be plain values",
                    self.filename,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            if key in result:
                first = result.key_marks[key]
                self.duplicate_errors.append(
                    ConfigError(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        self.filename,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                )
                continue
            result[key] = self.construct_object(value_node, deep=True)
            result.key_marks[key] = _mark(key_node)
            result.value_marks[key] = _mark(value_node)
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> PosList:  # type: ignore[override]
        result = PosList(self.construct_object(child, deep=True) for child in node.value)
        result.mark = _mark(node)
        result.item_marks = [_mark(child) for child in node.value]
        return result


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def load_yaml(path: Path | str, text: str | None = None) -> Any:
    """Parse a YAML file keeping positions; ConfigError(s) with file:line:col on any problem."""
    filename = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError("file not found", filename) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", filename) from exc
    loader = _Loader(text, filename)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"invalid YAML: {problem}",
            filename,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from exc
    finally:
        loader.dispose()
    if loader.duplicate_errors:
        raise ConfigErrors(loader.duplicate_errors)
    if data is None:
        data = PosDict()
        data.mark, data.key_marks, data.value_marks = Mark(1, 1), {}, {}
    return data


def locate(data: Any, loc: tuple[Any, ...]) -> Mark | None:
    """Position of the value at path `loc` (or of the closest enclosing key) in loaded data."""
    best: Mark | None = getattr(data, "mark", None)
    node = data
    for part in loc:
        if isinstance(node, PosDict) and part in node:
            best = node.value_marks.get(part, best)
            if not isinstance(node[part], PosDict | PosList):
                best = node.key_marks.get(part, best)
            node = node[part]
        elif isinstance(node, PosList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_marks[part]
            node = node[part]
        else:
            break
    return best


def key_mark(data: Any, loc: tuple[Any, ...]) -> Mark | None:
    """Position of the key at the end of `loc` (for "unknown id" style errors)."""
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return locate(data, loc)
    if isinstance(parent, PosDict) and loc and loc[-1] in parent.key_marks:
        return parent.key_marks[loc[-1]]
    return locate(data, loc)


def value_mark(data: Any, loc: tuple[Any, ...]) -> Mark | None:
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
    last = loc[-1] if loc else None
    if isinstance(parent, PosDict):
        return parent.value_marks.get(last)
    if isinstance(parent, PosList) and isinstance(last, int) and 0 <= last < len(parent):
        return parent.item_marks[last]
    return None


def _loc_text(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def validate(model: type[M], data: Any, filename: str) -> M:
    """pydantic validation whose errors point at file:line:col and name the key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            # For a forbidden extra key, point at the key itself.
            mark = key_mark(data, loc) if err["type"] == "extra_forbidden" else locate(data, loc)
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}"
            elif err["type"] == "missing":
                message = f"missing required key {loc[-1]!r}"
            errors.append(
                ConfigError(
                    f"{_loc_text(loc)}: {message}" if loc else message,
                    filename,
                    mark.line if mark else None,
                    mark.column if mark else None,
                )
            )
        raise ConfigErrors(errors) from None
