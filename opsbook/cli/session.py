"""What every CLI command shares: the global options (one Session per run) and `fail`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer

from opsbook.backends.base import Backend
from opsbook.config import Config
from opsbook.errors import OperationFailed, UsageError
from opsbook.workflows.manifest import Workflow


@dataclass
class Session:
    """Global options; the backend is opened on first use, so bad input fails before any
    file is written."""

    backend_name: str | None = None
    home: str | None = None
    config: str | None = None
    workflow_name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _backend: Any = None
    _cfg: Any = None

    def base_cfg(self) -> Config:
        """The configuration before a workflow is chosen."""
        from opsbook.config import load_config

        return load_config(
            self.config, home=self.home, backend=self.backend_name, workflow=self.workflow_name
        )

    def workflow(self) -> Workflow:
        """The workflow the command acts on (--workflow, OPSBOOK_WORKFLOW, default_workflow,
        or the only one)."""
        from opsbook.workflows.registry import get_workflow

        return get_workflow(self.base_cfg())

    def cfg(self) -> Config:
        """The configuration as the chosen workflow sees it."""
        if self._cfg is None:
            from opsbook.operations.display import use_zone

            workflow = self.workflow()
            use_zone(workflow.scheme.timezone)  # every time shown: UTC and this zone
            self._cfg = self.base_cfg().for_workflow(workflow)
        return self._cfg

    def require_home(self) -> None:
        """UsageError (exit 2, one line: the path and the fix) when the local backend's home
        does not exist; the AWS backend keeps nothing there that a command needs."""
        from pathlib import Path

        from opsbook.backends import check_home

        cfg = self.base_cfg()
        if cfg.backend == "local":
            check_home(Path(cfg.home))

    def backend(self, **options: Any) -> Backend:
        if self._backend is None:
            from opsbook.backends import connect

            cfg = self.cfg()
            self._backend = connect(
                config=cfg, workflow=cfg.workflow, **{**self.options, **options}
            )
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):
        obj = Session()
        ctx.find_root().obj = obj
    return obj


def fail(message: str, code: int = 2) -> NoReturn:
    raise UsageError(message) if code == 2 else OperationFailed(message)
