"""What every CLI command shares: the global options (one Session per run) and `fail`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer

from opsbook.errors import OperationFailed, UsageError


@dataclass
class Session:
    """Global options; the backend is opened on first use, so bad input fails before any
    file is written."""

    backend_name: str | None = None
    home: str | None = None
    config: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _backend: Any = None
    _cfg: Any = None

    def cfg(self):
        if self._cfg is None:
            from opsbook.config import load_config

            self._cfg = load_config(self.config, home=self.home, backend=self.backend_name)
        return self._cfg

    def backend(self, **options: Any):
        if self._backend is None:
            from opsbook.backends import connect

            self._backend = connect(config=self.cfg(), **{**self.options, **options})
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
