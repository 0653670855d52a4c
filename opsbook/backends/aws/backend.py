"""The AWS backend: Step Functions executions through boto3, behind the one Backend API.

One boto3 Session; every client uses botocore's adaptive retry mode (ThrottlingException and
connection resets are retried with backoff). AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>)
is honoured by botocore itself, so the same code runs against moto or any AWS-compatible
endpoint. Credentials and region come from the standard chain unless config names a region.
Deploy and teardown live in deploy.py; the IAM policies in iam.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from opsbook.backends.aws.errors import (
    NO_CREDENTIALS,
    NO_REGION,
    aws_errors,
    error_code,
    one_line,
    translate,
)
from opsbook.backends.aws.names import Names
from opsbook.backends.base import DeployResult, Execution, dumps, normalize_status
from opsbook.config import Config
from opsbook.endpoints import is_local_emulator
from opsbook.errors import (
    ConfigError,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    OperationFailed,
    UsageError,
)
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.registry import get_workflow

log = logging.getLogger(__name__)

# botocore's own check of region names (botocore.utils.validate_region_name).
REGION_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")
PAGE = {"PageSize": 1000}  # maxResults=1000 on ListExecutions and GetExecutionHistory
STOP_SETTLE_SECONDS = 10.0
# Keyword options AwsBackend passes on to the Deployer (tests use a small layer, for one).
DEPLOY_OPTIONS = frozenset(
    {"layer_requirements", "direct_upload_limit", "package_root", "build_dir", "iam_retry"}
)


def _decode(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


class AwsBackend:
    """Backend over AWS Step Functions, Lambda, S3, IAM and EventBridge Scheduler."""

    name = "aws"

    def __init__(
        self,
        cfg: Config,
        *,
        workflow: Workflow | None = None,
        session: boto3.session.Session | None = None,
        **options: Any,
    ):
        unknown = sorted(set(options) - DEPLOY_OPTIONS)
        if unknown:
            raise UsageError(f"option {unknown[0]!r} does not apply to the aws backend")
        self.workflow = workflow or get_workflow(cfg)
        self.cfg = cfg.for_workflow(self.workflow)
        self.options = options  # passed to the deployer (layer requirements, upload limit, ...)
        # botocore reads AWS_DEFAULT_REGION and profiles; AWS_REGION is what the other SDKs read.
        region = cfg.region or os.environ.get("AWS_REGION") or None
        try:
            self.session = session or boto3.session.Session(region_name=region)
            self.session.region_name  # noqa: B018 - a missing AWS_PROFILE raises here
        except BotoCoreError as exc:
            raise translate(exc, "opening the AWS session") from None
        if not self.session.region_name:
            raise ConfigError(NO_REGION)
        if not REGION_NAME.match(self.session.region_name):
            # botocore would raise InvalidRegionError later, as an unexpected error (exit 1).
            raise ConfigError(
                f"AWS region {self.session.region_name!r} is not a region name (e.g."
                " ap-northeast-1): fix AWS_REGION (or AWS_DEFAULT_REGION) or region in the config"
            )
        try:
            credentials = self.session.get_credentials()
        except BotoCoreError as exc:
            raise translate(exc, "reading AWS credentials") from None
        if credentials is None:
            raise ConfigError(NO_CREDENTIALS)
        self.region: str = self.session.region_name
        self.boto_config = BotoConfig(
            retries={"mode": "adaptive", "max_attempts": 10},
            max_pool_connections=max(10, cfg.max_concurrency * 2),
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._names: Names | None = None
        self._closed_cache: dict[str, Execution] = {}  # closed executions, keyed by ARN
        self._alias_unsupported = False

    def __repr__(self) -> str:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        where = f", endpoint={endpoint!r}" if endpoint else ""
        return (
            f"AwsBackend(region={self.region!r}, state_machine={self.cfg.state_machine_name!r},"
            f" alias={self.cfg.alias_name!r}{where})"
        )

    # --- plumbing ---------------------------------------------------------------------------

    def client(self, service: str, *, retries: bool = True) -> Any:
        """One client per service, created under a lock (Session.client is not thread-safe).
        `retries=False` gives a client that tries once: for probing calls an endpoint may not
        implement (a 5xx there must not be retried ten times)."""
        key = service if retries else f"{service}/once"
        with self._lock:
            if key not in self._clients:
                config = self.boto_config
                if not retries:
                    config = config.merge(
                        BotoConfig(retries={"mode": "standard", "total_max_attempts": 1})
                    )
                self._clients[key] = self.session.client(service, config=config)
            return self._clients[key]

    @property
    def names(self) -> Names:
        """Names and ARNs; the first call asks STS who we are (and so checks the endpoint)."""
        if self._names is None:
            sts = self.session.client(
                "sts",
                config=BotoConfig(
                    retries={"mode": "standard", "max_attempts": 2},
                    connect_timeout=5,
                    read_timeout=15,
                ),
            )
            with aws_errors("asking STS for the AWS account"):
                account = sts.get_caller_identity()["Account"]
            self._names = Names.from_config(self.cfg, account, self.region)
        return self._names

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @property
    def local_emulator(self) -> bool:
        """True for a local AWS emulator (moto): config says so, or the Step Functions
        endpoint is a loopback address. Only then do the emulator workarounds run; against
        AWS every error surfaces as it is."""
        return is_local_emulator(self.cfg.local_emulator, self.sfn.meta.endpoint_url)

    def execution_arn(self, execution: str) -> str:
        """An execution name or ARN -> its ARN under the deployed state machine."""
        if execution.startswith("arn:"):
            return execution
        if not execution or len(execution) > 80:
            raise UsageError(f"not an execution name or ARN: {execution!r}")
        return self.names.execution_arn(execution)

    def _to_execution(
        self, data: dict[str, Any], aliases: dict[str, str | None] | None = None
    ) -> Execution:
        """A DescribeExecution response, or a ListExecutions item (input, output, error and
        cause then None). `aliases` memoizes alias targets across the items of one listing."""
        version = data.get("stateMachineVersionArn")
        alias = data.get("stateMachineAliasArn")
        if not version and alias:
            if aliases is None:
                version = self.alias_target(alias)
            else:
                if alias not in aliases:
                    aliases[alias] = self.alias_target(alias)
                version = aliases[alias]
        execution = Execution(
            arn=data["executionArn"],
            name=data["name"],
            status=data["status"],
            start_date=data["startDate"],
            state_machine_arn=data["stateMachineArn"],
            stop_date=data.get("stopDate"),
            input=_decode(data.get("input")),
            output=_decode(data.get("output")),
            error=data.get("error"),
            cause=data.get("cause"),
            version_arn=version,
            redrive_count=int(data.get("redriveCount") or 0),
            redrive_date=data.get("redriveDate"),
        )
        return replace(execution, partition=self.workflow.partition_of(execution))

    def alias_target(self, alias_arn: str) -> str | None:
        try:
            routes = self.sfn.describe_state_machine_alias(stateMachineAliasArn=alias_arn)[
                "routingConfiguration"
            ]
        except ClientError as exc:
            if error_code(exc) in ("ResourceNotFound", "StateMachineDoesNotExist", "InvalidArn"):
                return None
            raise
        return max(routes, key=lambda r: r["weight"])["stateMachineVersionArn"] if routes else None

    # --- deploy -----------------------------------------------------------------------------

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        from opsbook.backends.aws.deploy import Deployer

        return Deployer(self, **self.options).deploy(plan=plan, rollback=rollback)

    def teardown(self, *, plan: bool = False, force: bool = False) -> DeployResult:
        from opsbook.backends.aws.deploy import Deployer

        return Deployer(self, **self.options).teardown(plan=plan, force=force)

    def live_version(self) -> str | None:
        with aws_errors("reading the live alias"):
            return self.alias_target(self.names.alias_arn)

    def definition(self, version: str | None = None) -> dict[str, Any]:
        """The definition the live alias runs (or `version`, a version ARN, holds); the
        workflow's definition file before deploy."""
        version = version or self.live_version()
        if version:
            with aws_errors("reading the deployed definition"):
                return json.loads(
                    self.sfn.describe_state_machine(stateMachineArn=version)["definition"]
                )
        path = self.workflow.definition_path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None

    def warehouse(self):
        """BigQuery for reports (application default credentials), BigQuery SQL as locally."""
        from opsbook.warehouse import BigQueryWarehouse

        return BigQueryWarehouse(self.cfg.bq_project, location=self.cfg.bq_location or None)

    # --- executions -------------------------------------------------------------------------

    def start(
        self,
        input: dict[str, Any],
        *,
        name: str,
        wait: bool = True,
        scheduled_time: datetime | None = None,
    ) -> Execution:
        if scheduled_time is not None:
            raise UsageError("scheduled runs are fired by EventBridge Scheduler on AWS")
        names = self.names
        payload = dumps(input)
        with aws_errors(f"starting execution {name}"):
            try:
                arn = self._start(names, name, payload)
            except ClientError as exc:
                code = error_code(exc)
                if code == "ExecutionAlreadyExists":
                    existing = self.describe(names.execution_arn(name))
                    raise ExecutionAlreadyExists(
                        f"execution {name} already exists ({existing.status}) with "
                        f"{'another input' if existing.input != input else 'the same input'}",
                        existing=existing,
                    ) from None
                if code in ("InvalidName", "InvalidExecutionInput"):
                    message = one_line(exc.response["Error"].get("Message", ""))
                    raise UsageError(f"{code}: {message}") from None
                raise
        return self.wait(arn) if wait else self.describe(arn)

    def _start(self, names: Names, name: str, payload: str) -> str:
        """StartExecution through the live alias, as the schedule does."""
        if not self._alias_unsupported:
            try:
                return self.sfn.start_execution(
                    stateMachineArn=names.alias_arn, name=name, input=payload
                )["executionArn"]
            except ClientError as exc:
                if error_code(exc) not in ("StateMachineDoesNotExist", "InvalidArn"):
                    raise
                if self.alias_target(names.alias_arn) is None:
                    raise UsageError(
                        f"state machine {names.state_machine} has no {names.alias} alias in "
                        f"{names.region}; run `opsbook --backend aws deploy` first"
                    ) from None
                if not self.local_emulator:
                    raise  # AWS itself refused the alias: its error, not a workaround
                # The alias exists but the endpoint cannot start through it (moto): start the
                # state machine itself, which is what the alias points at after a deploy.
                log.warning(
                    "endpoint cannot start executions through an alias; using %s",
                    names.state_machine_arn,
                )
                self._alias_unsupported = True
        return self.sfn.start_execution(
            stateMachineArn=names.state_machine_arn, name=name, input=payload
        )["executionArn"]

    @contextlib.contextmanager
    def _execution_errors(self, execution: str, what: str) -> Iterator[None]:
        """aws_errors for a call on one execution, where an unknown one is ExecutionNotFound."""
        with aws_errors(what):
            try:
                yield
            except ClientError as exc:
                if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                    raise ExecutionNotFound(
                        f"no execution {execution!r} in {self.region}"
                    ) from None
                raise

    def describe(self, execution: str) -> Execution:
        arn = self.execution_arn(execution)
        if arn in self._closed_cache:
            return self._closed_cache[arn]
        with self._execution_errors(execution, f"describing {execution}"):
            result = self._to_execution(self.sfn.describe_execution(executionArn=arn))
        if result.closed and result.status == "SUCCEEDED":
            # Only SUCCEEDED is final: other closed executions can still be redriven.
            self._closed_cache[arn] = result
        return result

    def list_executions(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Execution]:
        """Executions of the state machine, newest first. Those named <prefix>-<KEY>[-r<N>] come
        from ListExecutions alone (input, output, error and cause None: describe() them); the
        others are described, 4 at a time by default, closed ones cached on disk."""
        status = normalize_status(status)
        names = self.names
        kwargs: dict[str, Any] = {"stateMachineArn": names.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        items: list[dict[str, Any]] = []
        with aws_errors("listing executions"):
            try:
                pages = self.sfn.get_paginator("list_executions").paginate(
                    **kwargs, PaginationConfig=PAGE
                )
                for page in pages:
                    for item in page["executions"]:
                        started = item["startDate"]
                        if until is not None and started >= until:
                            continue
                        if since is not None and started < since:
                            break  # newest first: everything after is older
                        items.append(item)
                    else:
                        continue
                    break
            except ClientError as exc:
                if error_code(exc) == "StateMachineDoesNotExist":
                    return []  # not deployed yet: no executions
                raise
        # A ListExecutions item already has name, status, dates, version/alias and redrive
        # count; only the input (the partition), output, error and cause need DescribeExecution.
        # opsbook's own names (<prefix>-<KEY>[-r<N>]) tell the partition: those stay listed-only;
        # the rest (scheduled runs, named randomly) are described, closed ones through
        # OPSBOOK_HOME/cache/executions (opsbook.operations.cache.ExecutionCache).
        from opsbook.operations.cache import ExecutionCache

        aliases: dict[str, str | None] = {}
        with aws_errors("describing listed executions"):
            listed = [self._to_execution(item, aliases) for item in items]
            unknown = [ex for ex in listed if not self.workflow.scheme.name_pattern.match(ex.name)]
            described = ExecutionCache(self.cfg.home).complete(
                unknown, self.describe, self.cfg.max_concurrency
            )
        full = {ex.arn: ex for ex in described}
        found = [full.get(ex.arn, ex) for ex in listed]
        return sorted(found, key=lambda e: e.start_date, reverse=True)

    def history(self, execution: str) -> list[dict[str, Any]]:
        arn = self.execution_arn(execution)
        events: list[dict[str, Any]] = []
        with self._execution_errors(execution, f"reading the history of {execution}"):
            paginator = self.sfn.get_paginator("get_execution_history")
            for page in paginator.paginate(
                executionArn=arn, includeExecutionData=True, PaginationConfig=PAGE
            ):
                events.extend(page["events"])
        return events

    def redrive(self, execution: str, *, wait: bool = True) -> Execution:
        arn = self.execution_arn(execution)
        self._closed_cache.pop(arn, None)
        with self._execution_errors(execution, f"redriving {execution}"):
            try:
                self.sfn.redrive_execution(executionArn=arn)
            except ClientError as exc:
                if error_code(exc) == "ExecutionNotRedrivable":
                    message = one_line(exc.response["Error"].get("Message", ""))
                    raise OperationFailed(
                        f"execution {execution} cannot be redriven: {message}"
                    ) from None
                raise
        return self.wait(arn) if wait else self.describe(arn)

    def stop(
        self, execution: str, *, error: str | None = None, cause: str | None = None
    ) -> Execution:
        arn = self.execution_arn(execution)
        kwargs = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        with self._execution_errors(execution, f"stopping {execution}"):
            self.sfn.stop_execution(executionArn=arn, **kwargs)
        # StopExecution answers with a stopDate; nothing promises that DescribeExecution reads
        # ABORTED at once, so give the status a few seconds to settle before reporting it.
        try:
            return self.wait(arn, timeout=STOP_SETTLE_SECONDS)
        except OperationFailed:
            return self.describe(arn)

    def wait(self, execution: str, *, timeout: float | None = None) -> Execution:
        """Poll DescribeExecution (1 s, growing to 15 s) until the execution closes."""
        if timeout is None:  # the workflow's own bound: every poll, plus an hour of work
            timeout = self.cfg.poll_seconds * self.cfg.max_polls + 3600
        deadline = time.monotonic() + timeout
        delay = 1.0
        while True:
            result = self.describe(execution)
            if result.closed:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationFailed(
                    f"execution {result.name} is still {result.status} after {timeout:.0f} s"
                )
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, 15.0)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    client.close()
            self._clients.clear()
