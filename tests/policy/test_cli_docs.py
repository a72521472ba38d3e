"""``aifinops policy`` as a user runs it (exit codes, file:line), the example policies, and
docs/policies.md against the registries."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from aifinops.policy import check_files, registry
from aifinops.policy.reference import BEGIN, END, reference
from aifinops.workspace import Workspace
from tests.cli.runner import run_cli
from tests.policy.data import EXECUTOR_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "policies").glob("*.yaml"))
DEMO_EXECUTORS = ("stop-ec2-instance", "delete-s3-prefix", "delete-sagemaker-endpoint")


def _with_settings(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(built, root)
    (root / "record.py").write_text(EXECUTOR_SCRIPT, encoding="utf-8")
    record = json.dumps(str(root / "executed.jsonl"))
    script = json.dumps(str(root / "record.py"))
    python = json.dumps(sys.executable)
    with (root / "aifinops.toml").open("a", encoding="utf-8") as out:
        out.write(
            f'\n[executors.stop]\ntype = "command"\nattempts = 1\n'
            f'argv = [{python}, {script}, {record}, "{{resource.instance_id}}"]\n'
        )
    return root


def test_cli_validate_run_and_marks_with_their_exit_codes(built: Path, tmp_path: Path) -> None:
    root = _with_settings(built, tmp_path)
    good = root / "idle.yaml"
    good.write_text(
        "policies:\n  - name: idle\n    resource: gpu\n    filters:\n"
        "      - {type: utilisation, below: 10}\n    actions:\n"
        "      - type: mark\n        days: 1\n        then: [{type: execute, executor: stop}]\n",
        encoding="utf-8",
    )
    done = run_cli("policy", "validate", good, "-w", root, cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "1 policies in 1 file(s): valid")

    dry = run_cli("policy", "run", good, "-w", root, "--as-of", "2026-10-11", "-f", "csv",
                  cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 1
    assert "idle,idle-1,ann@example.com," in dry.stdout
    assert ",mark,planned,would mark for execute on 2026-10-12 (then: execute stop)" in dry.stdout
    assert "idle: 1 of 4 gpu matched (data through 2026-10-10)" in dry.stderr
    assert not (root / "policy" / "marks.json").exists()

    marked = run_cli("policy", "run", good, "-w", root, "--as-of", "2026-10-11", "--execute",
                     cwd=tmp_path)  # fmt: skip
    assert marked.returncode == 1
    marks = run_cli("policy", "marks", "-w", root, "-f", "json", cwd=tmp_path)
    [mark] = json.loads(marks.stdout)
    assert (mark["resource"], mark["due"], mark["status"]) == ("idle-1", "2026-10-12", "pending")

    bad = root / "bad.yaml"
    bad.write_text("policies:\n  - name: x\n    resource: gpu\n    filters: [{type: nope}]\n")
    invalid = run_cli("policy", "validate", bad, "-w", root, cwd=tmp_path)
    assert invalid.returncode == 2
    assert f"{bad}:4: policies.0.filters.0.type: 'nope' is not one of" in invalid.stderr
    failed = run_cli("policy", "run", bad, "-w", root, cwd=tmp_path)
    assert failed.returncode == 2
    assert "1 problem in the policies" in failed.stderr


def test_cli_schema_prints_the_generated_schema(tmp_path: Path) -> None:
    done = run_cli("policy", "schema", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"] == "aifinops policy file"


def test_the_examples_validate_against_the_demo_settings(tmp_path: Path) -> None:
    from aifinops.demo.allocation import add_rules

    Workspace.init(tmp_path).close()
    add_rules(tmp_path)  # the demo's aifinops.toml
    settings = Workspace(tmp_path).settings
    assert set(DEMO_EXECUTORS) <= set(settings.executors.named())
    policies, problems = check_files(EXAMPLES, settings)
    assert problems == []
    assert {p.resource for p in policies} >= {"gpu", "storage-prefix", "llm-key", "budget"}


def test_docs_hold_the_generated_reference_of_every_kind_filter_and_action() -> None:
    page = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    body = page[page.index(BEGIN) : page.index(END) + len(END)]
    assert body == reference(), "run: python -m aifinops.policy.reference docs/policies.md"
    registry.loaded()
    for name in registry.resource_kinds.names():
        assert f"### `{name}`" in body
    for name in registry.filters.names():
        assert f"### filter `{name}`" in body
    for name in registry.actions.names():
        assert f"### action `{name}`" in body
    for example in EXAMPLES:
        assert example.name in page
    assert "policies.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "policies.md" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
