"""The JSON Schema of policy files, generated from the registered resource kinds, filters and
actions (each brings its own fragment), and checking a file against it with ``file:line``."""

from __future__ import annotations

from typing import Any

from aifinops.policy import registry
from aifinops.policy.source import Document

DRAFT = "https://json-schema.org/draft/2020-12/schema"
COMBINATORS = ("or", "and", "not")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
DURATION = {
    "type": "string",
    "pattern": r"^\s*[0-9]+\s*[hdwHDW]\s*$",
    "description": "Whole days: 24h, 7d, 2w.",
}


def _tagged(name: str, fragment: dict[str, Any]) -> dict[str, Any]:
    """A filter's or action's own schema, with its ``type`` and no other keys allowed."""
    properties = {"type": {"const": name}, **fragment.get("properties", {})}
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": ["type", *fragment.get("required", [])],
        "additionalProperties": False,
    }
    out |= {k: v for k, v in fragment.items() if k not in ("properties", "required")}
    return out


def _dispatch(what: str, names: list[str]) -> list[dict[str, Any]]:
    """``if type is X then the X schema`` for each name: errors then speak of that one."""
    return [
        {
            "if": {"properties": {"type": {"const": n}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/{what}.{n}"},
        }
        for n in names
    ]


def _filter_schema(names: list[str]) -> dict[str, Any]:
    combined = [
        {
            "if": {"required": [c]},
            "then": {
                "properties": {c: {"type": "array", "items": {"$ref": "#/$defs/filter"}}},
                "required": [c],
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
            },
        }
        for c in COMBINATORS
    ]
    plain = {
        "if": {"not": {"anyOf": [{"required": [c]} for c in COMBINATORS]}},
        "then": {"required": ["type"], "properties": {"type": {"enum": names}}},
    }
    return {"type": "object", "allOf": [*combined, plain, *_dispatch("filter", names)]}


def _policy_schema(kinds: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "resource"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "resource": {"enum": kinds},
            "description": {"type": "string"},
            "window": DURATION,
            "mode": {"enum": ["pull", "dry-run"]},
            "query": {"type": "object"},
            "filters": {"type": "array", "items": {"$ref": "#/$defs/filter"}},
            "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}},
        },
        "allOf": [
            {
                "if": {"properties": {"resource": {"const": k}}, "required": ["resource"]},
                "then": {"properties": {"query": {"$ref": f"#/$defs/query.{k}"}}},
            }
            for k in kinds
        ],
    }


def schema() -> dict[str, Any]:
    """The whole schema (JSON Schema draft 2020-12)."""
    registry.loaded()
    kinds = registry.resource_kinds.names()
    filter_names = [n for n in registry.filters.names() if n not in COMBINATORS]
    action_names = registry.actions.names()
    defs: dict[str, Any] = {
        "policy": _policy_schema(kinds),
        "filter": _filter_schema(filter_names),
        "action": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": action_names}},
            "allOf": _dispatch("action", action_names),
        },
    }
    for name, kind in registry.resource_kinds.items():
        defs[f"query.{name}"] = {
            "type": "object",
            "additionalProperties": False,
            "properties": kind.query_schema,
        }
    for name, f in registry.filters.items():
        if name not in COMBINATORS:
            defs[f"filter.{name}"] = _tagged(name, f.schema)
    for name, a in registry.actions.items():
        defs[f"action.{name}"] = _tagged(name, a.schema)
    return {
        "$schema": DRAFT,
        "$id": "https://aifinops.dev/schemas/policy.json",
        "title": "aifinops policy file",
        "type": "object",
        "required": ["policies"],
        "additionalProperties": False,
        "properties": {"policies": {"type": "array", "items": {"$ref": "#/$defs/policy"}}},
        "$defs": defs,
    }


def schema_problems(document: Document) -> list[tuple[str, str]]:
    """(``file:line``, message) for each place the document breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    out = []
    for error in _leaves(validator.iter_errors(document.data)):
        path = list(error.absolute_path)
        out.append((document.lines.where(path), _message(error, path)))
    return sorted(set(out), key=lambda p: (_line(p[0]), p[1]))


def _leaves(errors: Any) -> list[Any]:
    """The most specific errors (``if/then`` wrappers hold the real ones as context)."""
    out = []
    for error in errors:
        if error.context:
            out.extend(_leaves(error.context))
        else:
            out.append(error)
    return out


def _line(where: str) -> int:
    return int(where.rpartition(":")[2])


def _message(error: Any, path: list[str | int]) -> str:
    at = ".".join(str(p) for p in path) or "the file"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{at}: {error.message}; allowed: {', '.join(allowed)}"
    if error.validator == "enum":
        return (
            f"{at}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
        )
    if error.validator == "const":
        return f"{at}: must be {error.validator_value!r}"
    if error.validator == "pattern" and path and path[-1] == "name":
        return f"{at}: {error.instance!r} is not a policy name: use a-z, 0-9, '.', '_' and '-'"
    return f"{at}: {error.message}"
