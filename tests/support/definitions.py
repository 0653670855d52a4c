"""A pass-only stand-in for the weekly load, for moto (which does not run Lambdas)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import opsbook

# Route on input.mode: hang (a long Wait keeps it RUNNING), fail (a Fail state), anything else
# loads.
PASS_DEFINITION = {
    "Comment": "Pass-only stand-in for the weekly load",
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.mode", "IsPresent": True},
                        {"Variable": "$.mode", "StringEquals": "hang"},
                    ],
                    "Next": "Hang",
                },
                {
                    "And": [
                        {"Variable": "$.mode", "IsPresent": True},
                        {"Variable": "$.mode", "StringEquals": "fail"},
                    ],
                    "Next": "LoadFailed",
                },
            ],
            "Default": "InsertWeek",
        },
        "Hang": {"Type": "Wait", "Seconds": 3600, "Next": "InsertWeek"},
        "InsertWeek": {
            "Type": "Pass",
            "Result": {"rows": 3},
            "ResultPath": "$.insert",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "LoadFailed": {"Type": "Fail", "Error": "PollingGaveUp", "Cause": "no rows for 2026-11-25"},
    },
}


SHIPPED_WEEKLY_LOAD = Path(opsbook.__file__).resolve().parent / "definitions" / "weekly_load"


def weekly_load_copy(tmp_path: Path) -> Path:
    """A definitions_dir under tmp_path holding a copy of the shipped weekly load, which a test
    may edit (the user's folder wins over the shipped one of the same name)."""
    defs = tmp_path / "definitions"
    if not (defs / "weekly_load").exists():
        shutil.copytree(
            SHIPPED_WEEKLY_LOAD,
            defs / "weekly_load",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return defs


def pass_only_definitions(tmp_path: Path) -> Path:
    """A definitions_dir under tmp_path whose weekly load is PASS_DEFINITION."""
    defs = tmp_path / "definitions"
    if not defs.exists():
        weekly_load_copy(tmp_path)
        (defs / "weekly_load" / "weekly_load.asl.json").write_text(json.dumps(PASS_DEFINITION))
    return defs
