"""Deploy on the local backend: idempotency, plan, versions, rollback, teardown, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.definitions import SHIPPED_WEEKLY_LOAD, weekly_load_copy

from opsbook.errors import UsageError

REPO_DEFINITIONS = SHIPPED_WEEKLY_LOAD


@pytest.fixture
def definitions(tmp_path) -> Path:
    """A definitions_dir with a private copy of the weekly load that a test may edit; the
    returned path is the workflow's folder."""
    return weekly_load_copy(tmp_path) / "weekly_load"


def _actions(result) -> dict[tuple[str, str], str]:
    return {(c.kind, c.name): c.action for c in result.changes}


def test_first_deploy_creates_then_everything_is_unchanged(backend):
    first = backend.deploy()
    kinds = {c.kind for c in first.changes if c.action == "create"}
    assert {"state_machine", "version", "alias", "object"} <= kinds
    assert first.applied and first.version_arn.endswith(":opsbook-weekly-load:1")
    assert backend.live_version() == first.version_arn
    for sql in (REPO_DEFINITIONS / "sql").glob("*.sql"):
        copied = backend.home / "objects" / "sql" / sql.name
        assert copied.read_text() == sql.read_text()

    second = backend.deploy()
    assert second.changes and all(c.action == "unchanged" for c in second.changes)
    assert not second.changed and second.version_arn == first.version_arn
    assert len(backend.store.versions(backend.sm_name)) == 1


def test_plan_changes_nothing(backend):
    plan = backend.deploy(plan=True)
    assert not plan.applied and plan.changed
    assert backend.live_version() is None
    assert not (backend.home / "objects" / "sql").exists() or not any(
        (backend.home / "objects" / "sql").iterdir()
    )


def test_changed_definition_publishes_a_version_and_rollback_moves_the_alias(
    tmp_path, definitions, make_backend
):
    b = make_backend(tmp_path / "home", definitions_dir=definitions.parent)
    v1 = b.deploy().version_arn
    path = definitions / "weekly_load.asl.json"
    data = json.loads(path.read_text())
    data["Comment"] = "changed"
    path.write_text(json.dumps(data, indent=4))

    plan = b.deploy(plan=True)
    assert _actions(plan)[("version", f"{b.sm_arn}:2")] == "create"
    assert b.live_version() == v1  # plan changed nothing

    v2 = b.deploy().version_arn
    assert v2 == f"{b.sm_arn}:2" and b.live_version() == v2
    assert b.definition()["Comment"] == "changed"
    # Re-formatting the same definition publishes nothing.
    path.write_text(json.dumps(data))
    assert not b.deploy().changed

    back = b.deploy(rollback=True)
    assert back.applied and b.live_version() == v1
    assert b.definition()["Comment"] != "changed"
    # A deploy of the current file points live at the latest version again.
    again = b.deploy()
    assert b.live_version() == v2 and again.changed
    assert len(b.store.versions(b.sm_name)) == 2


def test_rollback_needs_a_previous_version(backend):
    with pytest.raises(UsageError, match="nothing is deployed"):
        backend.deploy(rollback=True)
    backend.deploy()
    with pytest.raises(UsageError, match="no previous version"):
        backend.deploy(rollback=True)


def test_invalid_definition_is_refused_with_its_first_diagnostic(
    tmp_path, definitions, make_backend
):
    b = make_backend(tmp_path / "home", definitions_dir=definitions.parent)
    path = definitions / "weekly_load.asl.json"
    data = json.loads(path.read_text())
    data["StartAt"] = "NoSuchState"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError) as info:
        b.deploy()
    message = str(info.value)
    assert "invalid" in message and "\n" not in message
    assert b.live_version() is None  # nothing half-written
    path.write_text("{not json")
    with pytest.raises(UsageError, match="invalid"):
        b.deploy()


def test_missing_definition_is_a_usage_error(tmp_path, definitions, make_backend):
    (definitions / "weekly_load.asl.json").unlink()
    b = make_backend(tmp_path / "home", definitions_dir=definitions.parent)
    with pytest.raises(UsageError, match="does not exist"):
        b.deploy()


def test_teardown_removes_what_deploy_created_and_keeps_the_warehouse(deployed):
    plan = deployed.teardown(plan=True)
    assert not plan.applied and {c.action for c in plan.changes} == {"delete"}
    assert deployed.live_version() is not None
    done = deployed.teardown()
    assert done.applied and deployed.live_version() is None
    assert deployed.store.get_state_machine(deployed.sm_name) is None
    assert not list((deployed.home / "objects" / "sql").glob("*.sql"))
    assert (deployed.home / "warehouse.duckdb").exists()
    assert deployed.teardown().changes == []  # nothing left to remove


def test_deployed_definition_names_local_lambda_arns(deployed):
    text = json.dumps(deployed.definition())
    assert "${" not in text
    assert "arn:aws:lambda:local:000000000000:function:opsbook-check-records" in text
