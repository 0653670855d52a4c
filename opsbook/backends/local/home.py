"""The local backend's home folder and what lives in it, shared by its parts (deploy, runs):
the config and workflow it serves, the paths, and the SQLite store (opened on first use)."""

from __future__ import annotations

import os
from pathlib import Path

from opsbook.backends.local.names import state_machine_arn
from opsbook.backends.local.store import Store
from opsbook.config import Config
from opsbook.errors import UsageError
from opsbook.workflows.manifest import Workflow


class LocalHome:
    """`cfg.home` for one workflow: store.sqlite, warehouse.duckdb, objects/, outbox/, cache/."""

    def __init__(self, cfg: Config, workflow: Workflow):
        self.cfg = cfg
        self.workflow = workflow
        self.home = Path(cfg.home)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            # The store is opened (and checked) before the home's folders are made: a store
            # that is refused leaves the home as it was.
            self.ensure_home(folders=False)
            store = Store(self.home / "store.sqlite")
            try:
                self.ensure_home()
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    def has_store(self) -> bool:
        """Reads on a home that was never used answer "nothing" instead of creating files."""
        if self._store is not None:
            return True
        try:
            return (self.home / "store.sqlite").exists()
        except OSError as exc:
            raise UsageError(f"cannot use the home {self.home}: {exc.strerror}") from None

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def outbox_path(self) -> Path:
        return self.home / "outbox" / "slack.jsonl"

    @property
    def definition_path(self) -> Path:
        return self.workflow.definition_path

    @property
    def sm_name(self) -> str:
        return self.cfg.state_machine_name

    @property
    def sm_arn(self) -> str:
        return state_machine_arn(self.sm_name)

    @property
    def alias_arn(self) -> str:
        return f"{self.sm_arn}:{self.cfg.alias_name}"

    def ensure_home(self, *, folders: bool = True) -> None:
        try:
            if self.home.exists() and not self.home.is_dir():
                raise UsageError(f"OPSBOOK_HOME {self.home} is a file, not a folder")
        except OSError as exc:  # a symlink loop, a name too long: one line, exit 2
            raise UsageError(f"cannot use the home {self.home}: {exc.strerror}") from None
        for sub in ("", "objects", "outbox", "cache") if folders else ("",):
            path = self.home / sub
            try:
                path.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise UsageError(
                    f"cannot use the home {self.home}: {path} is not a folder"
                ) from None
            except OSError as exc:  # /proc, a read-only or full disk, a path under a file
                raise UsageError(f"cannot create the home {path}: {exc.strerror}") from None
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
