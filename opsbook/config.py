"""Configuration: defaults < config file < environment < explicit arguments.

Every key has a default, so `opsbook` works with no config file at all.
The config file is TOML (`--config FILE`, or `$OPSBOOK_HOME/config.toml` when present).
"""

from __future__ import annotations

import errno
import os
import re
import select
import stat
import time
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from opsbook.errors import ConfigError
from opsbook.lambda_build.targets import DEFAULT_ARCHITECTURE, DEFAULT_RUNTIME

# Table, dataset and project names are never formatted in from user input; they come from
# config and must match these patterns.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Step Functions names (CreateStateMachine, StateMachineListItem.name): 1-80 characters, no
# whitespace, brackets < > { } [ ], wildcards ? *, special characters " # % \ ^ | ~ ` $ & , ; : /
# or control characters.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StateMachineListItem.html
STATE_MACHINE_NAME = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")
# Alias names (CreateStateMachineAlias): 1-80 of [a-zA-Z0-9_.-] with at least one non-digit
# ("to avoid conflict with version ARNs, don't use an integer").
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachineAlias.html
ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_.-])[a-zA-Z0-9_.-]{1,80}$")
# The prefix names Lambda functions, IAM roles and the default S3 bucket
# (<prefix>-sql-<account>-<region>), so it takes the strictest of their rules: S3's
# lower-case letters, digits and hyphens.
RESOURCE_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Keys under objects/ (and S3): relative segments, no "..", ending in "/".
SQL_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+/)*$")
# S3 general purpose bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter or
# digit, no "..", not an IP address ("General purpose bucket naming rules").
S3_BUCKET = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# AWS region names (ap-northeast-1, us-gov-west-1, cn-north-1, eu-isoe-west-1).
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# BigQuery locations: multi-regions (US, EU) and regions (asia-northeast1).
BQ_LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,40}$")
# Secrets Manager names: ASCII letters, digits and /_+=.@- (CreateSecret); SSM parameter
# names (a leading "/"): letters, digits and _.-/ (PutParameter). No wildcard, so a name can
# never widen the IAM policy that reads it.
SECRET_NAME = re.compile(r"^(/[A-Za-z0-9_./-]{1,2047}|[A-Za-z0-9/_+=.@-]{1,512})$")
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; refuse anything this big
PIPE_WAIT = 10  # seconds a config given through a pipe may take to arrive
# Integer settings and their ranges.
INT_RANGES = {
    "poll_seconds": (0, 365 * 24 * 3600),
    "max_polls": (1, 1000),
    "max_concurrency": (1, 50),
    "max_partitions": (1, 100_000),
    "notify_every": (0, 1000),  # a poll count, like max_polls
}
BACKENDS = ("local", "aws")
REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(__file__).resolve().parent
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192}
    | {2557, 2922, 3288, 3653}
)


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
    notify_every: int = 6  # Slack hears of polling on the first poll, then every Nth
    # Warehouse
    bq_project: str = "opsbook-local"
    dataset: str = "analytics"
    source_table: str = "events"
    target_table: str = "weekly_summary"
    bq_location: str = "asia-northeast1"
    bq_credentials_secret: str = ""  # Secrets Manager name holding a service-account JSON
    # A workload identity federation configuration (type external_account, no secret in it)
    # that deploy ships with the functions: the keyless route from AWS to BigQuery.
    bq_credentials_config: str = ""
    bq_maximum_bytes_billed: int = 10 * 1024**3  # each query fails (unbilled) above this
    # AWS
    region: str = ""  # empty: the standard chain (AWS_REGION / AWS_DEFAULT_REGION / profile)
    resource_prefix: str = "opsbook"
    sql_bucket: str = ""  # empty: "<prefix>-sql-<account>-<region>"
    sql_prefix: str = "sql/"
    max_concurrency: int = 4
    # Lambda: the runtime decides the Python version and glibc the layer is built for.
    lambda_runtime: str = DEFAULT_RUNTIME  # python3.11: what this project can import-test
    lambda_architecture: str = DEFAULT_ARCHITECTURE  # x86_64, or arm64
    # Observability: retention of every log group deploy creates, state machine logs at ERROR
    # (execution inputs and outputs only when turned on), alarms sent to an optional SNS topic.
    log_retention_days: int = 30
    log_execution_data: bool = False
    alarm_topic_arn: str = ""
    # True only for a local AWS emulator (moto): enables its workarounds. Also on when
    # AWS_ENDPOINT_URL points at a loopback address.
    local_emulator: bool = False
    # `schedule run` and `rerun` over more weeks than this need --yes.
    max_partitions: int = 53
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

    def known_secrets(self) -> list[str]:
        """Secret values this process knows (the webhook URL from its environment variable),
        masked with their token parts wherever opsbook stores, logs, prints or renders."""
        value = os.environ.get(self.slack_webhook_env) if self.slack_webhook_env else None
        return [value] if value else []

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
        from opsbook.lambda_build.targets import architecture, runtime

        runtime(self.lambda_runtime)
        architecture(self.lambda_architecture)
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigError(
                f"config key log_retention_days={self.log_retention_days} is not one CloudWatch "
                "Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)"
            )
        if self.bq_maximum_bytes_billed < 0:
            raise ConfigError("config key bq_maximum_bytes_billed must be >= 0 (0: no limit)")
        if self.alarm_topic_arn and not SNS_TOPIC_ARN.match(self.alarm_topic_arn):
            raise ConfigError(
                f"config key alarm_topic_arn={self.alarm_topic_arn!r} is not an SNS topic ARN"
                " (arn:aws:sns:<region>:<account>:<name>)"
            )
        for key, rule, what in (
            ("sql_bucket", S3_BUCKET, "an S3 bucket name (3-63 of a-z 0-9 . -)"),
            ("region", REGION, "an AWS region name (e.g. ap-northeast-1)"),
            ("bq_location", BQ_LOCATION, "a BigQuery location (e.g. US, asia-northeast1)"),
            ("slack_secret_name", SECRET_NAME, "a Secrets Manager name or an SSM parameter path"),
            ("bq_credentials_secret", SECRET_NAME, "a Secrets Manager name or an SSM path"),
        ):
            value = getattr(self, key)
            if value and not rule.match(value):
                raise ConfigError(f"config key {key}={value!r} is not {what}")
        if self.poll_seconds < 0 or self.max_polls < 1:
            raise ConfigError("poll_seconds must be >= 0 and max_polls >= 1")
        if self.notify_every < 0:
            raise ConfigError("notify_every must be >= 0 (0: only the first poll is announced)")
        for key, (low, high) in INT_RANGES.items():
            _check_int(key, getattr(self, key), low, high)
        # Empty: the workflow's manifest names the state machine (checked when it is loaded).
        if self.state_machine_name and not STATE_MACHINE_NAME.match(self.state_machine_name):
            raise ConfigError(
                f"config key state_machine_name={self.state_machine_name!r} is not a Step"
                " Functions name (1-80 characters; no whitespace, brackets, wildcards,"
                ' " # % \\ ^ | ~ ` $ & , ; : / or control characters)'
            )
        if not ALIAS_NAME.match(self.alias_name):
            raise ConfigError(
                f"config key alias_name={self.alias_name!r} is not a Step Functions alias name"
                " (1-80 of letters, digits, _ . -, not only digits)"
            )
        if not RESOURCE_PREFIX.match(self.resource_prefix):
            raise ConfigError(
                f"config key resource_prefix={self.resource_prefix!r} must be 1-32 lower-case"
                " letters, digits and hyphens (it names Lambda functions, roles and the bucket)"
            )
        if not SQL_PREFIX.match(self.sql_prefix) or any(
            part in (".", "..") for part in self.sql_prefix.split("/")
        ):
            raise ConfigError(
                f"config key sql_prefix={self.sql_prefix!r} must be a relative folder like"
                " 'sql/' (segments of letters, digits, _ . -; no '..', no leading '/')"
            )
        if self.slack_webhook_env and not ENV_NAME.match(self.slack_webhook_env):
            raise ConfigError(
                f"config key slack_webhook_env={self.slack_webhook_env!r} is not an environment"
                " variable name"
            )
        for pattern in self.secret_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"secret pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        return self


_FIELDS = {f.name: f for f in fields(Config)}


def _check_int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config key {key} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"config key {key} must be between {low} and {high}, not {value}")
    return value


def _coerce(key: str, value: Any) -> Any:
    default = _FIELDS[key].default
    kind = type(default) if default is not None and not callable(default) else None
    if key in ("home", "definitions_dir"):
        if not isinstance(value, (str, Path)) or not str(value) or "\0" in str(value):
            raise ConfigError(f"config key {key} must be a path (a non-empty string)")
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
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"config key {key} must be true or false, not {value!r}")
    if kind is int:
        # Integers are integers: 1.9 is not silently 1, 1e400 is not an OverflowError. The
        # environment gives text, so a string of digits is read as one.
        low, high = INT_RANGES.get(key, (-(2**63), 2**63 - 1))
        return _check_int(key, value, low, high)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key} must be a string, not {value!r}")
        if key == "state_machine_name" and not value:
            # Unset, the workflow's manifest names it; set, it must be a name.
            raise ConfigError(
                "config key state_machine_name is empty; give a Step Functions name (1-80"
                " characters) or leave it out to use the workflow's own"
            )
    return value


def _read_bounded(path: Path) -> bytes:
    """At most one byte past MAX_CONFIG_BYTES (/dev/zero or a huge file is refused without
    reading it all). Opened non-blocking, so a FIFO nobody writes to cannot hang the
    command; a pipe (`--config <(...)`) is read until its end or PIPE_WAIT seconds."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            os.set_blocking(fd, True)
            return os.read(fd, MAX_CONFIG_BYTES + 1)
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + PIPE_WAIT
        while size <= MAX_CONFIG_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ConfigError(f"config file {path} gave no end of data within {PIPE_WAIT} s")
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if not chunks:
            raise ConfigError(f"config file {path} is a pipe with nothing written to it")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = _read_bounded(path)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is too large (over {MAX_CONFIG_BYTES // 1024} KiB); give a"
            " TOML file of settings"
        )
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
        try:
            if candidate.is_file():
                file_path = candidate
        except OSError as exc:  # a name too long, a loop: the home itself is unusable
            raise ConfigError(f"cannot use the home {candidate.parent}: {exc.strerror}") from None
    if file_path is not None:
        values.update(read_config_file(file_path))
    for key in _FIELDS:
        env = os.environ.get(f"OPSBOOK_{key.upper()}")
        if env is not None and key not in ("home", "workflows"):
            # The environment only holds text: a whole number in it is read as one.
            if isinstance(_FIELDS[key].default, int) and re.fullmatch(r"\s*-?\d{1,18}\s*", env):
                values[key] = int(env)
            else:
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
