"""Policy files read with PyYAML, keeping the line of every value so errors say ``file:line``.

:func:`read` parses one file into plain Python data (dicts, lists, str, int, float, bool, None;
dates become ISO text) and a :class:`Lines` map from each value's path (``("policies", 0,
"filters", 1, "below")``) to its 1-based line. Duplicate keys are an error, not "the last one
wins" as in plain PyYAML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from aifinops.errors import ConfigError

Path_ = tuple[str | int, ...]


@dataclass
class Lines:
    """Where each value of one file is: its path -> 1-based line."""

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, else of its nearest parent that has one (1 for the document)."""
        key = tuple(path)
        while key and key not in self.lines:
            key = key[:-1]
        return self.lines.get(key, 1)

    def where(self, path: Sequence[str | int]) -> str:
        return f"{self.file}:{self.line(path)}"


@dataclass
class Document:
    """One policy file: its data and where each value is."""

    data: Any
    lines: Lines


def read(path: Path) -> Document:
    """Parse ``path`` (a YAML file); a syntax error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such policy file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the policy file: {exc}", where=str(path)) from None
    return parse(text, str(path))


def parse(text: str, name: str) -> Document:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines = Lines(name)
        data = _convert(loader, node, (), lines) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            f"not valid YAML: {what}", where=f"{name}:{line}", hint="fix the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", where=name) from None
    finally:
        loader.dispose()
    return Document(data, lines)


def _convert(loader: Any, node: Any, path: Path_, lines: Lines) -> Any:
    import yaml

    lines.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                raise ConfigError(
                    f"key {key!r} is given twice",
                    where=f"{lines.file}:{key_node.start_mark.line + 1}",
                    hint="keep one of them",
                )
            out[key] = _convert(loader, value_node, (*path, key), lines)
            lines.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
