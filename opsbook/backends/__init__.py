"""Backends: `connect()` returns the local or AWS implementation of one Backend API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from opsbook.backends.base import Backend, Change, DeployResult, Execution
from opsbook.config import Config, load_config
from opsbook.errors import ConfigError, UsageError

__all__ = ["Backend", "Change", "DeployResult", "Execution", "check_home", "connect"]


def connect(
    backend: str | None = None,
    *,
    workflow: str | None = None,
    home: str | Path | None = None,
    config: str | Path | Config | None = None,
    create: bool = False,
    **options: Any,
) -> Backend:
    """Open a backend on one workflow (default: `--workflow`/OPSBOOK_WORKFLOW, else
    `default_workflow`, else the only one). Arguments override the config file, which overrides
    environment defaults.

    The local backend refuses a home that does not exist (a mistyped --home would otherwise
    be an empty new home where every partition looks MISSING); `create=True` (what
    `opsbook init` and `opsbook demo` pass) makes it."""
    from opsbook.workflows.registry import get_workflow

    cfg = config if isinstance(config, Config) else load_config(config, home=home, backend=backend)
    flow = get_workflow(cfg, workflow)
    cfg = cfg.for_workflow(flow)
    if cfg.backend == "local":
        from opsbook.backends.local.backend import LocalBackend

        local = LocalBackend(cfg, workflow=flow, **options)  # checks its options; no file
        if not create:
            check_home(Path(cfg.home))
        return local
    if cfg.backend == "aws":
        from opsbook.backends.aws.backend import AwsBackend

        return AwsBackend(cfg, workflow=flow, **options)
    raise ConfigError(f"unknown backend {cfg.backend!r}; use 'local' or 'aws'")


def check_home(home: Path) -> None:
    """UsageError (exit 2, one line: the path and the fix) when the local home does not exist."""
    if home.exists() and not home.is_dir():
        raise UsageError(f"OPSBOOK_HOME {home} is a file, not a folder")
    if not home.is_dir():
        where = Path(os.path.abspath(home))  # not resolve(): a symlink loop must still say this
        raise UsageError(
            f"opsbook home {where} does not exist; create it with `opsbook --home {where} init`"
            " (or point --home / OPSBOOK_HOME at an existing home)"
        )
