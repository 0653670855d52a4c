"""A loopback HTTP server that answers the BigQuery REST API v2 the way it is documented,
for testing the real google-cloud-bigquery client over real HTTP. No opsbook imports.

    with FakeBigQuery(handler) as server:           # binds 127.0.0.1, port 0
        client = bigquery.Client(project="p", credentials=AnonymousCredentials(),
                                 client_options={"api_endpoint": server.url})
        ...
        server.requests    # every request: method, path, query, body (parsed JSON)
        server.jobs        # the job resources created, by job id

`handler(sql, params) -> Result` answers one query. `params` maps each queryParameters name to
its Python value (DATE -> date, TIMESTAMP -> aware datetime, INT64 -> int, NUMERIC -> Decimal,
...). Raise `BigQueryError(reason, message)` (or any exception: reason "invalidQuery") to fail
the job with BigQuery's documented error payload. `warehouse_handler(wh)` answers with any
object that has `query(sql, params) -> DataFrame` and `execute(sql, params) -> int` (and,
for scripts, `session()`), such as opsbook's DuckDBWarehouse.

Endpoints: jobs.insert, jobs.get, jobs.getQueryResults (paged), jobs.query, jobs.list
(parentJobId), jobs.cancel. Anything else answers 404 in BigQuery's error format.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import sqlglot
from sqlglot import exp
from sqlglot.dialects.bigquery import BigQuery
from sqlglot.tokens import TokenType


class BigQueryError(Exception):
    """A query failure with a BigQuery error reason (invalidQuery, notFound, ...)."""

    STATUS = {"invalidQuery": 400, "invalid": 400, "notFound": 404, "duplicate": 409}

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def http_status(self) -> int:
        return self.STATUS.get(self.reason, 400)


@dataclass
class Result:
    """One statement's answer. fields: [(name, BigQuery type)], rows: lists of Python values."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    num_dml_affected_rows: int | None = None
    statement_type: str = "SELECT"
    children: list[Result] = field(default_factory=list)  # a script's statements


Handler = Callable[[str, dict[str, Any]], Result]


# ---------------------------------------------------------------- JSON encodings


def param_value(parameter: dict[str, Any]) -> Any:
    """A queryParameters entry -> Python value (scalars only)."""
    kind = parameter["parameterType"]["type"]
    raw = parameter.get("parameterValue", {}).get("value")
    if raw is None:
        return None
    if kind in ("INT64", "INTEGER"):
        return int(raw)
    if kind in ("FLOAT64", "FLOAT"):
        return float(raw)
    if kind in ("NUMERIC", "BIGNUMERIC"):
        return decimal.Decimal(raw)
    if kind in ("BOOL", "BOOLEAN"):
        return raw.lower() == "true"
    if kind == "DATE":
        return dt.date.fromisoformat(raw)
    if kind == "TIMESTAMP":
        value = dt.datetime.fromisoformat(raw.replace(" ", "T").replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if kind == "DATETIME":
        return dt.datetime.fromisoformat(raw.replace(" ", "T"))
    return raw


def cell(value: Any, kind: str) -> Any:
    """A Python value -> its `v` in tabledata rows (strings; TIMESTAMP as int64 microseconds)."""
    if value is None:
        return None
    try:  # pandas NA / NaT
        if value != value:
            return None
    except (TypeError, ValueError):
        pass
    if kind == "TIMESTAMP":
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return str((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind in ("DATE", "DATETIME"):
        return value.isoformat()
    if kind == "BYTES":
        return base64.b64encode(value).decode()
    if kind == "FLOAT":
        return repr(float(value))
    return str(value)


def dataframe_result(df) -> Result:
    """A pandas DataFrame -> Result, with BigQuery types read from the dtypes and values."""
    fields = [(str(name), _bq_type(df[name])) for name in df.columns]
    rows = [list(row) for row in df.itertuples(index=False, name=None)]
    return Result(fields=fields, rows=rows)


def _bq_type(series) -> str:
    dtype = str(series.dtype)
    if dtype.startswith(("Int", "int", "UInt", "uint")):
        return "INTEGER"
    if dtype.startswith("float"):
        return "FLOAT"
    if dtype in ("boolean", "bool"):
        return "BOOLEAN"
    if dtype == "dbdate":
        return "DATE"
    if dtype.startswith("datetime64") and "UTC" in dtype:
        return "TIMESTAMP"
    if dtype.startswith("datetime64"):
        return "DATETIME"
    for value in series:
        if value is None or value != value:
            continue
        if isinstance(value, decimal.Decimal):
            return "NUMERIC"
        if isinstance(value, bytes):
            return "BYTES"
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return "DATE"
        break
    return "STRING"


# ---------------------------------------------------------------- a handler over a warehouse


def split_script(sql: str) -> list[str]:
    """Top-level `;`-separated statements, original text, empties dropped."""
    out, start = [], 0
    for token in BigQuery().tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            out.append(sql[start : token.start])
            start = token.end + 1
    out.append(sql[start:])
    return [s.strip() for s in out if s.strip() and BigQuery().tokenize(s)]


def statement_type(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="bigquery")
    if isinstance(tree, exp.Query):
        return "SELECT"
    if isinstance(tree, exp.Transaction):
        return "BEGIN_TRANSACTION"
    if isinstance(tree, exp.Commit):
        return "COMMIT_TRANSACTION"
    if isinstance(tree, exp.Rollback):
        return "ROLLBACK_TRANSACTION"
    name = type(tree).__name__.upper()
    return {"CREATE": "CREATE_TABLE", "COMMAND": "SCRIPT"}.get(name, name)


def warehouse_handler(warehouse) -> Handler:
    """Answer with a warehouse (query -> DataFrame, execute -> rows affected). A script's
    statements between BEGIN TRANSACTION and COMMIT TRANSACTION run in
    `warehouse.transaction()` (an object with query/execute), so an error rolls them back."""

    def one(target, sql: str, params: dict[str, Any]) -> Result:
        kind = statement_type(sql)
        used = {k: v for k, v in params.items() if re.search(rf"@{re.escape(k)}\b", sql)}
        if kind == "SELECT":
            return dataframe_result(target.query(sql, used))
        count = target.execute(sql, used)
        dml = kind in ("INSERT", "DELETE", "UPDATE", "MERGE")
        return Result(statement_type=kind, num_dml_affected_rows=count if dml else None)

    def handle(sql: str, params: dict[str, Any]) -> Result:
        statements = split_script(sql)
        if len(statements) == 1:
            return one(warehouse, statements[0], params)
        children: list[Result] = []
        tx_context = None
        target = warehouse
        for statement in statements:
            kind = statement_type(statement)
            if kind == "BEGIN_TRANSACTION":
                tx_context = warehouse.transaction()
                target = tx_context.__enter__()
                children.append(Result(statement_type=kind))
            elif kind in ("COMMIT_TRANSACTION", "ROLLBACK_TRANSACTION") and tx_context:
                if kind == "COMMIT_TRANSACTION":
                    tx_context.__exit__(None, None, None)
                else:
                    tx_context.__exit__(RuntimeError, RuntimeError("rollback"), None)
                tx_context, target = None, warehouse
                children.append(Result(statement_type=kind))
            else:
                try:
                    children.append(one(target, statement, params))
                except BaseException as exc:
                    if tx_context is not None:  # BigQuery rolls the transaction back
                        try:
                            tx_context.__exit__(type(exc), exc, exc.__traceback__)
                        except BaseException:
                            pass
                    raise
        if tx_context is not None:  # BigQuery rolls back a transaction left open
            error = BigQueryError("invalidQuery", "Transaction is not committed at script end")
            tx_context.__exit__(BigQueryError, error, None)
            raise error
        last = children[-1] if children else Result()
        return Result(
            fields=last.fields, rows=last.rows, statement_type="SCRIPT", children=children
        )

    return handle


# ---------------------------------------------------------------- the server


class FakeBigQuery:
    def __init__(
        self,
        handler: Handler,
        *,
        page_size: int = 1000,
        bearer: str | None = None,
        hold: bool = False,
    ):
        self.handler = handler
        # With `bearer`, every request must carry "Authorization: Bearer <bearer>" (401 else).
        self.bearer = bearer
        # With `hold`, inserted jobs stay RUNNING (their SQL not run) until jobs.cancel, which
        # stops them as BigQuery documents: DONE with errorResult reason "stopped".
        self.hold = hold
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results: dict[str, Result] = {}
        self.errors: dict[str, BigQueryError] = {}
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBigQuery:
        fake = self

        class RequestHandler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                fake._dispatch(self, "GET")

            def do_POST(self):
                fake._dispatch(self, "POST")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBigQuery:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def queries(self) -> list[dict[str, Any]]:
        """The query configurations received (jobs.insert and jobs.query), in order."""
        out = []
        for r in self.requests:
            body = r["body"] or {}
            if r["method"] == "POST" and r["path"].endswith("/jobs"):
                out.append(body.get("configuration", {}).get("query", {}))
            elif r["method"] == "POST" and r["path"].endswith("/queries"):
                out.append(body)
        return out

    # -- HTTP plumbing

    def _dispatch(self, request, method: str) -> None:
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        authorization = request.headers.get("Authorization")
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": url.path,
                    "query": query,
                    "body": body,
                    "authorization": authorization,
                }
            )
        if self.bearer is not None and authorization != f"Bearer {self.bearer}":
            status, payload = (
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request is missing required authentication credential.",
                        "status": "UNAUTHENTICATED",
                        "errors": [{"reason": "required", "message": "Login Required."}],
                    }
                },
            )
        else:
            status, payload = self._route(method, url.path, query, body)
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=UTF-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(self, method, path, query, body):
        m = re.fullmatch(
            r"/bigquery/v2/projects/([^/]+)/(jobs|queries)(?:/([^/]+))?(/cancel)?", path
        )
        if not m:
            return _error(404, "notFound", f"Not found: {method} {path}")
        project, collection, job_id, cancel = m.groups()
        if collection == "jobs" and method == "POST" and job_id is None:
            return 200, self._insert(project, body or {})
        if collection == "jobs" and method == "GET" and job_id is None:
            return 200, self._list(project, query)
        if collection == "jobs" and method == "GET":
            job = self.jobs.get(job_id)
            return (
                (200, job) if job else _error(404, "notFound", f"Not found: Job {project}:{job_id}")
            )
        if collection == "jobs" and cancel:
            job = self.jobs.get(job_id)
            if not job:
                return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
            if job["status"]["state"] == "RUNNING":
                detail = {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"}  # fmt: skip
                job["status"] = {"state": "DONE", "errorResult": detail, "errors": [detail]}
                self.errors[job_id] = BigQueryError("stopped", detail["message"])
            return 200, {"kind": "bigquery#jobCancelResponse", "job": job}
        if collection == "queries" and method == "POST" and job_id is None:
            return self._query(project, body or {})
        if collection == "queries" and method == "GET":
            return self._get_query_results(project, job_id, query)
        return _error(405, "invalid", f"{method} not allowed on {path}")

    # -- the API

    def _run(self, project: str, job_id: str, location: str | None, config: dict) -> dict:
        sql = config.get("query", "")
        params = {p["name"]: param_value(p) for p in config.get("queryParameters", [])}
        now = str(int(time.time() * 1000))
        job = {
            "kind": "bigquery#job",
            "id": f"{project}:{location or 'US'}.{job_id}",
            "selfLink": f"/bigquery/v2/projects/{project}/jobs/{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": location or "US"},
            "configuration": {"jobType": "QUERY", "query": config},
            "statistics": {"creationTime": now, "startTime": now, "query": {}},
            "status": {"state": "DONE"},
        }
        try:
            result = self.handler(sql, params)
        except Exception as exc:  # the documented failed-job shape
            error = (
                exc if isinstance(exc, BigQueryError) else BigQueryError("invalidQuery", str(exc))
            )
            detail = {"reason": error.reason, "location": "query", "message": error.message}
            job["status"] = {"state": "DONE", "errorResult": detail, "errors": [detail]}
            self.errors[job_id] = error
        else:
            stats = job["statistics"]
            stats["endTime"] = now
            stats["query"]["statementType"] = result.statement_type
            if result.num_dml_affected_rows is not None:
                stats["query"]["numDmlAffectedRows"] = str(result.num_dml_affected_rows)
            if result.children:
                stats["numChildJobs"] = str(len(result.children))
            self.results[job_id] = result
            for i, child in enumerate(result.children):
                self._child(project, location, job_id, i, child)
        with self._lock:
            self.jobs[job_id] = job
        return job

    def _child(self, project, location, parent_id, index, result: Result) -> None:
        child_id = f"script_job_{uuid.uuid4().hex}_{index}"
        created = str(int(time.time() * 1000) + index)  # keeps execution order visible
        stats: dict[str, Any] = {
            "creationTime": created,
            "parentJobId": parent_id,
            "query": {"statementType": result.statement_type},
        }
        if result.num_dml_affected_rows is not None:
            stats["query"]["numDmlAffectedRows"] = str(result.num_dml_affected_rows)
        self.jobs[child_id] = {
            "kind": "bigquery#job",
            "id": f"{project}:{location or 'US'}.{child_id}",
            "jobReference": {"projectId": project, "jobId": child_id, "location": location or "US"},
            "configuration": {"jobType": "QUERY", "query": {"query": ""}},
            "statistics": stats,
            "status": {"state": "DONE"},
        }
        self.results[child_id] = result

    def _insert(self, project: str, body: dict) -> dict:
        ref = body.get("jobReference", {})
        job_id = ref.get("jobId") or f"job_{uuid.uuid4().hex}"
        if self.hold:
            job = {
                "kind": "bigquery#job",
                "id": f"{project}:{ref.get('location') or 'US'}.{job_id}",
                "jobReference": {"projectId": project, "jobId": job_id, "location": ref.get("location") or "US"},
                "configuration": {"jobType": "QUERY", **body["configuration"]},
                "statistics": {"creationTime": str(int(time.time() * 1000))},
                "status": {"state": "RUNNING"},
            }  # fmt: skip
            with self._lock:
                self.jobs[job_id] = job
            return job
        return self._run(project, job_id, ref.get("location"), body["configuration"]["query"])

    def _query(self, project: str, body: dict):
        job_id = f"job_{uuid.uuid4().hex}"
        job = self._run(project, job_id, body.get("location"), body)
        if job_id in self.errors:
            error = self.errors[job_id]
            return _error(error.http_status, error.reason, error.message)
        page = self._page(job_id, None, body.get("maxResults"))
        return 200, {"kind": "bigquery#queryResponse", **page, "jobReference": job["jobReference"]}

    def _list(self, project: str, query: dict) -> dict:
        parent = query.get("parentJobId")
        jobs = [
            {**j, "state": j["status"]["state"]}
            for j in self.jobs.values()
            if parent is None or j["statistics"].get("parentJobId") == parent
        ]
        jobs.sort(key=lambda j: int(j["statistics"]["creationTime"]), reverse=True)  # newest first
        return {"kind": "bigquery#jobList", "jobs": jobs}

    def _get_query_results(self, project: str, job_id: str, query: dict):
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
        if job_id in self.errors:
            error = self.errors[job_id]
            return _error(error.http_status, error.reason, error.message)
        if job["status"]["state"] == "RUNNING":
            return 200, {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": job["jobReference"],
                "jobComplete": False,
            }
        max_results = query.get("maxResults")
        page = self._page(job_id, query.get("pageToken"), max_results)
        return 200, {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            **page,
        }

    def _page(self, job_id: str, token: str | None, max_results) -> dict:
        result = self.results[job_id]
        start = int(token or 0)
        size = self.page_size if max_results is None else int(max_results)
        rows = result.rows[start : start + size]
        kinds = [k for _, k in result.fields]
        page: dict[str, Any] = {
            "jobComplete": True,
            "cacheHit": False,
            "schema": {
                "fields": [{"name": n, "type": k, "mode": "NULLABLE"} for n, k in result.fields]
            },
            "totalRows": str(len(result.rows)),
            "totalBytesProcessed": "0",
            "rows": [
                {"f": [{"v": cell(v, k)} for v, k in zip(r, kinds, strict=True)]} for r in rows
            ],
        }
        if result.num_dml_affected_rows is not None:
            page["numDmlAffectedRows"] = str(result.num_dml_affected_rows)
        if start + size < len(result.rows):
            page["pageToken"] = str(start + size)
        return page


def _error(status: int, reason: str, message: str):
    names = {
        400: "INVALID_ARGUMENT",
        404: "NOT_FOUND",
        405: "INVALID_ARGUMENT",
        409: "ALREADY_EXISTS",
    }
    return status, {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": names.get(status, "UNKNOWN"),
        }
    }
