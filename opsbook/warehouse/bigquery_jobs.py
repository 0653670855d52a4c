"""BigQuery for the Lambda functions: query jobs over google-cloud-bigquery's REST client, with
no pandas, pyarrow or numpy (the layer does not carry them).

Credentials: a service-account key or a workload identity federation configuration
(`"type": "external_account"`, no secret in it, loaded by `google.auth.aws.Credentials`); with
federation from AWS (`credential_source.environment_id`
"aws1"), google-auth signs an AWS GetCallerIdentity request with the function's own AWS
credentials and exchanges it at the configuration's `token_url` for a Google token
(cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds).

Every job gets `maximum_bytes_billed` (a query over it fails without charge) and a
`job_timeout_ms` that ends before the function's own time does, and the client's wait is
bounded too (`QueryJob.result(timeout=...)` bounds only the wait, not the job). When the wait
runs out, the job is cancelled and its final state read back before the handler answers, so a
handler never reports a failure for a transaction that then commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from opsbook.errors import OperationFailed

BIGQUERY_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
CREDENTIAL_TYPES = ("service_account", "external_account")
# Time kept back from the function's remaining time: the job must end (or be cancelled and
# read back) while the function still runs.
JOB_MARGIN_S = 60.0
WAIT_MARGIN_S = 30.0
CANCEL_WAIT_S = 20.0


class BigQueryError(OperationFailed):
    """A BigQuery job failed, or BigQuery did not answer; the message is BigQuery's own."""


def load_credentials(info: str | bytes | Mapping[str, Any] | None) -> Any:
    """google.auth credentials from a service-account key or an external_account
    configuration (JSON text or dict); None keeps the client's default chain."""
    if info is None:
        return None
    if isinstance(info, (str, bytes)):
        try:
            info = json.loads(info)
        except ValueError:
            raise BigQueryError("BigQuery credentials are not JSON") from None
    if not isinstance(info, Mapping) or info.get("type") not in CREDENTIAL_TYPES:
        kind = info.get("type") if isinstance(info, Mapping) else type(info).__name__
        raise BigQueryError(
            f"BigQuery credentials of type {kind!r}: expected a service_account key or an "
            "external_account (workload identity federation) configuration"
        )
    from google.auth import exceptions as auth_exceptions

    try:
        if info.get("type") == "external_account":
            # Built directly: google.auth.load_credentials_from_dict would also look up the
            # project through Cloud Resource Manager, a call the functions do not need.
            from google.auth import aws

            credentials = aws.Credentials.from_info(dict(info), scopes=list(BIGQUERY_SCOPES))
        else:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(
                dict(info), scopes=list(BIGQUERY_SCOPES)
            )
    except (auth_exceptions.GoogleAuthError, ValueError, KeyError) as exc:
        raise BigQueryError(f"BigQuery credentials are not usable: {exc}") from None
    return credentials


def query_parameter(name: str, value: Any) -> Any:
    """A ScalarQueryParameter whose type follows the Python value (one given as a parameter
    already passes through; a numpy scalar counts as its Python value)."""
    from google.cloud import bigquery

    if isinstance(value, bigquery.ScalarQueryParameter):
        return value
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, decimal.Decimal):
        kind = "NUMERIC"
    elif isinstance(value, dt.datetime):
        kind = "TIMESTAMP"
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    elif isinstance(value, dt.date):
        kind = "DATE"
    elif value is None or isinstance(value, str):
        kind = "STRING"
    elif hasattr(value, "item"):  # numpy scalars (from DataFrames)
        return query_parameter(name, value.item())
    else:
        raise BigQueryError(f"query parameter @{name}: unsupported type {type(value).__name__}")
    return bigquery.ScalarQueryParameter(name, kind, value)


def google_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = first.get("message") or getattr(exc, "message", None) or str(exc)
    message = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    reason = first.get("reason")
    return f"BigQuery {reason}: {message}" if reason else f"BigQuery: {message}"


def job_budget(remaining_ms: int | None, max_job_seconds: float) -> tuple[int, float]:
    """(job_timeout_ms, client wait in s) for a function with `remaining_ms` left: the job
    ends JOB_MARGIN_S before the function does, the wait WAIT_MARGIN_S before it."""
    cap = max_job_seconds
    if remaining_ms is not None:
        left = remaining_ms / 1000.0
        cap = min(cap, left - JOB_MARGIN_S)
        wait = min(max_job_seconds + 10.0, left - WAIT_MARGIN_S)
    else:
        wait = max_job_seconds + 10.0
    if cap < 1.0:
        raise BigQueryError(
            f"not enough time left to run a BigQuery job ({remaining_ms} ms remain)"
        )
    return int(cap * 1000), max(wait, cap + 1.0)


def transaction_script(statements: list[str]) -> str:
    """The statements as one BigQuery script, BEGIN TRANSACTION ... COMMIT TRANSACTION: all or
    nothing. Each `;` stands on its own line: a statement may end in a -- comment."""
    body = "\n;\n".join(s.strip().rstrip(";") for s in statements)
    return f"BEGIN TRANSACTION;\n{body}\n;\nCOMMIT TRANSACTION;"


def last_dml_count(client: Any, job: Any) -> int:
    """Rows affected by a script's last DML statement (its statements run as child jobs)."""
    try:
        children = list(client.list_jobs(parent_job=job.job_id))
    except Exception:  # counts are informative; the script itself succeeded
        return int(job.num_dml_affected_rows or 0)
    dml = [c for c in children if getattr(c, "num_dml_affected_rows", None) is not None]
    if not dml:
        return 0
    last = max(dml, key=lambda c: c.created or dt.datetime.min.replace(tzinfo=dt.UTC))
    return int(last.num_dml_affected_rows)


class BigQueryJobs:
    """query / execute / script over one BigQuery client, as the Lambda handlers use them."""

    def __init__(
        self,
        project: str,
        *,
        location: str | None = None,
        credentials: Any = None,
        api_endpoint: str | None = None,
        maximum_bytes_billed: int | None = None,
        max_job_seconds: float = 600.0,
        remaining_ms: Callable[[], int] | None = None,
        client: Any = None,
    ):
        from google.cloud import bigquery

        self.project = project
        self.location = location
        self.maximum_bytes_billed = maximum_bytes_billed
        self.max_job_seconds = max_job_seconds
        self.remaining_ms = remaining_ms
        if client is None:
            if credentials is None and os.environ.get("BIGQUERY_EMULATOR_HOST"):
                # A local BigQuery-compatible endpoint takes no Google credentials.
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()
            options = {"api_endpoint": api_endpoint} if api_endpoint else None
            client = bigquery.Client(
                project=project,
                location=location,
                credentials=credentials,
                client_options=options,
            )
        self.client = client

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> tuple[Any, Any]:
        from google.api_core import exceptions as api_exceptions
        from google.cloud import bigquery

        remaining = self.remaining_ms() if self.remaining_ms else None
        job_timeout_ms, wait = job_budget(remaining, self.max_job_seconds)
        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            query_parameters=[query_parameter(k, v) for k, v in (params or {}).items()],
            maximum_bytes_billed=self.maximum_bytes_billed,
            job_timeout_ms=job_timeout_ms,
        )
        job = None
        try:
            job = self.client.query(sql, job_config=config, location=self.location)
            rows = job.result(timeout=wait)
        except api_exceptions.GoogleAPICallError as exc:
            raise BigQueryError(google_message(exc)) from None
        except (TimeoutError, api_exceptions.RetryError, OSError) as exc:
            if job is None:
                raise BigQueryError(f"BigQuery did not answer: {exc}") from None
            return self._after_timeout(job)
        return job, rows

    def _after_timeout(self, job: Any) -> tuple[Any, Any]:
        """The wait ran out: cancel the job, then read its final state while the function
        still runs, so what the handler answers is what happened."""
        from google.api_core import exceptions as api_exceptions

        try:
            job.cancel()
        except api_exceptions.GoogleAPICallError:
            pass  # already done; its state below says how
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            try:
                job.reload()
            except api_exceptions.GoogleAPICallError as exc:
                raise BigQueryError(google_message(exc)) from None
            if job.state == "DONE":
                break
            time.sleep(1.0)
        if job.state != "DONE":
            raise BigQueryError(f"BigQuery job {job.job_id} still running after cancel")
        if job.error_result:
            raise BigQueryError(
                f"BigQuery job {job.job_id} stopped: {job.error_result.get('message', '')}"
            )
        return job, job.result(timeout=CANCEL_WAIT_S)  # it finished before the cancel

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """The result rows as tuples."""
        _, rows = self._run(sql, params)
        return [tuple(row.values()) for row in rows]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        job, _ = self._run(sql, params)
        return int(job.num_dml_affected_rows or 0)

    def script(self, statements: list[str], params: Mapping[str, Any] | None = None) -> int:
        """One script, BEGIN TRANSACTION ... COMMIT TRANSACTION: all or nothing. Returns the
        rows affected by the last DML statement."""
        job, _ = self._run(transaction_script(statements), params)
        return last_dml_count(self.client, job)

    def close(self) -> None:
        self.client.close()
