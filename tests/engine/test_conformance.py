"""Run the ASL conformance corpus (recorded on real AWS) through opsbook.engine, one test per
case (the case name is the test id).

A case matches when its status + output + error/cause match ("result") and, when the case
recorded one, its history matches event for event ("history": ids, previousEventId, type,
*EventDetails; timestamps and placeholders ignored). Cases known not to match are listed in
EXPECTED_FAILURES with the part that fails and why. Such a case is an xfail(strict=True): if it
starts to match, the test fails so the entry gets removed; any other mismatch fails by name.
Run as a script to list the mismatching cases and the two figures:

    PYTHONPATH=tests .venv/bin/python tests/engine/test_conformance.py [-v] [name-substring]
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
_DIST_PREV = (
    "AWS recorded MapStateExited.previousEventId as MapRunStarted's id; in the other 15 "
    "distributed-Map recordings it is MapRunSucceeded's id, which the engine gives. The ids are "
    "racy on AWS's side (distributed Map child executions), so no rule reproduces both."
)
_SCENARIOS = (
    "tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.py::TestBaseScenarios::"
)
_ASSIGN_REFS = (
    "tests/aws/services/stepfunctions/v2/assign/test_assign_reference_variables.py::"
    "TestAssignReferenceVariables::test_reference_in_map_state"
)

# name -> (the parts that fail: "result" and/or "history", why). At most 1% of the cases may
# fail their result and 3% of the recorded histories (test_expected_failures_stay_few).
EXPECTED_FAILURES: dict[str, tuple[frozenset[str], str]] = {
    _ASSIGN_REFS + "[MAP_STATE_REFERENCE_IN_ITEM_SELECTOR]": (frozenset({"history"}), _DIST_PREV),
    _ASSIGN_REFS + "[MAP_STATE_REFERENCE_IN_TOLERATED_FAILURE_PATH]": (
        frozenset({"history"}),
        _DIST_PREV,
    ),
    _SCENARIOS + "test_map_state_config_distributed_item_selector_parameters": (
        frozenset({"history"}),
        _DIST_PREV,
    ),
    _SCENARIOS + "test_map_state_config_distributed_items_path_from_previous": (
        frozenset({"history"}),
        _DIST_PREV,
    ),
    _SCENARIOS + "test_map_state_nested_config_distributed": (frozenset({"history"}), _DIST_PREV),
}
MAX_RESULT_FAILURES = 0.01  # of all cases
MAX_HISTORY_FAILURES = 0.03  # of the cases with a recorded history

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
    """None when the histories match, else a short description of the first difference.

    Events are compared in order. Some recordings leave events out (their ids jump, e.g. the
    Parallel cases lack ParallelStateSucceeded): the events of ours whose ids the recording
    does not have are skipped, never compared with anything."""
    j = 0
    for i, exp in enumerate(expected):
        if isinstance(exp["id"], int) and j < exp["id"] - 1:
            j = exp["id"] - 1  # the recording dropped the events before this id
        if j >= len(actual):
            return f"missing event #{i + 1} {exp['type']}"
        act = actual[j]
        j += 1
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
    if len(actual) > j:
        return f"extra event #{j + 1} {actual[j]['type']}"
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


class ExpectedMismatch(AssertionError):
    """The listed part of an EXPECTED_FAILURES case still does not match (an xfail)."""


_CASES = load_cases() if CASES_FILE.exists() else []
_NO_CORPUS = pytest.mark.skip(reason=f"ASL conformance corpus not found at {CORPUS}")


def _params() -> list:
    if not _CASES:
        return [pytest.param(None, id="no-corpus", marks=_NO_CORPUS)]
    params = []
    for case in _CASES:
        marks = []
        if case["name"] in EXPECTED_FAILURES:
            parts, why = EXPECTED_FAILURES[case["name"]]
            reason = f"{'+'.join(sorted(parts))}: {why}"
            marks.append(pytest.mark.xfail(strict=True, raises=ExpectedMismatch, reason=reason))
        params.append(pytest.param(case, id=case["name"], marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_case(case):
    ok, hist_ok, why = run_case(case)
    listed = EXPECTED_FAILURES.get(case["name"], (frozenset(), ""))[0]
    assert ok or "result" in listed, f"result regression: {why}"
    assert hist_ok is not False or "history" in listed, f"history regression: {why}"
    still_failing = ("result" in listed and not ok) or ("history" in listed and hist_ok is False)
    if listed and still_failing:
        raise ExpectedMismatch(why)
    # a listed case that now matches ends here: strict xfail turns the pass into a failure


@pytest.mark.skipif(not _CASES, reason=f"ASL conformance corpus not found at {CORPUS}")
def test_expected_failures_stay_few():
    names = {c["name"] for c in _CASES}
    unknown = sorted(set(EXPECTED_FAILURES) - names)
    assert not unknown, f"EXPECTED_FAILURES names no case: {unknown}"
    with_history = sum("expected_history" in c for c in _CASES)
    results = sum("result" in parts for parts, _ in EXPECTED_FAILURES.values())
    histories = sum("history" in parts for parts, _ in EXPECTED_FAILURES.values())
    assert results <= MAX_RESULT_FAILURES * len(_CASES), (results, len(_CASES))
    assert histories <= MAX_HISTORY_FAILURES * with_history, (histories, with_history)
    for name, (parts, why) in EXPECTED_FAILURES.items():
        assert parts and parts <= {"result", "history"} and why, name


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
