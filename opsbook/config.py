"""Configuration: defaults < config file < environment < explicit arguments.

Every key has a default, so `opsbook` works with no config file at all.
The config file is TOML (`--config FILE`, or `$OPSBOOK_HOME/config.toml` when present).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from opsbook.errors import ConfigError

# Table, dataset and project names are never formatted in from user input; they come from
# config and must match these patterns.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
BACKENDS = ("local", "aws")
REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(__file__).resolve().parent


# Keys a [workflows.<name>] table may set for one workflow.
WORKFLOW_KEYS = (
    "state_machine_name", "alias_name", "poll_seconds", "max_polls", "dataset",
    "source_table", "target_table",
)  # fmt: skip


@dataclass(frozen=True)
class Config:
    backend: str = "local"
    home: Path = Path(".opsbook")
    # The user's workflow folders (<definitions_dir>/<name>/workflow.toml), beside the shipped
    # ones; which workflow commands act on: `workflow` (--workflow), else `default_workflow`,
    # else the only one.
    definitions_dir: Path = Path("definitions")
    workflow: str = ""
    default_workflow: str = ""
    # Per-workflow settings: {"weekly_load": {"poll_seconds": 300}}, from [workflows.<name>].
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Workflow (empty: the manifest's state machine name)
    state_machine_name: str = ""
    alias_name: str = "live"
    poll_seconds: int = 600
    max_polls: int = 18
    # Warehouse
    bq_project: str = "opsbook-local"
    dataset: str = "analytics"
    source_table: str = "events"
    target_table: str = "weekly_summary"
    bq_location: str = "asia-northeast1"
    bq_credentials_secret: str = ""  # Secrets Manager name holding a service-account JSON
    # AWS
    region: str = ""  # empty: the standard chain (AWS_REGION / AWS_DEFAULT_REGION / profile)
    resource_prefix: str = "opsbook"
    sql_bucket: str = ""  # empty: "<prefix>-sql-<account>-<region>"
    sql_prefix: str = "sql/"
    max_concurrency: int = 4
    # Slack: the URL is resolved at run time and never travels in execution input.
    slack_webhook_env: str = "SLACK_WEBHOOK_URL"
    slack_secret_name: str = (
        "opsbook/slack-webhook"  # Secrets Manager, or SSM when it starts with "/"
    )
    slack_username: str = "opsbook"
    slack_icon_emoji: str = ":calendar:"
    # Values that history views and reports redact.
    secret_patterns: tuple[str, ...] = (
        r"https://hooks\.slack\.com/\S+",
        r"xox[abprs]-[A-Za-z0-9-]+",
    )

    @property
    def fqn_source(self) -> str:
        return f"{self.bq_project}.{self.dataset}.{self.source_table}"

    @property
    def fqn_target(self) -> str:
        return f"{self.bq_project}.{self.dataset}.{self.target_table}"

    def for_workflow(self, workflow: Any) -> Config:
        """This config as one workflow sees it: its [workflows.<name>] table applied and
        the state machine name from its manifest unless the config names one."""
        table = {k: _coerce(k, v) for k, v in self.workflows.get(workflow.name, {}).items()}
        table.setdefault(
            "state_machine_name", self.state_machine_name or workflow.state_machine_name
        )
        return replace(self, workflow=workflow.name, **table).validate()

    def validate(self) -> Config:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        for key in ("dataset", "source_table", "target_table"):
            value = getattr(self, key)
            if not IDENTIFIER.match(value):
                raise ConfigError(
                    f"config key {key}={value!r} is not a valid identifier ([A-Za-z_][A-Za-z0-9_]*)"
                )
        if not PROJECT_ID.match(self.bq_project):
            raise ConfigError(
                f"config key bq_project={self.bq_project!r} is not a valid project id"
            )
        if self.poll_seconds < 0 or self.max_polls < 1:
            raise ConfigError("poll_seconds must be >= 0 and max_polls >= 1")
        for pattern in self.secret_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"secret pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        return self


_FIELDS = {f.name: f for f in fields(Config)}


def _coerce(key: str, value: Any) -> Any:
    default = _FIELDS[key].default
    kind = type(default) if default is not None and not callable(default) else None
    if key in ("home", "definitions_dir"):
        return Path(os.path.expanduser(str(value)))
    if key == "workflows":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError("config key workflows must be tables: [workflows.<name>]")
        for name, table in value.items():
            unknown = sorted(set(table) - set(WORKFLOW_KEYS))
            if unknown:
                raise ConfigError(
                    f"[workflows.{name}]: unknown key {unknown[0]!r} (per-workflow keys:"
                    f" {', '.join(WORKFLOW_KEYS)})"
                )
            for k, v in table.items():
                _coerce(k, v)
        return {name: dict(table) for name, table in value.items()}
    if key == "secret_patterns":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError("config key secret_patterns must be a list of strings")
        return tuple(value)
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key} must be an integer, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key} must be an integer, not {value!r}") from None
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key} must be a string, not {value!r}")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    data = data.get("opsbook", data)  # accept a top-level [opsbook] table
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: opsbook must be a table ([opsbook]) of settings")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r}")
    return data


def load_config(
    path: str | Path | None = None,
    *,
    home: str | Path | None = None,
    backend: str | None = None,
    **overrides: Any,
) -> Config:
    """Build the Config: defaults, then the file, then OPSBOOK_* environment, then arguments."""
    values: dict[str, Any] = {}
    env_home = os.environ.get("OPSBOOK_HOME")
    home_path = Path(home) if home else Path(env_home) if env_home else None
    file_path = Path(path) if path else None
    if file_path is None:
        candidate = (home_path or Path(".opsbook")) / "config.toml"
        if candidate.is_file():
            file_path = candidate
    if file_path is not None:
        values.update(read_config_file(file_path))
    for key in _FIELDS:
        env = os.environ.get(f"OPSBOOK_{key.upper()}")
        if env is not None and key not in ("home", "workflows"):
            values[key] = env
    if home_path is not None:
        values["home"] = home_path
    if backend:
        values["backend"] = backend
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}")
    coerced = {k: _coerce(k, v) for k, v in values.items()}
    return replace(Config(), **coerced).validate()
