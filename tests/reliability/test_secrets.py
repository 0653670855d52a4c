"""Secrets never reach execution input, output, history, logs or reports, and history views
redact values that match Config.secret_patterns.

A week runs through the CLI against a loopback webhook whose URL holds a token; then every
history (store file, `opsbook history --json`), listing, outbox, cache, log, captured output
and the report is searched for the token."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import TOKEN, WEEK, add_week, run_cli, scrubbed_env  # noqa: E402

from opsbook.operations import history as hist  # noqa: E402
from opsbook.workflows.schedules import week_input  # noqa: E402

NEEDLES = (TOKEN, TOKEN.split("/")[-1], "services/T000")


def _leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def _all_files(*roots: Path) -> dict[str, bytes]:
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[str(path)] = path.read_bytes()
    return out


def test_the_webhook_token_is_nowhere_but_in_the_requests(deployed, webhook, tmp_path):
    home = Path(deployed.cfg.home)
    add_week(deployed, WEEK)  # a week that loads
    deployed.close()
    ok_hook = webhook([200])
    refusing = webhook([404])  # a webhook that refuses: the NotifyError lands in history
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home), SLACK_WEBHOOK_URL=ok_hook.url)
    outputs = []

    def cli(*args, hook=ok_hook, timeout=120):
        result = run_cli(
            *args, env={**env, "SLACK_WEBHOOK_URL": hook.url}, cwd=tmp_path, timeout=timeout
        )
        outputs.append(result.out + result.err)
        return result

    assert cli("start", "--week", WEEK, "--json").code == 0
    assert cli("start", "--week", "2026-11-19", "--max-polls", "2", "--json").code == 1  # FAILED
    assert cli("start", "--week", WEEK, "--name", "refused", "--json", hook=refusing).code == 0
    # the messages really went out: 2 for the loaded week; polling started and the failure
    # (from the status change event) for the failed one...
    assert len(ok_hook.requests) == 2 + 2
    assert all(r["path"].endswith(TOKEN) for r in ok_hook.requests)  # ...to the token's URL
    assert refusing.requests and all(r["path"].endswith(TOKEN) for r in refusing.requests)
    for body in [r["body"] for r in ok_hook.requests + refusing.requests]:
        assert set(body) <= {"username", "icon_emoji", "text"} and not _leaks(json.dumps(body))

    names = [d["name"] for d in json.loads(cli("executions", "--json").out)]
    assert sorted(names) == ["refused", "week-2026-11-19", f"week-{WEEK}"]
    # (store.sqlite, searched below byte for byte, holds every event of every execution)
    history = json.loads(cli("history", "refused", "--json").out)["events"]
    failures = [e for e in history if e["type"] == "TaskFailed"]
    assert failures and "HTTP 404" in failures[0]["taskFailedEventDetails"]["cause"]
    report = cli(
        "report", "--week", WEEK, "--out", str(tmp_path / "reports"), "--json", timeout=240
    )
    assert report.code == 0, report.err[-2000:]

    for text in outputs:
        assert not _leaks(text), _leaks(text)
    files = _all_files(home, tmp_path / "reports", tmp_path / "user-home")
    assert any(p.endswith("store.sqlite") for p in files)
    assert any(p.endswith(".html") for p in files) and any(p.endswith(".ipynb") for p in files)
    for path, data in files.items():
        text = data.decode("utf-8", errors="replace")
        assert not _leaks(text), (path, _leaks(text))
    assert not (home / "outbox" / "slack.jsonl").exists()  # the webhook, not the outbox, was used


SECRET_URL = "https://hooks.slack.com/services/T999/B999/xyzSECRETxyz"
SECRET_TOKEN = "xoxb-1234-5678-abcdefSECRET"


def _unredacted(frame: pd.DataFrame) -> bool:
    text = frame.to_json(default_handler=str, date_format="iso")
    return "xyzSECRETxyz" in text or "abcdefSECRET" in text


def test_history_views_redact_the_secret_patterns(deployed):
    """Someone put a webhook URL and a Slack token into an execution's input: neither the
    stored history nor the notebook views (opsbook.operations.history) hold them (issue 14: masked
    wherever text is stored)."""
    payload = {**week_input(WEEK, max_polls=1), "note": f"see {SECRET_URL}", "token": SECRET_TOKEN}
    run = deployed.start(payload, name="leaky")
    assert run.status == "FAILED"
    raw = json.dumps(deployed.history("leaky"), default=str)
    assert "xyzSECRETxyz" not in raw and "abcdefSECRET" not in raw  # never stored...
    events = hist.events(deployed, "leaky")
    assert not _unredacted(events)  # ...nor shown
    assert hist.REDACTED in json.dumps(events["input"].iloc[0])
    assert not _unredacted(hist.failure(deployed, "leaky"))
    assert not _unredacted(hist.timeline(deployed, "leaky"))


def test_redaction_follows_the_configured_patterns(make_local, tmp_path):
    backend = make_local(tmp_path / "home", secret_patterns=[r"acme-[0-9]+"])
    backend.init()
    run = backend.start({**week_input(WEEK, max_polls=1), "k": "acme-12345"}, name="custom")
    assert run.status == "FAILED"
    frame = hist.events(backend, "custom")
    text = frame.to_json(default_handler=str, date_format="iso")
    assert "acme-12345" not in text and hist.REDACTED in text
