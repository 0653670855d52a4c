"""weeks(), plan_rerun() and rerun() over every status and action, on the in-memory backend
(real engine runs; see conftest.MemoryBackend), plus the history cache."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pandas.testing import assert_frame_equal

from opsbook.errors import UsageError
from opsbook.operations import history as H
from opsbook.operations.backfill import REDRIVE, SKIP, START, next_name, plan_rerun, rerun
from opsbook.operations.cache import HistoryCache
from opsbook.workflows.partitions import parse_scheme

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday


def at(day: str, hour: int = 0, minute: int = 30) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def run(memory, week, when, mode=None, name=None):
    payload = {"week": week} if mode is None else {"week": week, "mode": mode}
    return memory.start(payload, name=name or f"week-{week}", scheduled_time=when)


@pytest.fixture
def year(memory):
    """One week of every status (see the table in each test)."""
    m = memory
    run(m, "2026-10-01", at("2026-10-01"))  # SUCCEEDED
    m.arrivals["2026-10-08"] = None
    run(m, "2026-10-08", at("2026-10-08"))  # FAILED in a Fail state, long ago
    # 2026-10-15: MISSING
    m.abort("week-2026-10-22", "2026-10-22", at("2026-10-22"))  # ABORTED long ago
    run(m, "2026-10-29", at("2026-10-29"), mode="hang")  # TIMED_OUT long ago
    m.arrivals["2026-11-05"] = None
    run(m, "2026-11-05", at("2026-11-25"))  # FAILED in a Fail state, recently
    m.broken.add("2026-11-12")
    run(m, "2026-11-12", at("2026-11-20"), mode="crash")  # FAILED in a Task, recently
    run(m, "2026-11-19", at("2026-11-21"), mode="hang")  # TIMED_OUT recently
    m.add_running("week-2026-11-26", "2026-11-26", at("2026-11-26"))  # RUNNING
    # 2026-12-03: PENDING
    return m


EXPECTED_STATUS = {
    "2026-10-01": "SUCCEEDED",
    "2026-10-08": "FAILED",
    "2026-10-15": "MISSING",
    "2026-10-22": "ABORTED",
    "2026-10-29": "TIMED_OUT",
    "2026-11-05": "FAILED",
    "2026-11-12": "FAILED",
    "2026-11-19": "TIMED_OUT",
    "2026-11-26": "RUNNING",
    "2026-12-03": "PENDING",
}


def test_weeks_reports_every_status(year):
    df = H.weeks(year, "2026-10-01", "2026-12-03", today=NOW)
    assert list(df.columns) == H.WEEK_COLUMNS
    assert dict(zip(df["week"], df["status"], strict=True)) == EXPECTED_STATUS
    by = df.set_index("week")
    assert by.loc["2026-10-15", "attempts"] == 0 and by.loc["2026-10-01", "attempts"] == 1
    assert by.loc["2026-10-08", "polls"] == 3  # three empty checks before it gave up
    assert by.loc["2026-10-08", "error"] == "DataLate"
    assert by.loc["2026-10-08", "cause"] == "gave up polling"
    assert (
        by.loc["2026-11-12", "cause"] == "warehouse unreachable for 2026-11-12"
    )  # Lambda JSON decoded
    assert by.loc["2026-10-29", "error"] == "States.Timeout"
    assert by.loc["2026-10-01", "duration"] == 0.0
    assert by.loc["2026-11-26", "execution"] == "week-2026-11-26"
    assert H.pd.isna(by.loc["2026-11-26", "duration"])


def test_pending_versus_missing_depends_on_fire_time(memory):
    before = H.weeks(memory, "2026-11-26", "2026-11-26", today=at("2026-11-26", 0, 29))
    after = H.weeks(memory, "2026-11-26", "2026-11-26", today=at("2026-11-26", 0, 31))
    assert before["status"].tolist() == ["PENDING"] and after["status"].tolist() == ["MISSING"]


def test_plan_has_every_action_with_reasons(year):
    plan = plan_rerun(year, "2026-10-01", "2026-12-03", today=NOW).set_index("week")
    actions = plan["action"].to_dict()
    assert actions == {
        "2026-10-01": SKIP,
        "2026-10-08": START,
        "2026-10-15": START,
        "2026-10-22": START,
        "2026-10-29": START,
        "2026-11-05": START,
        "2026-11-12": REDRIVE,
        "2026-11-19": REDRIVE,
        "2026-11-26": SKIP,
        "2026-12-03": SKIP,
    }
    assert plan.loc["2026-10-15", "new_name"] == "week-2026-10-15"  # first-ever execution
    assert plan.loc["2026-10-08", "new_name"] == "week-2026-10-08-r1"
    assert "14 days" in plan.loc["2026-10-22", "reason"]
    assert "Fail state" in plan.loc["2026-11-05", "reason"]
    assert plan.loc["2026-11-12", "execution"].endswith(":week-2026-11-12")
    assert "running" in plan.loc["2026-11-26", "reason"]
    assert "future" in plan.loc["2026-12-03", "reason"]


def test_plan_starts_new_when_the_live_version_moved(year):
    year.version = year.version.replace(":1", ":2")
    plan = plan_rerun(year, "2026-11-12", "2026-11-12", today=NOW)
    assert plan.loc[0, "action"] == START and "live is version 2" in plan.loc[0, "reason"]


def test_plan_respects_selected_statuses(year):
    plan = plan_rerun(year, "2026-10-01", "2026-12-03", statuses=("MISSING",), today=NOW)
    acting = plan[plan["action"] != SKIP]
    assert acting["week"].tolist() == ["2026-10-15"]
    with pytest.raises(UsageError, match="unknown week status"):
        plan_rerun(year, "2026-10-01", "2026-12-03", statuses=("BROKEN",), today=NOW)


def test_rerun_fixes_failed_weeks_and_is_idempotent(year):
    year.broken.clear()  # the warehouse is back
    year.arrivals.clear()  # and the late data has arrived
    statuses = ("FAILED", "ABORTED", "MISSING")  # TIMED_OUT hangs by design here
    plan = plan_rerun(year, "2026-10-01", "2026-12-03", statuses=statuses, today=NOW)
    before = dict(year.calls)
    results = rerun(year, plan, max_concurrency=3, progress=False).set_index("week")
    assert results.loc["2026-11-12", "action"] == REDRIVE
    assert results.loc["2026-11-12", "execution"] == "week-2026-11-12"  # same execution
    assert year.describe("week-2026-11-12").redrive_count == 1
    for week in ("2026-10-08", "2026-10-15", "2026-10-22", "2026-11-05", "2026-11-12"):
        assert results.loc[week, "status"] == "SUCCEEDED", week
    assert results.loc["2026-10-08", "execution"] == "week-2026-10-08-r1"
    assert results.loc["2026-10-08", "attempts"] == 2
    assert year.calls["start"] - before.get("start", 0) == 4
    assert year.calls["redrive"] - before.get("redrive", 0) == 1
    # Untouched: the succeeded, running, pending and unselected weeks.
    assert results.loc["2026-10-01", "action"] == SKIP
    assert year.describe("week-2026-10-01").redrive_count == 0

    weeks = H.weeks(year, "2026-10-01", "2026-12-03", today=NOW).set_index("week")
    assert weeks.loc["2026-11-12", "attempts"] == 2  # one execution, redriven once
    assert (
        weeks.loc[["2026-10-08", "2026-10-15", "2026-10-22", "2026-11-05"], "status"] == "SUCCEEDED"
    ).all()

    # The same (stale) plan again: every week is re-planned first, so nothing new starts.
    starts, redrives = year.calls["start"], year.calls["redrive"]
    again = rerun(year, plan, progress=False)
    assert year.calls["start"] == starts and year.calls["redrive"] == redrives
    assert (again["action"] == SKIP).all()


def test_dry_run_acts_on_nothing(year):
    plan = plan_rerun(year, "2026-10-01", "2026-12-03", today=NOW)
    before = dict(year.calls)
    results = rerun(year, plan, dry_run=True, progress=False).set_index("week")
    assert year.calls["start"] == before.get("start", 0)
    assert year.calls["redrive"] == before.get("redrive", 0)
    assert results["dry_run"].loc["2026-10-15"]
    assert results.loc["2026-10-15", "execution"] == "week-2026-10-15"
    assert results.loc["2026-11-12", "action"] == REDRIVE


def test_rerun_reports_a_failing_week_without_stopping_others(year):
    year.arrivals.clear()
    year.arrivals["2026-10-08"] = None  # still no data for this one
    plan = plan_rerun(year, "2026-10-01", "2026-10-15", today=NOW)
    results = rerun(year, plan, progress=False).set_index("week")
    assert results.loc["2026-10-08", "status"] == "FAILED"
    assert results.loc["2026-10-15", "status"] == "SUCCEEDED"


def test_rerun_validates_its_arguments(year):
    plan = plan_rerun(year, "2026-10-01", "2026-10-01", today=NOW)
    with pytest.raises(UsageError, match="max-concurrency"):
        rerun(year, plan, max_concurrency=0)
    with pytest.raises(UsageError, match="lacks column"):
        rerun(year, plan.drop(columns=["action"]))


def test_next_name_numbers_reruns_and_skips_taken_names(memory):
    a = run(memory, "2026-10-01", at("2026-10-01"))
    b = run(memory, "2026-10-01", at("2026-10-02"), name="week-2026-10-01-r3")
    weekly = parse_scheme("weekly:THU", "Asia/Tokyo")
    assert next_name("2026-10-01", [a, b], {a.name, b.name}, weekly) == "week-2026-10-01-r4"
    assert next_name("2026-10-08", [], set(), weekly) == "week-2026-10-08"
    assert next_name("2026-10-08", [], {"week-2026-10-08"}, weekly) == "week-2026-10-08-r1"
    monthly = parse_scheme("monthly", "Europe/Berlin")
    assert next_name("2026-02", [], {"month-2026-02", "month-2026-02-r1"}, monthly) == (
        "month-2026-02-r2"
    )


def test_second_browse_reads_closed_histories_from_the_cache(year):
    H.weeks(year, "2026-10-01", "2026-12-03", today=NOW)
    first = year.calls["history"]
    # One per week with an execution that did not succeed (7 of 8): a succeeded week needs none.
    assert first == 7
    H.weeks(year, "2026-10-01", "2026-12-03", today=NOW)
    # Only the RUNNING execution's history is fetched again.
    assert year.calls["history"] - first == 1


def test_cache_entries_are_private_and_invalidated_by_redrive(year, cfg):
    H.weeks(year, "2026-11-12", "2026-11-12", today=NOW)
    cache = HistoryCache(cfg.home)
    files = list(cache.dir.glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.dir.parent.stat().st_mode) == 0o700
    assert not list(cache.dir.glob(".tmp-*"))
    year.broken.clear()
    year.redrive("week-2026-11-12")
    calls = year.calls["history"]
    assert H.weeks(year, "2026-11-12", "2026-11-12", today=NOW).loc[0, "status"] == "SUCCEEDED"
    # redrive_count changed, so the entry is stale and unused; a SUCCEEDED week's history is
    # not read at all by the matrix (its failure views still read it, once).
    assert year.calls["history"] == calls
    H.events(year, "week-2026-11-12")
    H.events(year, "week-2026-11-12")
    assert year.calls["history"] == calls + 1
    assert cache.clear() == 1


def test_events_timeline_failure_through_the_backend(year):
    ev = H.events(year, "week-2026-10-08")
    assert ev["type"].iloc[-1] == "ExecutionFailed"
    tl = H.timeline(year, "week-2026-10-08")
    assert tl["state"].tolist().count("WaitForData") == 3
    fail = H.failure(year, "week-2026-10-08")
    assert fail.loc[0, "state"] == "LoadFailed" and fail.loc[0, "state_type"] == "Fail"
    assert H.failure(year, "week-2026-10-01").empty
    with pytest.raises(UsageError):
        H.events(year, "week-1999-01-07")


def test_executions_frame_filters_by_status_and_day(year):
    df = H.executions(year, since="2026-11-20", until="2026-11-25")
    assert set(df["name"]) == {"week-2026-11-12", "week-2026-11-19", "week-2026-11-05"}
    failed = H.executions(year, status="FAILED")
    assert set(failed["status"]) == {"FAILED"} and len(failed) == 3
    assert list(df.columns) == H.EXECUTION_COLUMNS


def test_execution_cache_matches_listing_fingerprint(cfg, year):
    from opsbook.operations.cache import ExecutionCache

    cache = ExecutionCache(cfg.home)
    ex = year.describe("week-2026-11-12")
    assert cache.put(ex)
    hit = cache.get(ex.arn, status=ex.status, start_date=ex.start_date, redrive_count=0)
    assert hit == ex  # dates, input and version come back identical
    assert cache.get(ex.arn, status="RUNNING", start_date=ex.start_date) is None
    assert cache.get(ex.arn, status=ex.status, start_date=ex.start_date, redrive_count=1) is None
    assert cache.get(ex.arn, status=ex.status, start_date=NOW) is None
    running = year.describe("week-2026-11-26")
    assert not cache.put(running)
    files = list((cfg.home / "cache" / "executions").glob("*.json"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_unwritable_cache_only_means_no_caching(year, cfg):
    cache_dir = cfg.home / "cache"
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o500)
    try:
        df = H.weeks(year, "2026-10-01", "2026-10-08", today=NOW)
        assert df["status"].tolist() == ["SUCCEEDED", "FAILED"]
    finally:
        cache_dir.chmod(0o700)


def test_a_refused_redrive_falls_back_to_a_new_execution(year, monkeypatch):
    from opsbook.errors import OperationFailed

    def refuse(execution, *, wait=True):
        raise OperationFailed(f"execution {execution} cannot be redriven: ExecutionNotRedrivable")

    monkeypatch.setattr(year, "redrive", refuse)
    year.broken.clear()
    plan = plan_rerun(year, "2026-11-12", "2026-11-12", today=NOW)
    assert plan.loc[0, "action"] == REDRIVE
    result = rerun(year, plan, progress=False).iloc[0]
    assert (result["action"], result["status"]) == (START, "SUCCEEDED")
    assert result["execution"] == "week-2026-11-12-r1"
    assert "redrive refused" in result["reason"] and "ExecutionNotRedrivable" in result["reason"]


def test_records_are_json_ready(year):
    import json

    df = H.weeks(year, "2026-10-01", "2026-10-15", today=NOW)
    rows = H.records(df)
    text = json.dumps(rows)  # no NaN, NaT or numpy scalars left
    assert "NaN" not in text and rows[2]["status"] == "MISSING" and rows[2]["polls"] is None
    assert rows[0]["start_date"].startswith("2026-10-01T00:30:00")
    assert [H.human_duration(s) for s in (None, 0, 75, 3900)] == ["-", "0s", "1m15s", "1h05m"]


def test_a_redrive_that_ran_but_could_not_be_waited_for_starts_nothing_more(year, monkeypatch):
    from opsbook.errors import OperationFailed

    real = year.redrive

    def redrive_then_time_out(execution, *, wait=True):
        real(execution, wait=wait)
        raise OperationFailed("execution week-2026-11-12 is still RUNNING after 60 s")

    monkeypatch.setattr(year, "redrive", redrive_then_time_out)
    year.broken.clear()
    starts = year.calls["start"]
    result = rerun(year, plan_rerun(year, "2026-11-12", "2026-11-12", today=NOW), progress=False)
    row = result.iloc[0]
    assert (row["action"], row["execution"], row["status"]) == (
        REDRIVE,
        "week-2026-11-12",
        "SUCCEEDED",
    )
    assert "still RUNNING" in row["error"]
    assert year.calls["start"] == starts


def test_summarize_counts_actions_and_outcomes(year):
    from opsbook.operations.backfill import summarize

    plan = plan_rerun(year, "2026-10-01", "2026-12-03", today=NOW)
    dry = summarize(rerun(year, plan, dry_run=True, progress=False))
    assert dry == {
        "weeks": 10,
        "redriven": 0,  # a dry run does nothing: it would redrive 2 and start 5
        "started": 0,
        "would_redrive": 2,
        "would_start": 5,
        "skipped": 3,
        "succeeded": 0,
        "failed": 0,
    }
    year.arrivals.clear()
    year.broken.clear()
    done = summarize(
        rerun(year, plan_rerun(year, "2026-10-01", "2026-11-12", today=NOW), progress=False)
    )
    assert done["started"] == 5 and done["redriven"] == 1 and done["succeeded"] == 6


def _listed_only(ex):
    """What AwsBackend lists for an execution named week-<DATE>[-r<N>]: no DescribeExecution."""
    return replace(ex, input=None, output=None, error=None, cause=None)


def _list_like_aws(backend, monkeypatch):
    listing = backend.list_executions
    monkeypatch.setattr(
        backend, "list_executions", lambda **kw: [_listed_only(e) for e in listing(**kw)]
    )


def test_listings_without_descriptions_give_the_same_tables(year, monkeypatch):
    weeks = H.weeks(year, "2026-10-01", "2026-12-03", today=NOW)
    plan = plan_rerun(year, "2026-10-01", "2026-12-03", today=NOW)
    executions = H.executions(year)
    _list_like_aws(year, monkeypatch)
    year.calls.clear()
    assert_frame_equal(H.weeks(year, "2026-10-01", "2026-12-03", today=NOW), weeks)
    assert_frame_equal(plan_rerun(year, "2026-10-01", "2026-12-03", today=NOW), plan)
    # The weeks come from the names, the failure causes from the histories: besides the
    # describe inside each history read (the RUNNING week's, uncached), only the ABORTED week
    # is described, as its history's end event has no error to show.
    assert year.calls["history"] == 2
    assert year.calls["describe"] == 2 + 1
    year.calls.clear()
    assert_frame_equal(H.executions(year), executions)  # error and cause filled in
    # The other closed unsuccessful ones (3 FAILED, 2 TIMED_OUT), once; the rest not at all.
    assert year.calls["describe"] == 5
    assert_frame_equal(H.executions(year), executions)
    assert year.calls["describe"] == 5  # then from OPSBOOK_HOME/cache/executions


def test_weeks_describes_a_failure_its_history_does_not_explain(year, monkeypatch):
    _list_like_aws(year, monkeypatch)
    reading = year.history

    def history(execution):  # an endpoint that leaves the end event's details out
        events = reading(execution)
        for e in events:
            e.pop("executionFailedEventDetails", None)
        return events

    monkeypatch.setattr(year, "history", history)
    by = H.weeks(year, "2026-10-01", "2026-12-03", today=NOW).set_index("week")
    assert (by.loc["2026-10-08", "error"], by.loc["2026-10-08", "cause"]) == (
        "DataLate",
        "gave up polling",
    )
    assert by.loc["2026-11-12", "cause"] == "warehouse unreachable for 2026-11-12"
    assert H.pd.isna(by.loc["2026-10-01", "error"])
