"""The weekly load's own setup for the local backend: its tables, its demo data, and the release
of demo rows as the virtual clock passes their arrival time (named in workflow.toml [hooks])."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from opsbook.config import Config
from opsbook.definitions.weekly_load.demo import generate_demo_data, release_arrivals
from opsbook.warehouse import Warehouse, render_template

# One release at a time per process: threads (rerun's pool) releasing the same rows at once
# would conflict in DuckDB.
RELEASE_LOCK = threading.Lock()
DDL = (
    "CREATE TABLE IF NOT EXISTS {{source}} (event_date DATE, event_ts TIMESTAMP,"
    " user_id STRING, event_type STRING, amount NUMERIC, arrival_ts TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS {{target}} (week DATE, event_date DATE, event_type STRING,"
    " events INT64, users INT64, amount NUMERIC)",
)


def ensure_schema(
    warehouse: Warehouse,
    dataset: str = "analytics",
    source: str = "events",
    target: str = "weekly_summary",
) -> None:
    """Create the dataset, the source and the target table when missing (BigQuery DDL).

    The source's `arrival_ts` is when a row landed (NULL: unknown); the weekly report uses it to
    show the data as of a run. Tables created before it existed keep working without it."""
    project = warehouse.project  # type: ignore[attr-defined]
    names = dict(project=project, dataset=dataset, source=source, target=target)
    rendered = [render_template(t, **names) for t in DDL]  # validates every name
    session = getattr(warehouse, "session", None)  # DuckDB: open the file once
    with session() if session else contextlib.nullcontext():
        warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{project}.{dataset}`")
        for statement in rendered:
            warehouse.execute(statement)


def setup(warehouse: Warehouse, cfg: Config) -> None:
    ensure_schema(warehouse, cfg.dataset, cfg.source_table, cfg.target_table)


def demo(
    warehouse: Warehouse, cfg: Config, *, count: int = 12, seed: int = 7, end: str | None = None
) -> dict[str, Any]:
    """Synthetic late-arriving events for the `count` weeks ending at `end`."""
    return generate_demo_data(
        warehouse,
        dataset=cfg.dataset,
        source=cfg.source_table,
        weeks=count,
        seed=seed,
        end_week=end,
        poll_seconds=cfg.poll_seconds,
        max_polls=cfg.max_polls,
    )


def before_task(task: str, resources: Any, clock: Any, cfg: Config) -> None:
    """Before each CheckRecords: the demo rows whose arrival time the clock has passed land."""
    if task != "CheckRecords":
        return
    from opsbook.warehouse import WarehouseError

    try:
        with RELEASE_LOCK, resources.warehouse() as wh:
            release_arrivals(wh, clock.now(), dataset=cfg.dataset, source=cfg.source_table)
    except WarehouseError:
        pass  # unreachable warehouse: check_records meets it too and returns a 500
