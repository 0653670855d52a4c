"""What the Lambda handlers touch, built once per call from the environment.

On AWS (WAREHOUSE=bigquery): BigQuery, S3 for the SQL templates, Secrets Manager or SSM for the
Slack webhook and the BigQuery service account. Locally: a DuckDB file, an `objects/` folder and
the webhook URL from the environment, or an outbox file when there is none. The local backend
builds `Resources` directly (see `Resources.local`).

Secrets are resolved only when needed, never stored in events, never logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opsbook.config import IDENTIFIER, PROJECT_ID, Config
from opsbook.errors import ConfigError

SECRET_KEYS = ("webhook_url", "url", "SLACK_WEBHOOK_URL")  # accepted inside a JSON secret


class ObjectNotFound(Exception):
    """A template is missing; the message names the full path (s3://bucket/key or the file)."""


class ObjectStore(Protocol):
    def get_text(self, key: str) -> str: ...

    def location(self, key: str) -> str: ...


@dataclass(frozen=True)
class LocalObjects:
    """A folder standing in for the S3 bucket: key "sql/check_records.sql" is root/sql/..."""

    root: Path

    def location(self, key: str) -> str:
        return str(Path(self.root) / key)

    def path(self, key: str) -> Path:
        """root/key, refused when it would lead outside root ("..", an absolute key, a
        symlink out): keys are config, and config never writes or reads beside the home."""
        root = Path(self.root).resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root):
            raise ConfigError(f"object key {key!r} leads outside {root}")
        return path

    def get_text(self, key: str) -> str:
        path = self.path(key)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ObjectNotFound(f"SQL template not found: {path}") from None
        except OSError as exc:
            raise ObjectNotFound(f"cannot read SQL template {path}: {exc.strerror}") from None


@dataclass
class S3Objects:
    bucket: str
    client: Any = None  # a boto3 S3 client; made on first use

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def get_text(self, key: str) -> str:
        if self.client is None:
            import boto3

            self.client = boto3.client("s3")
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore ClientError: NoSuchKey, NoSuchBucket, AccessDenied
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
                raise ObjectNotFound(f"SQL template not found: {self.location(key)}") from None
            raise ObjectNotFound(f"cannot read SQL template {self.location(key)}: {code}") from None
        return body.decode("utf-8")


class SecretResolver(Protocol):
    def resolve(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class EnvSecrets:
    """Secrets from environment variables (local runs)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def resolve(self, name: str) -> str | None:
        return self.environ.get(name) or None


@dataclass
class AwsSecrets:
    """Secrets Manager, or SSM Parameter Store when the name starts with "/"."""

    secretsmanager: Any = None
    ssm: Any = None

    def resolve(self, name: str) -> str | None:
        import boto3

        if name.startswith("/"):
            self.ssm = self.ssm or boto3.client("ssm")
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        else:
            self.secretsmanager = self.secretsmanager or boto3.client("secretsmanager")
            value = self.secretsmanager.get_secret_value(SecretId=name).get("SecretString")
        return value or None


def secret_value(raw: str | None, keys: tuple[str, ...] = SECRET_KEYS) -> str | None:
    """A secret stored as a plain string or as JSON with one of `keys`."""
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        for key in keys:
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
        return None
    return text


@dataclass
class Resources:
    """Everything a handler needs; tests and the local backend build it directly."""

    open_warehouse: Callable[[], Any]  # returns a fresh Warehouse; the handler closes it
    objects: ObjectStore
    secrets: SecretResolver = field(default_factory=EnvSecrets)
    project: str = "opsbook-local"
    dataset: str = "analytics"
    source_table: str = "events"
    target_table: str = "weekly_summary"
    sql_prefix: str = "sql/"
    # Slack: a secret name (Secrets Manager / SSM / env var), or a direct URL for tests; with
    # neither, messages go to the outbox file.
    slack_secret_name: str | None = None
    slack_webhook_url: str | None = field(default=None, repr=False)
    outbox: Path | None = None
    slack_timeout: float = 10.0  # one request
    slack_max_retries: int = 3
    slack_backoff_factor: float = 0.5
    # The whole notification, retries included: below the 60 s TimeoutSeconds of the
    # definition's Notify tasks (tests/reliability/test_hostile_webhooks.py checks it).
    slack_deadline: float = 45.0
    slack_retry_after_cap: float = 15.0  # a longer Retry-After is not waited for
    secret_patterns: tuple[str, ...] = Config().secret_patterns

    def __post_init__(self) -> None:
        if not PROJECT_ID.match(self.project):
            raise ConfigError(f"BigQuery project {self.project!r} is not a valid project id")
        for key in ("dataset", "source_table", "target_table"):
            if not IDENTIFIER.match(getattr(self, key)):
                raise ConfigError(f"{key} {getattr(self, key)!r} is not a valid identifier")

    # -- templates and warehouse

    def template_key(self, name: str) -> str:
        return f"{self.sql_prefix}{name}"

    def read_template(self, name: str) -> str:
        """The template text with table names filled in from config (never from input)."""
        from opsbook.warehouse.templates import render_template

        text = self.objects.get_text(self.template_key(name))
        return render_template(
            text,
            project=self.project,
            dataset=self.dataset,
            source=self.source_table,
            target=self.target_table,
        )

    @contextlib.contextmanager
    def warehouse(self) -> Iterator[Any]:
        wh = self.open_warehouse()
        try:
            yield wh
        finally:
            with contextlib.suppress(Exception):
                wh.close()

    # -- Slack

    def webhook_url(self) -> str | None:
        """The webhook URL, resolved now; None means "use the outbox"."""
        if self.slack_webhook_url:
            return self.slack_webhook_url
        if self.slack_secret_name:
            return secret_value(self.secrets.resolve(self.slack_secret_name))
        return None

    def redact(self, text: str) -> str:
        """`text` with the webhook URL (and its token parts), anything matching the secret
        patterns and any webhook-looking URL's path masked (opsbook.masking)."""
        from opsbook.masking import mask

        return mask(text, [self.slack_webhook_url], self.secret_patterns)

    # -- constructors

    @classmethod
    def local(
        cls,
        home: str | Path,
        *,
        config: Config | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Resources:
        """The local twin under OPSBOOK_HOME: warehouse.duckdb, objects/, outbox/slack.jsonl.
        The webhook URL comes from the environment variable named by config (SLACK_WEBHOOK_URL)."""
        from opsbook.warehouse import DuckDBWarehouse

        cfg = config or Config()
        home = Path(home)
        env = os.environ if environ is None else environ
        path = home / "warehouse.duckdb"
        values: dict[str, Any] = dict(
            open_warehouse=lambda: DuckDBWarehouse(path, project=cfg.bq_project),
            objects=LocalObjects(home / "objects"),
            secrets=EnvSecrets(env),
            project=cfg.bq_project,
            dataset=cfg.dataset,
            source_table=cfg.source_table,
            target_table=cfg.target_table,
            sql_prefix=cfg.sql_prefix,
            slack_secret_name=cfg.slack_webhook_env,
            outbox=home / "outbox" / "slack.jsonl",
            secret_patterns=cfg.secret_patterns,
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, context: Any = None) -> Resources:
        """Resources for a Lambda (WAREHOUSE=bigquery) or a local process (OPSBOOK_WAREHOUSE).
        `context` is the Lambda context, whose remaining time bounds BigQuery jobs."""
        env = os.environ if environ is None else environ
        defaults = Config()
        tables = dict(
            dataset=env.get("BQ_DATASET") or env.get("OPSBOOK_DATASET") or defaults.dataset,
            source_table=env.get("BQ_SOURCE_TABLE")
            or env.get("OPSBOOK_SOURCE_TABLE")
            or defaults.source_table,
            target_table=env.get("BQ_TARGET_TABLE")
            or env.get("OPSBOOK_TARGET_TABLE")
            or defaults.target_table,
        )
        if env.get("WAREHOUSE", "").lower() == "bigquery":
            return cls._aws(env, tables, context)
        return cls._local_env(env, tables, defaults)

    @classmethod
    def _aws(cls, env: Mapping[str, str], tables: dict[str, str], context: Any = None) -> Resources:
        project = env.get("BQ_PROJECT")
        bucket = env.get("SQL_BUCKET")
        if not project:
            raise ConfigError("environment variable BQ_PROJECT is not set (the BigQuery project)")
        if not bucket:
            raise ConfigError(
                "environment variable SQL_BUCKET is not set (the S3 bucket of SQL templates)"
            )
        secrets = AwsSecrets()
        credentials_secret = env.get("BQ_CREDENTIALS_SECRET") or ""
        credentials_config = env.get("BQ_CREDENTIALS_CONFIG") or ""
        location = env.get("BQ_LOCATION") or None
        max_bytes = int(env.get("BQ_MAXIMUM_BYTES_BILLED") or 0) or None
        max_job_seconds = float(env.get("BQ_JOB_TIMEOUT_SECONDS") or 600)
        endpoint = env.get("BQ_API_ENDPOINT") or None
        # Lambda's context says how long the function has left; jobs must end before it.
        remaining = getattr(context, "get_remaining_time_in_millis", None)

        def open_bigquery():
            from opsbook.warehouse.bigquery_jobs import BigQueryJobs, load_credentials

            if credentials_config:
                # A workload identity federation configuration shipped with the functions.
                info = function_file(credentials_config).read_text(encoding="utf-8")
            elif credentials_secret:
                # A service-account key, fetched per call and handed straight to the client.
                info = secrets.resolve(credentials_secret)
            else:
                info = None
            return BigQueryJobs(
                project,
                location=location,
                credentials=load_credentials(info),
                api_endpoint=endpoint,
                maximum_bytes_billed=max_bytes,
                max_job_seconds=max_job_seconds,
                remaining_ms=remaining,
            )

        return cls(
            open_warehouse=open_bigquery,
            objects=S3Objects(bucket),
            secrets=secrets,
            project=project,
            sql_prefix=env.get("SQL_PREFIX", "sql/"),
            slack_secret_name=env.get("SLACK_SECRET_NAME") or None,
            outbox=None,
            dataset=tables["dataset"],
            source_table=tables["source_table"],
            target_table=tables["target_table"],
        )

    @classmethod
    def _local_env(
        cls, env: Mapping[str, str], tables: dict[str, Any], defaults: Config
    ) -> Resources:
        home = Path(env.get("OPSBOOK_HOME") or ".opsbook")
        path = Path(env.get("OPSBOOK_WAREHOUSE") or home / "warehouse.duckdb")
        objects = Path(env.get("OPSBOOK_OBJECTS") or home / "objects")
        outbox = Path(env.get("OPSBOOK_OUTBOX") or home / "outbox" / "slack.jsonl")
        project = env.get("OPSBOOK_BQ_PROJECT") or defaults.bq_project

        def open_duckdb():
            from opsbook.warehouse import DuckDBWarehouse  # offline only: DuckDB, pandas

            return DuckDBWarehouse(path, project=project)

        return cls(
            open_warehouse=open_duckdb,
            objects=LocalObjects(objects),
            secrets=EnvSecrets(env),
            project=project,
            sql_prefix=env.get("OPSBOOK_SQL_PREFIX", defaults.sql_prefix),
            slack_secret_name=env.get("OPSBOOK_SLACK_WEBHOOK_ENV") or defaults.slack_webhook_env,
            outbox=outbox,
            dataset=tables["dataset"],
            source_table=tables["source_table"],
            target_table=tables["target_table"],
        )


# -- event helpers shared by the handlers

_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_DATE_KEYS = ("week", "week_start", "week_end", "check_date")


def week_params(event: Any) -> dict[str, Any]:
    """The week's dates from an event as date objects: given fields win, missing ones are
    derived from `week`. Raises ValueError naming the bad field."""
    from datetime import date

    from opsbook.errors import UsageError
    from opsbook.workflows.schedules import week_dates

    if not isinstance(event, Mapping):
        raise ValueError(f"event must be a JSON object, not {type(event).__name__}")
    out: dict[str, Any] = {}
    for key in _DATE_KEYS:
        value = event.get(key)
        if value is None:
            continue
        try:
            out[key] = date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"event field {key}={value!r} is not a date (YYYY-MM-DD)") from None
    if "week" in out:
        try:
            derived = week_dates(out["week"])._asdict()
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        out = {**derived, **out}
    missing = [k for k in _DATE_KEYS if k not in out]
    if missing:
        raise ValueError(f"event has no {missing[0]} (give at least 'week')")
    return out


def bound_params(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Only the @parameters the SQL uses (DuckDB and BigQuery refuse or warn on extras)."""
    used = set(_PARAM.findall(sql))
    return {k: v for k, v in values.items() if k in used}


def describe_error(exc: BaseException) -> str:
    """One line for a handler's {"error": ...}: the warehouse's or object store's own message."""
    from opsbook.errors import OperationFailed  # the warehouses' and BigQuery's errors

    if isinstance(exc, (OperationFailed, ObjectNotFound, ValueError)):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def function_file(relative: str) -> Path:
    """A file shipped in the function zip, by its path from the zip's root (/var/task)."""
    root = Path(__file__).resolve().parents[2]  # .../opsbook/lambdas/resources.py -> the root
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ConfigError(f"{relative} is not a path inside the function package")
    return path


def run_from_env(
    event: dict[str, Any],
    run: Callable[[dict[str, Any], Resources], dict[str, Any]],
    context: Any = None,
) -> dict[str, Any]:
    """A status-code handler's body: `run` with resources from the environment, or a 500 when
    they cannot be read (a missing variable is an answer the definition handles, not a crash)."""
    try:
        resources = Resources.from_env(context=context)
    except Exception as exc:
        return {"statusCode": 500, "error": describe_error(exc)}
    return run(event, resources)
