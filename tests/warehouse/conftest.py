"""Fixtures for the warehouse tests: real DuckDB files under tmp_path, the real SQL templates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test helpers (wh_helpers, bq_server) import by name under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opsbook.definitions.weekly_load.hooks import ensure_schema  # noqa: E402
from opsbook.warehouse import DuckDBWarehouse  # noqa: E402


@pytest.fixture
def duck_path(tmp_path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def wh(duck_path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(duck_path)
    ensure_schema(warehouse)
    yield warehouse
    warehouse.close()
