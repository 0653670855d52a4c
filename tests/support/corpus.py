"""The ASL conformance corpus (recorded on real AWS), if present next to the repo."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path:
    """$OPSBOOK_ASL_CONFORMANCE, else ../shared/asl-conformance beside the repo."""
    return Path(
        os.environ.get("OPSBOOK_ASL_CONFORMANCE") or REPO.parent / "shared" / "asl-conformance"
    )


def corpus_file() -> Path | None:
    path = corpus_dir() / "cases.jsonl"
    return path if path.is_file() else None


def corpus_cases() -> list[dict]:
    """Every case in cases.jsonl, or [] when the corpus is not there."""
    path = corpus_file()
    if path is None:
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def case_id(case: dict) -> str:
    """A short pytest id: the part of the case name after the last '::'."""
    return case["name"].split("::")[-1]
