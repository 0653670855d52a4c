"""Run the ASL conformance corpus (recorded on real AWS) through opsbook.engine.

Prints two figures: the share of cases whose status + output + error/cause match, and the share
of recorded histories that match event for event (ids, previousEventId, type, *EventDetails;
timestamps and placeholders ignored). Run as a script to list the mismatching cases:

    .venv/bin/python tests/engine/test_conformance.py [-v] [name-substring]
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
from support.corpus import corpus_dir

from opsbook.engine import execute

CORPUS = corpus_dir()
CASES_FILE = CORPUS / "cases.jsonl"
OUTCOME_TARGET = 98.0
HISTORY_TARGET = 95.0

# Placeholders the recorder substituted for per-run values; they match anything.
_PLACEHOLDERS = {"timestamp", "snf_role_arn", "map_run_arn", "date"}
_ANGLE = re.compile(r"<[^<>]*>")


def load_cases() -> list[dict]:
    with CASES_FILE.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def matches(expected: Any, actual: Any, shape_only: bool = False) -> bool:
    """expected (from the corpus, placeholders allowed) against actual (ours)."""
    if isinstance(expected, str):
        if expected in _PLACEHOLDERS:
            return True
        if "<" in expected and _ANGLE.search(expected):
            # ARNs: the recorder also normalised the account id, so any account matches
            expected = re.sub(r":\d{12}:", ":<account>:", expected)
            pattern = "".join(
                ".*" if _ANGLE.fullmatch(part) else re.escape(part)
                for part in re.split(r"(<[^<>]*>)", expected)
            )
            return isinstance(actual, str) and re.fullmatch(pattern, actual, re.S) is not None
        if shape_only:  # the recorder may have put a placeholder string for a random scalar
            return not isinstance(actual, (dict, list))
        return expected == actual
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(v, actual[k], shape_only) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a, shape_only) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or expected is None:
        return expected is actual
    if isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return shape_only or expected == actual
    return expected == actual


def _decoded_details(details: Any) -> Any:
    if not isinstance(details, dict):
        return details
    out = {}
    for k, v in details.items():
        if k in ("input", "output", "cause", "parameters"):
            out[k] = _decode(v)
        elif k == "assignedVariables" and isinstance(v, dict):
            out[k] = {name: _decode(x) for name, x in v.items()}
        else:
            out[k] = v
    return out


def history_mismatch(expected: list[dict], actual: list[dict], shape_only: bool) -> str | None:
    """None when the histories match, else a short description of the first difference."""
    for i, exp in enumerate(expected):
        if i >= len(actual):
            return f"missing event #{i + 1} {exp['type']}"
        act = actual[i]
        for key in ("type", "id", "previousEventId"):
            if isinstance(exp["id"], list) and key != "type":  # the recorder masked a racy id
                continue
            if exp[key] != act[key]:
                return (
                    f"event #{i + 1}: {key} {act[key]!r} != expected {exp[key]!r} ({exp['type']})"
                )
        exp_keys = {k for k in exp if k.endswith("EventDetails")}
        act_keys = {k for k in act if k.endswith("EventDetails")}
        if exp_keys != act_keys:
            return f"event #{i + 1} {exp['type']}: details keys {act_keys} != {exp_keys}"
        for k in exp_keys:
            e = _decoded_details(exp[k])
            a = _decoded_details(act[k])
            if not matches(e, a, shape_only):
                return f"event #{i + 1} {exp['type']}: {k} {json.dumps(a)[:300]} != {json.dumps(e)[:300]}"
    if len(actual) > len(expected):
        return f"extra event #{len(expected) + 1} {actual[len(expected)]['type']}"
    return None


def run_case(case: dict) -> tuple[bool, bool | None, str]:
    """(outcome ok, history ok or None when not recorded, reason)."""
    should_abort = None
    if "needs_stop_execution_api" in case["flags"]:
        # The recording stopped the execution while it waited; do the same.
        def should_abort(events=[]):  # noqa: B006 - filled below
            return any(e["type"] == "WaitStateEntered" for e in events)

    try:
        seen: list[dict] = []
        run = execute(
            case["definition"],
            case["input"],
            should_abort=(lambda: should_abort(seen)) if should_abort else None,
            on_event=seen.append,
        )
    except Exception as exc:  # noqa: BLE001 - a crash is a mismatch, reported by name
        return False, (False if "expected_history" in case else None), f"crash: {exc!r}"[:300]
    shape_only = "nondeterministic" in case["flags"]
    reasons = []
    ok = run.status == case["expected_status"]
    if not ok:
        reasons.append(
            f"status {run.status} != {case['expected_status']} ({run.error}: {run.cause})"
        )
    elif run.status == "SUCCEEDED":
        if not matches(case.get("expected_output"), run.output, shape_only):
            ok = False
            reasons.append(
                f"output {json.dumps(run.output)[:300]} != {json.dumps(case.get('expected_output'))[:300]}"
            )
    elif run.status == "FAILED":
        exp = case.get("expected_error") or {}
        if not matches(exp.get("error"), run.error) or not matches(
            exp.get("cause"),
            _decode(run.cause) if isinstance(exp.get("cause"), (dict, list)) else run.cause,
        ):
            ok = False
            reasons.append(f"error {run.error!r}/{run.cause!r} != {exp}")
    hist_ok = None
    if "expected_history" in case:
        why = history_mismatch(case["expected_history"], run.history, shape_only)
        hist_ok = why is None
        if why:
            reasons.append("history: " + why)
    return ok, hist_ok, "; ".join(reasons)


def score(cases: list[dict]) -> tuple[float, float, list[tuple[str, str]]]:
    outcome_ok = hist_ok = hist_total = 0
    failures = []
    for case in cases:
        ok, hist, why = run_case(case)
        outcome_ok += ok
        if hist is not None:
            hist_total += 1
            hist_ok += hist
        if why:
            failures.append((case["name"], why))
    return (
        100.0 * outcome_ok / max(len(cases), 1),
        100.0 * hist_ok / max(hist_total, 1),
        failures,
    )


@pytest.mark.skipif(not CASES_FILE.exists(), reason=f"ASL conformance corpus not found at {CORPUS}")
def test_conformance_corpus(capsys):
    cases = load_cases()
    outcome, history, failures = score(cases)
    with capsys.disabled():
        print(
            f"\nASL conformance: {outcome:.1f}% of {len(cases)} cases match status+output+error; "
            f"{history:.1f}% of recorded histories match"
        )
    assert outcome >= OUTCOME_TARGET, failures[:10]
    assert history >= HISTORY_TARGET, failures[:10]


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    args = [a for a in sys.argv[1:] if a != "-v"]
    selected = [c for c in load_cases() if not args or any(a in c["name"] for a in args)]
    outcome, history, failures = score(selected)
    for name, why in failures:
        print(f"- {name}\n    {why[:600] if verbose else why[:200]}")
    failed_names = {name for name, _ in failures}
    for category in sorted({c["category"] for c in selected}):
        in_cat = [c for c in selected if c["category"] == category]
        bad = sum(c["name"] in failed_names for c in in_cat)
        print(f"  {category:20} {len(in_cat) - bad:4}/{len(in_cat)} fully matching")
    print(f"cases {len(selected)}: outcome {outcome:.1f}%  history {history:.1f}%")
