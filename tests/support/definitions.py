"""A pass-only stand-in for the weekly load, for moto (which does not run Lambdas)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


def pass_only_definitions(tmp_path: Path) -> Path:
    """A copy of definitions/ under tmp_path whose weekly load is PASS_DEFINITION."""
    from opsbook.config import PACKAGE_ROOT

    defs = tmp_path / "definitions"
    if not defs.exists():
        shutil.copytree(PACKAGE_ROOT / "definitions" / "weekly_load", defs)
        (defs / "weekly_load.asl.json").write_text(json.dumps(PASS_DEFINITION))
    return defs
