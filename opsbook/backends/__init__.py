"""Backends: `connect()` returns the local or AWS implementation of one Backend API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsbook.backends.base import Backend, Change, DeployResult, Execution
from opsbook.config import Config, load_config
from opsbook.errors import ConfigError

__all__ = ["Backend", "Change", "DeployResult", "Execution", "connect"]


def connect(
    backend: str | None = None,
    *,
    workflow: str | None = None,
    home: str | Path | None = None,
    config: str | Path | Config | None = None,
    **options: Any,
) -> Backend:
    """Open a backend on one workflow (default: `--workflow`/OPSBOOK_WORKFLOW, else
    `default_workflow`, else the only one). Arguments override the config file, which overrides
    environment defaults."""
    from opsbook.workflows.registry import get_workflow

    cfg = config if isinstance(config, Config) else load_config(config, home=home, backend=backend)
    flow = get_workflow(cfg, workflow)
    cfg = cfg.for_workflow(flow)
    if cfg.backend == "local":
        from opsbook.backends.local.backend import LocalBackend

        return LocalBackend(cfg, workflow=flow, **options)
    if cfg.backend == "aws":
        from opsbook.backends.aws.backend import AwsBackend

        return AwsBackend(cfg, workflow=flow, **options)
    raise ConfigError(f"unknown backend {cfg.backend!r}; use 'local' or 'aws'")
