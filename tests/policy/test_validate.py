"""Schema and semantic validation: every problem with its file:line."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from aifinops.config import Settings
from aifinops.policy import check_files, registry, schema

SETTINGS = Settings.model_validate(
    {
        "executors": {"stop": {"type": "command", "argv": ["true"]}},
        "notify": {"channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/x"}}},
    }
)


def problems(tmp_path: Path, text: str, settings: Settings | None = SETTINGS) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    _, found = check_files([path], settings)
    return [str(p).replace(str(path), "p.yaml") for p in found]


def test_the_schema_is_a_valid_json_schema_naming_every_registered_piece() -> None:
    made = schema()
    jsonschema.Draft202012Validator.check_schema(made)
    registry.loaded()
    assert made["$defs"]["policy"]["properties"]["resource"]["enum"] == [
        "budget", "gpu", "inference-deployment", "job", "llm-key", "llm-team", "storage-prefix",
    ]  # fmt: skip
    for name in registry.filters.names():
        assert name in ("or", "and", "not") or f"filter.{name}" in made["$defs"]
    for name in registry.actions.names():
        assert f"action.{name}" in made["$defs"]


def test_a_valid_file_has_no_problems(tmp_path: Path) -> None:
    text = """\
policies:
  - name: idle
    resource: gpu
    filters:
      - type: utilisation
        below: 10
      - or:
          - {type: tag, key: team, state: absent}
          - not: [{type: value, key: tags.env, value: prod}]
    actions:
      - type: notify
        channels: [hook]
        template: "{resource.name} idles ({reasons})"
      - type: mark
        days: 2
        then: [{type: execute, executor: stop}]
"""
    assert problems(tmp_path, text) == []


def test_schema_errors_say_file_line_and_what_is_allowed(tmp_path: Path) -> None:
    text = """\
policies:
  - name: idle
    resource: gpus
  - name: Bad Name
    resource: gpu
    filters:
      - type: utilisation
        below: ten
      - type: colour
    actions:
      - type: notify
        chanels: [hook]
"""
    assert problems(tmp_path, text) == [
        "p.yaml:3: policies.0.resource: 'gpus' is not one of budget, gpu, inference-deployment, "
        "job, llm-key, llm-team, storage-prefix",
        "p.yaml:4: policies.1.name: 'Bad Name' is not a policy name: use a-z, 0-9, '.', '_' "
        "and '-'",
        "p.yaml:8: policies.1.filters.0.below: 'ten' is not of type 'number'",
        "p.yaml:9: policies.1.filters.1.type: 'colour' is not one of value, utilisation, "
        "idle-hours, age, cost, spend-growth, tag, budget-state",
        "p.yaml:11: policies.1.actions.0: Additional properties are not allowed ('chanels' was "
        "unexpected); allowed: channels, period, severity, template, title, type",
    ]


def test_yaml_syntax_and_duplicate_keys_name_their_line(tmp_path: Path) -> None:
    assert problems(tmp_path, "policies:\n  - name: a\n    resource: [gpu\n") == [
        "p.yaml:4: not valid YAML: while parsing a flow sequence expected ',' or ']', but got "
        "'<stream end>'"
    ]
    text = "policies:\n  - name: a\n    resource: gpu\n    resource: job\n"
    assert problems(tmp_path, text) == ["p.yaml:4: key 'resource' is given twice"]


def test_semantic_errors_name_fields_filters_executors_channels_and_templates(
    tmp_path: Path,
) -> None:
    text = """\
policies:
  - name: keys
    resource: llm-key
    window: 36h
    filters:
      - type: utilisation
        below: 10
      - type: value
        key: instance_type
        value: x
      - type: value
        key: cost
        op: in
        value: 3
    actions:
      - type: notify
        channels: [hook, pager]
        title: "{resource.nope} {policy.name}"
      - type: execute
        executor: revoke
  - name: store
    resource: storage-prefix
    filters:
      - type: cost
        min: 1
        window: 7d
  - name: store
    resource: gpu
"""
    found = problems(tmp_path, text)
    assert found[0] == "p.yaml:2: '36h': use whole days (24h, 48h, 2d): data is judged per day"
    text = text.replace("    window: 36h\n", "")
    found = problems(tmp_path, text)
    assert found[0] == (
        "p.yaml:5: filter utilisation does not apply to resource llm-key: it applies to gpu"
    )
    assert found[1].startswith("p.yaml:8: llm-key has no field 'instance_type'; it has age_days")
    assert found[2:4] == [
        "p.yaml:13: op in needs a list of values",
        "p.yaml:16: no notification channel 'pager' in aifinops.toml: configured are hook "
        "([notify.channels.NAME], docs/notifications.md)",
    ]
    assert found[4].startswith("p.yaml:17: {resource.nope}: llm-key has no such field; it has")
    assert found[5:] == [
        "p.yaml:19: no executor 'revoke' in aifinops.toml: configured are stop "
        "([executors.NAME], docs/notifications.md)",
        "p.yaml:25: storage-prefix has no cost over a window (its cost is monthly storage cost "
        "(GB-months priced; None if unpriced)): remove window",
        "p.yaml:26: policy name 'store' is used twice (first at p.yaml:20): marks and "
        "idempotency keys are per name, give each policy its own",
    ]


def test_without_a_workspace_channels_and_executors_are_not_checked(tmp_path: Path) -> None:
    text = """\
policies:
  - name: a
    resource: gpu
    actions: [{type: execute, executor: anything}]
"""
    assert problems(tmp_path, text, settings=None) == []


def test_templates_take_plain_fields_only(tmp_path: Path) -> None:
    text = """\
policies:
  - name: a
    resource: gpu
    actions:
      - type: notify
        template: "{resource.cost:.2f} {resource.name!r}"
      - type: notify
        title: "{oops"
"""
    assert problems(tmp_path, text) == [
        "p.yaml:6: write {resource.FIELD} alone: values come formatted (money to the cent)",
        "p.yaml:8: not a template: expected '}' before end of string (write {{ and }} for "
        "literal braces)",
    ]
