"""Backends: `connect()` returns the local or AWS implementation of one Backend API."""

from __future__ import annotations

from pathlib import Path

from opsbook.backends.base import Backend, Change, DeployResult, Execution
from opsbook.config import Config, load_config
from opsbook.errors import ConfigError

__all__ = ["Backend", "Change", "DeployResult", "Execution", "connect"]


def connect(
    backend: str | None = None,
    *,
    home: str | Path | None = None,
    config: str | Path | Config | None = None,
    **options,
) -> Backend:
    """Open a backend. Arguments override the config file, which overrides environment defaults."""
    cfg = config if isinstance(config, Config) else load_config(config, home=home, backend=backend)
    if cfg.backend == "local":
        from opsbook.backends.local.backend import LocalBackend

        return LocalBackend(cfg, **options)
    if cfg.backend == "aws":
        from opsbook.backends.aws.backend import AwsBackend

        return AwsBackend(cfg, **options)
    raise ConfigError(f"unknown backend {cfg.backend!r}; use 'local' or 'aws'")
