"""The local backend's deploy side: publish the definition as versions behind the `live` alias,
copy the SQL objects, roll back and tear down (a component of LocalBackend)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsbook.backends.base import Change, DeployResult
from opsbook.backends.local.home import LocalHome
from opsbook.backends.local.names import canonical, render_definition
from opsbook.backends.local.store import StorageError, storage_problem
from opsbook.errors import UsageError

if TYPE_CHECKING:
    pass


class LocalDeploy:
    """Deploy, rollback, teardown and the live definition of one home's workflow."""

    def __init__(self, place: LocalHome):
        self.place = place

    # ------------------------------------------------------------------ deploy
    def _read_definition_file(self) -> str:
        from opsbook.engine import validate

        path = self.place.definition_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"definition {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read definition {path}: {exc}") from None
        text = render_definition(text, self.place.workflow, self.place.cfg.resource_prefix)
        diagnostics = validate(text)
        if diagnostics:
            more = f" (+{len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
            raise UsageError(f"definition {path} is invalid: {diagnostics[0]}{more}")
        return text

    def _sql_files(self) -> list[Path]:
        return self.place.workflow.sql_files()

    def _object_path(self, filename: str) -> Path:
        from opsbook.lambdas.resources import LocalObjects

        # Kept inside objects/ (config validates sql_prefix; this holds for any key).
        return LocalObjects(self.place.objects_dir).path(f"{self.place.cfg.sql_prefix}{filename}")

    @contextmanager
    def _deploy_lock(self) -> Iterator[None]:
        """One deploy/teardown at a time across processes (a version is published once)."""
        import fcntl

        # Opening the store makes the home (once the store is accepted); a read-only or full
        # disk is said as such.
        self.place.store.require_writable()
        lock = self.place.home / ".deploy.lock"
        try:
            handle = open(lock, "a+")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            problem = storage_problem(lock, exc, "the lock file")
            raise (
                StorageError(problem)
                if problem
                else UsageError(f"cannot open {lock}: {exc.strerror}")
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        if plan and (not self.place.has_store() or self.place.store.read_only):
            return self._deploy(plan=True, rollback=rollback)  # a plan writes nothing
        with self._deploy_lock():
            return self._deploy(plan=plan, rollback=rollback)

    def _deploy(self, *, plan: bool, rollback: bool) -> DeployResult:
        if rollback:
            return self._rollback(plan=plan)
        text = self._read_definition_file()
        wanted = canonical(text)
        store = self.place.store
        changes: list[Change] = []
        sm = store.get_state_machine(self.place.sm_name)
        if sm is None:
            changes.append(Change("create", "state_machine", self.place.sm_arn))
        elif canonical(sm["definition"]) != wanted:
            changes.append(
                Change("update", "state_machine", self.place.sm_arn, "definition changed")
            )
        else:
            changes.append(Change("unchanged", "state_machine", self.place.sm_arn))

        versions = store.versions(self.place.sm_name) if sm else []
        latest = versions[-1] if versions else None
        if latest is not None and canonical(latest["definition"]) == wanted:
            version_number, version_arn = latest["number"], latest["arn"]
            changes.append(Change("unchanged", "version", version_arn))
        else:
            version_number = (latest["number"] + 1) if latest else 1
            version_arn = f"{self.place.sm_arn}:{version_number}"
            changes.append(Change("create", "version", version_arn))

        alias = store.get_alias(self.place.sm_name, self.place.cfg.alias_name) if sm else None
        if alias is None:
            changes.append(
                Change("create", "alias", self.place.alias_arn, f"-> version {version_number}")
            )
        elif alias["version"] != version_number:
            changes.append(
                Change(
                    "update",
                    "alias",
                    self.place.alias_arn,
                    f"version {alias['version']} -> {version_number}",
                )
            )
        else:
            changes.append(
                Change("unchanged", "alias", self.place.alias_arn, f"-> version {version_number}")
            )

        sql_files = self._sql_files()
        for src in sql_files:
            dest = self._object_path(src.name)
            body = src.read_bytes()
            if not dest.exists():
                changes.append(
                    Change("create", "object", str(dest.relative_to(self.place.home.resolve())))
                )
            elif dest.read_bytes() != body:
                changes.append(
                    Change("update", "object", str(dest.relative_to(self.place.home.resolve())))
                )
            else:
                changes.append(
                    Change("unchanged", "object", str(dest.relative_to(self.place.home.resolve())))
                )
        result = DeployResult(
            changes, applied=False, version_arn=version_arn, alias_arn=self.place.alias_arn
        )
        if plan:
            return result

        store.put_state_machine(self.place.sm_name, self.place.sm_arn, text)
        if not any(c.kind == "version" and c.action == "unchanged" for c in changes):
            published = store.add_version(self.place.sm_name, self.place.sm_arn, text)
            version_number, version_arn = published["number"], published["arn"]
            result.version_arn = version_arn
        if alias is None or alias["version"] != version_number:
            store.set_alias(
                self.place.sm_name,
                self.place.cfg.alias_name,
                self.place.alias_arn,
                version_number,
                alias["version"] if alias else None,
            )
        for src in sql_files:
            dest = self._object_path(src.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            body = src.read_bytes()
            if not dest.exists() or dest.read_bytes() != body:
                tmp = dest.with_suffix(dest.suffix + ".tmp")
                tmp.write_bytes(body)
                os.replace(tmp, dest)
        result.applied = True
        return result

    def _rollback(self, *, plan: bool) -> DeployResult:
        alias = self.place.store.get_alias(self.place.sm_name, self.place.cfg.alias_name)
        if alias is None:
            raise UsageError("nothing is deployed yet; run `opsbook deploy` first")
        previous = alias["previous_version"]
        if previous is None:
            raise UsageError(
                f"alias {self.place.cfg.alias_name} has no previous version to roll back to"
                f" (it points at version {alias['version']})"
            )
        version_arn = f"{self.place.sm_arn}:{previous}"
        change = Change(
            "update", "alias", self.place.alias_arn, f"version {alias['version']} -> {previous}"
        )
        result = DeployResult(
            [change], applied=False, version_arn=version_arn, alias_arn=self.place.alias_arn
        )
        if not plan:
            # Keep the version we left as "previous", so a second rollback undoes the first.
            self.place.store.set_alias(
                self.place.sm_name,
                self.place.cfg.alias_name,
                self.place.alias_arn,
                previous,
                alias["version"],
            )
            result.applied = True
        return result

    def teardown(self, *, plan: bool = False, force: bool = False) -> DeployResult:
        # Local executions run inside the process that started them; `force` changes nothing.
        if plan or not self.place.has_store():
            return self._teardown(plan=plan)
        with self._deploy_lock():
            return self._teardown(plan=plan)

    def _teardown(self, *, plan: bool) -> DeployResult:
        changes: list[Change] = []
        store = self.place.store if self.place.has_store() else None
        sm = store.get_state_machine(self.place.sm_name) if store else None
        if sm is not None and store is not None:
            if store.get_alias(self.place.sm_name, self.place.cfg.alias_name):
                changes.append(Change("delete", "alias", self.place.alias_arn))
            for version in store.versions(self.place.sm_name):
                changes.append(Change("delete", "version", version["arn"]))
            changes.append(Change("delete", "state_machine", self.place.sm_arn))
        for src in self._sql_files():
            dest = self._object_path(src.name)
            if dest.exists():
                changes.append(
                    Change("delete", "object", str(dest.relative_to(self.place.home.resolve())))
                )
        result = DeployResult(changes, applied=False)
        if plan:
            return result
        if sm is not None and store is not None:
            store.delete_state_machine(self.place.sm_name)  # cascades to versions and aliases
        for src in self._sql_files():
            self._object_path(src.name).unlink(missing_ok=True)
        result.applied = True
        return result

    def live_version(self) -> str | None:
        if not self.place.has_store():
            return None
        alias = self.place.store.get_alias(self.place.sm_name, self.place.cfg.alias_name)
        return f"{self.place.sm_arn}:{alias['version']}" if alias else None

    def definition(self, version: str | None = None) -> dict[str, Any]:
        if version:
            row = self.place.store.version_by_arn(version)
            if row:
                return json.loads(row["definition"])
        live = self.live_version()
        if live:
            found = self.place.store.version_by_arn(live)
            if found:
                return json.loads(found["definition"])
        try:
            return json.loads(self.place.definition_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read definition {self.place.definition_path}: {exc}"
            ) from None

    def deployed(self) -> tuple[str, str]:
        """(version arn, definition text) that `live` points at; deploys once on first use."""
        live = self.live_version()
        if live is None:
            # A fresh home: deploy the repo's definition so `opsbook start` works at once.
            with self._deploy_lock():
                live = self.live_version()
                if live is None:
                    self._deploy(plan=False, rollback=False)
                    live = self.live_version()
        version = self.place.store.version_by_arn(live)  # type: ignore[arg-type]
        if version is None:
            raise UsageError(f"live version {live} is missing from the store; run `opsbook deploy`")
        return version["arn"], version["definition"]
