"""The test bench commands: test-state, test (mock files), replay and verify; their output
contracts and their one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = {
    "StartAt": "LambdaState",
    "States": {
        "LambdaState": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "HelloFunction", "Payload.$": "$"},
            "ResultSelector": {"body.$": "$.Payload.body"},
            "Retry": [
                {"ErrorEquals": ["Lambda.TimeoutException"], "MaxAttempts": 2, "IntervalSeconds": 1}
            ],
            "Next": "SQSState",
        },
        "SQSState": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "q", "MessageBody.$": "$.body"},
            "End": True,
        },
    },
}
TIMEOUT = {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}}
CONFIG = {
    "StateMachines": {
        "Hello": {
            "TestCases": {
                "HappyPath": {"LambdaState": "LambdaOK", "SQSState": "SQSOK"},
                "Timeouts": {"LambdaState": "LambdaTimeouts"},
                "Hybrid": {"LambdaState": "LambdaOK"},
            }
        }
    },
    "MockedResponses": {
        "LambdaOK": {"0": {"Return": {"StatusCode": 200, "Payload": {"body": "hi"}}}},
        "LambdaTimeouts": {"0-2": TIMEOUT},
        "SQSOK": {"0": {"Return": {"MessageId": "m-1"}}},
    },
}


HANDLER = """
def send(payload):
    return {"MessageId": "from-handler", "sent": payload["MessageBody"]}
"""


@pytest.fixture
def files(clean_env):
    d = clean_env / "defs.json"
    d.write_text(json.dumps(DEFINITION))
    c = clean_env / "MockConfigFile.json"
    c.write_text(json.dumps(CONFIG))
    (clean_env / "bench_handlers.py").write_text(HANDLER)  # --handler imports it from the cwd
    return d, c


def test_test_json_has_one_object_per_case_with_the_contract_keys(cli, files):
    d, c = files
    r = cli("test", str(d), "--mock-config", str(c), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == [
        {
            "case": "HappyPath",
            "status": "SUCCEEDED",
            "path": ["LambdaState", "SQSState"],
            "error": None,
            "cause": None,
        },
        {
            "case": "Timeouts",
            "status": "FAILED",
            "path": ["LambdaState"],
            "error": "Lambda.TimeoutException",
            "cause": "Lambda timed out.",
        },
        {
            "case": "Hybrid",
            "status": "FAILED",
            "path": ["LambdaState", "SQSState"],
            "error": "States.TaskFailed",
            "cause": "No task handler registered for resource 'arn:aws:states:::sqs:sendMessage'",
        },
    ]


def test_test_text_output_and_a_handler_for_the_unmocked_state(cli, files):
    d, c = files
    r = cli(
        "test",
        str(d),
        "--mock-config",
        str(c),
        "--case",
        "Hybrid",
        "--state-machine",
        "Hello",
        "--handler",
        "arn:aws:states:::sqs:sendMessage=bench_handlers:send",
    )
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "Hybrid: SUCCEEDED",
        "  path:  LambdaState > SQSState",
        "  error: -",
        "  cause: -",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "Nope"], "no test case 'Nope'"),
        (["--state-machine", "Other"], "no state machine 'Other'"),
        (["--handler", "nothing"], "expected RESOURCE=module:function"),
        (["--handler", "R=no_such_module_x:f"], "cannot import"),
        (["--input", "{bad"], "--input is not valid JSON"),
    ],
)
def test_test_bad_input_is_one_line_and_exit_2(cli, files, args, message):
    d, c = files
    r = cli("test", str(d), "--mock-config", str(c), *args)
    assert r.code == 2
    assert message in r.err and len(r.err.strip().splitlines()) == 1
    assert r.out == ""


def test_test_malformed_file_or_definition_is_exit_2(cli, files, clean_env):
    d, c = files
    bad = clean_env / "bad.json"
    bad.write_text('{"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {}}}}}')
    r = cli("test", str(d), "--mock-config", str(bad))
    assert r.code == 2 and "exactly one field, Return or Throw" in r.err
    invalid = clean_env / "invalid.json"
    invalid.write_text('{"StartAt": "X", "States": {}}')
    r = cli("test", str(invalid), "--mock-config", str(c))
    assert r.code == 2 and "invalid definition" in r.err
    r = cli("test", str(clean_env / "missing.json"), "--mock-config", str(c))
    assert r.code == 2 and "does not exist" in r.err


def test_test_state_json_and_inspection(cli, files):
    d, _ = files
    mock = json.dumps({"result": json.dumps({"StatusCode": 200, "Payload": {"body": "yo"}})})
    r = cli(
        "test-state", str(d), "--state-name", "LambdaState", "--input", '{"a": 1}',
        "--mock", mock, "--inspection-level", "DEBUG", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert (out["status"], out["nextState"], out["output"]) == (
        "SUCCEEDED",
        "SQSState",
        {"body": "yo"},
    )
    assert json.loads(out["inspectionData"]["afterResultSelector"]) == {"body": "yo"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{"], "--input is not valid JSON"),
        (["--inspection-level", "LOUD", "--state-name", "LambdaState"], "inspectionLevel"),
        (["--mock", '{"result": "1"}', "--state-name", "Nope"], "not in the definition"),
        ([], "stateName is required"),
    ],
)
def test_test_state_bad_input(cli, files, args, message):
    d, _ = files
    r = cli("test-state", str(d), *args)
    assert r.code == 2 and message in r.err
    assert "Traceback" not in r.err


@pytest.fixture
def demo_home(cli, clean_env):
    home = str(clean_env / "home")
    r = cli("--home", home, "init", "--demo-data", "--weeks", "4", "--end-week", "2026-11-26")
    assert r.code == 0, r.err
    r = cli("--home", home, "schedule", "run", "--since", "2026-11-05", "--until", "2026-11-26")
    assert r.code in (0, 1), r.err  # 1: some demo weeks fail, as they are meant to
    return home


def test_replay_and_verify_on_the_local_demo(cli, demo_home, clean_env):
    listed = json.loads(cli("--home", demo_home, "executions", "--json").out)
    statuses = {e["name"]: e["status"] for e in listed}
    assert "FAILED" in statuses.values() and "SUCCEEDED" in statuses.values()
    failed = next(n for n, s in statuses.items() if s == "FAILED")
    r = cli("--home", demo_home, "replay", failed, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["match"] is True
    assert json.loads(r.out)["divergence"] is None

    changed = json.loads(
        (ROOT / "opsbook" / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
    )
    changed["States"]["CheckRecords"]["TimeoutSeconds"] = 30
    path = clean_env / "changed.json"
    path.write_text(json.dumps(changed))
    r = cli("--home", demo_home, "replay", failed, "--definition", str(path), "--json")
    out = json.loads(r.out)
    assert r.code == 0 and out["match"] is False
    assert set(out["divergence"]) == {"event_id", "recorded", "replayed", "why"}
    r = cli("--home", demo_home, "replay", failed, "--definition", str(path))
    assert f"{failed}: diverges at event {out['divergence']['event_id']}" in r.out

    r = cli(
        "--home", demo_home, "verify", "--since", "2026-11-01", "--until", "2026-11-30", "--json"
    )
    report = json.loads(r.out)
    assert report["replayed"] == len(statuses) == report["matched"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "week-1999-01-07"], "week-1999-01-07"),
        (["replay", "x", "--definition", "/nonexistent.json"], "cannot read definition"),
        (["verify", "--since", "yesterday", "--until", "2026-11-30"], "--since"),
    ],
)
def test_replay_verify_bad_input(cli, clean_env, args, message):
    home = str(clean_env / "home")
    assert cli("--home", home, "init").code == 0  # a home exists: the check is about the args
    r = cli("--home", home, *args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_a_file_with_several_machines_picks_the_one_named_like_the_definition(cli, files):
    d, c = files
    two = {**CONFIG, "StateMachines": {**CONFIG["StateMachines"], "Other": {"TestCases": {}}}}
    c.write_text(json.dumps(two))
    r = cli("test", str(d), "--mock-config", str(c), "--json")
    assert r.code == 2 and "name one (known: Hello, Other)" in r.err
    named = d.with_name("Hello.asl.json")
    named.write_text(d.read_text())
    r = cli("test", str(named), "--mock-config", str(c), "--json")
    assert r.code == 0 and len(json.loads(r.out)) == 3


EXAMPLE = ROOT / "docs" / "examples" / "weekly_load.mock.json"
WEEKLY = ROOT / "opsbook" / "definitions" / "weekly_load" / "weekly_load.asl.json"


# A failure ends the execution at the Task whose work failed (a redrive resumes there); only
# an answer a function never gives goes through LoadFailed.
@pytest.mark.parametrize(
    ("case", "status", "last", "polls", "error"),
    [
        ("OnTime", "SUCCEEDED", "LoadSucceeded", 0, None),
        ("LateThenArrives", "SUCCEEDED", "LoadSucceeded", 2, None),
        ("NeverArrives", "FAILED", "CheckRecords", 18, "PollingGaveUp"),
        ("ThrottledThenRows", "SUCCEEDED", "LoadSucceeded", 0, None),
        ("CheckKeepsCrashing", "FAILED", "CheckRecords", 0, "Lambda.ServiceException"),
        ("CheckQueryFails", "FAILED", "CheckRecords", 0, "CheckRecordsFailed"),
        ("InsertRefused", "FAILED", "InsertWeek", 0, "InsertWeekFailed"),
        ("InsertAnswersNonsense", "FAILED", "LoadFailed", 0, "InsertWeekFailed"),
    ],
)
def test_the_weekly_load_example_file(cli, clean_env, case, status, last, polls, error):
    r = cli(
        "test", str(WEEKLY), "--mock-config", str(EXAMPLE), "--case", case,
        "--input", '{"week": "2026-11-26"}', "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    (result,) = json.loads(r.out)
    assert (result["status"], result["path"][-1], result["error"]) == (status, last, error)
    assert result["path"].count("WaitForData") == polls


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # Two empty polls: Slack hears when polling starts (not at poll 2), then the outcome.
        (
            "LateThenArrives",
            [
                "Week 2026-11-26: polling started, no rows yet for 2026-11-25; checking every"
                " 600 s, up to 18 polls.",
                "Week 2026-11-26: 42 rows found for 2026-11-25; inserting 2026-11-19..2026-11-25.",
                "Week 2026-11-26: loaded 42 rows into the weekly summary (2026-11-19..2026-11-25).",
            ],
        ),
        # 18 empty polls: polls 1, 6, 12 and 18. The failure itself is told by the execution
        # status change event, which a test-bench run (no execution) does not emit.
        (
            "NeverArrives",
            [
                "Week 2026-11-26: polling started, no rows yet for 2026-11-25; checking every"
                " 600 s, up to 18 polls.",
                *(
                    f"Week 2026-11-26: still no rows for 2026-11-25 after poll {n} of 18."
                    for n in (6, 12, 18)
                ),
            ],
        ),
    ],
)
def test_workflow_handlers_answer_the_unmocked_notifications(cli, clean_env, case, expected):
    home = clean_env / "home"
    assert cli("--home", str(home), "init").code == 0
    r = cli(
        "--home", str(home), "test", str(WEEKLY), "--mock-config", str(EXAMPLE),
        "--case", case, "--input", '{"week": "2026-11-26"}', "--workflow-handlers",
    )  # fmt: skip
    assert r.code == 0, r.err
    sent = [json.loads(line)["text"] for line in (home / "outbox" / "slack.jsonl").open()]
    assert sent == expected
