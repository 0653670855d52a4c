"""`deploy` and `teardown` on AWS: compare what exists with what should, change only the rest.

Every step reads the current resource, decides create / update / unchanged, and applies only when
not planning. Resources carry the tag opsbook:managed-by=opsbook; teardown deletes only what
has the deploy names and that tag, so it never touches anything else.

Order (each step needs the ones before it): bucket, SQL templates, secrets, IAM roles, log
groups, dead-letter queue, layer, functions (the tasks' and the schedule's starter), state
machine + version, alias, schedule.

This module runs the steps in order and holds the S3 ones; the others are components the
Deployer builds around one DeployContext (context.py: clients, names, config, the change
recorder), one module per resource family: access (secrets, IAM roles), functions (layer,
functions), states (state machine, versions, alias, schedule), observability (log groups,
dead-letter queue, alarms). Shared helpers are in common.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws import packaging
from opsbook.backends.aws.access import AccessSteps
from opsbook.backends.aws.alerts import ensure_failure_alerts, remove_failure_alerts
from opsbook.backends.aws.common import (
    IAM_RETRY,
    NOT_FOUND,
    RUNTIME,
    missing,
    read_json,
)
from opsbook.backends.aws.context import DeployContext, DeployTarget
from opsbook.backends.aws.errors import aws_errors, error_code
from opsbook.backends.aws.functions import LambdaSteps
from opsbook.backends.aws.iam import MANAGED_TAG, Names, sql_templates
from opsbook.backends.aws.observability import Observability
from opsbook.backends.aws.states import StatesSteps
from opsbook.backends.base import Change, DeployResult
from opsbook.config import Config
from opsbook.errors import ConfigError, UsageError
from opsbook.lambda_build.configured import build_for_config
from opsbook.workflows.templates import PLACEHOLDER, substitute

__all__ = [
    "IAM_RETRY", "NOT_FOUND", "PLACEHOLDER", "RUNTIME", "Deployer",
    "substitute",
]  # fmt: skip


def check_bigquery_route(cfg: Config) -> None:
    """Refuse a deploy whose functions could not reach BigQuery: no credential route, or the
    offline default project."""
    if cfg.bq_project == Config().bq_project:
        raise ConfigError(
            f"bq_project is still the offline default {cfg.bq_project!r}; set bq_project to "
            "your BigQuery project before deploying to AWS"
        )
    if cfg.bq_credentials_config and cfg.bq_credentials_secret:
        raise ConfigError(
            "both bq_credentials_config and bq_credentials_secret are set; keep one BigQuery "
            "credential route"
        )
    if not cfg.bq_credentials_config and not cfg.bq_credentials_secret:
        raise ConfigError(
            "no BigQuery credentials for the functions: set bq_credentials_config (workload "
            "identity federation, recommended) or bq_credentials_secret (a key in Secrets Manager)"
        )


class Deployer:
    """One deploy or teardown run against the backend's clients: it runs the steps in order
    and holds the S3 ones; the other steps are components sharing one DeployContext."""

    def __init__(
        self,
        backend: DeployTarget,
        *,
        layer_requirements: tuple[str, ...] | None = None,
        direct_upload_limit: int = packaging.DIRECT_UPLOAD_LIMIT,
        package_root: Path = packaging.PACKAGE_ROOT,
        build_dir: Path | None = None,
        iam_retry: tuple[int, float] = IAM_RETRY,
    ):
        self.backend = backend
        self.cfg = backend.cfg
        if layer_requirements is None:
            # OPSBOOK_LAYER_REQUIREMENTS="a,b,c" replaces what the layer is built from.
            env = os.environ.get("OPSBOOK_LAYER_REQUIREMENTS", "")
            layer_requirements = tuple(r.strip() for r in env.split(",") if r.strip())
        self.layer_requirements = tuple(layer_requirements) or None  # None: the functions' own
        self.package_root = Path(package_root)
        self.build_dir = Path(build_dir) if build_dir else None  # None: the shared build cache
        self.handlers: dict[str, str] = {}  # function name -> Lambda Handler, from the build
        self.ctx = DeployContext(
            client=backend.client,
            resolve_names=lambda: backend.names,
            cfg=backend.cfg,
            workflow=backend.workflow,
            alias_target=backend.alias_target,
            local_emulator=lambda: backend.local_emulator,
            iam_retry=iam_retry,
        )
        self.access = AccessSteps(self.ctx)
        self.functions = LambdaSteps(self.ctx, direct_upload_limit=direct_upload_limit)
        self.states = StatesSteps(self.ctx)

    # --- what the steps share, and what tests and the backend reach on a Deployer --------------

    @property
    def names(self) -> Names:
        return self.ctx.names

    @property
    def changes(self) -> list[Change]:
        return self.ctx.changes

    @property
    def fresh_roles(self) -> bool:
        return self.ctx.fresh_roles

    @fresh_roles.setter
    def fresh_roles(self, value: bool) -> None:
        self.ctx.fresh_roles = value

    def c(self, service: str) -> Any:
        return self.ctx.c(service)

    def note(self, action: str, kind: str, name: str, detail: str = "") -> bool:
        return self.ctx.note(action, kind, name, detail)

    def _after_iam(self, call: Callable[[], Any]) -> Any:
        return self.ctx.after_iam(call)

    def versions(self) -> list[str]:
        return self.states.versions()

    @property
    def observability(self) -> Observability:
        return Observability(self.c, self.names, self.cfg, self.note, self.ctx.tags)

    # ================================================================ deploy

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        self.ctx.plan = plan
        if rollback:
            with aws_errors("rolling back the live alias"):
                version: str | None = self.states.rollback()
            return DeployResult(
                self.changes, applied=not plan, version_arn=version, alias_arn=self.names.alias_arn
            )
        check_bigquery_route(self.cfg)
        definition = self.render_definition()
        schedule = self.render_schedule()
        # The same build as `opsbook package`: pip for the runtime, ELF audit, sandbox import.
        built = build_for_config(
            self.cfg,
            self.backend.workflow,
            prefix=self.names.prefix,
            cache_dir=self.build_dir,
            requirements=self.layer_requirements,
        )
        self.handlers = {h.function: h.lambda_handler for h in built.handlers}
        function_zip, layer = built.function, built.layer
        packaging.check_sizes(function_zip, [layer])
        with aws_errors("deploying"):
            self.ensure_bucket()
            self.ensure_templates()
            secret_arns = self.access.ensure_secrets()
            self.access.ensure_roles(secret_arns)
            watch = self.observability
            watch.ensure_log_groups()  # before the functions run, so retention applies
            watch.ensure_dlq()  # before the starter, whose dead-letter queue it is too
            layer_arn = self.functions.ensure_layer(layer)
            self.functions.ensure_functions(function_zip, layer_arn)
            version = self.states.ensure_state_machine(definition, watch.logging_configuration())
            self.states.ensure_alias(version)
            self.states.ensure_schedule(schedule)
            watch.ensure_alarms()
            ensure_failure_alerts(
                self.c("events"), self.c("lambda"), self.names, self.ctx.tags, self.note
            )
        return DeployResult(
            self.changes, applied=not plan, version_arn=version, alias_arn=self.names.alias_arn
        )

    # --- definitions -------------------------------------------------------------------------

    def render_definition(self) -> dict[str, Any]:
        path = self.backend.workflow.definition_path
        return substitute(read_json(path), self.names.placeholders, path.name)

    def render_schedule(self) -> dict[str, Any]:
        path = self.backend.workflow.schedule_path
        spec = substitute(read_json(path), self.names.placeholders, path.name)
        spec["Name"] = self.names.schedule  # named after the prefix, so teardown finds it
        spec.setdefault("GroupName", "default")
        # The schedule invokes the starter, which starts the alias under the partition's
        # execution name (a duplicate fire then starts nothing); also for a schedule file that
        # still names ${StateMachineArn}.
        spec["Target"]["Arn"] = self.names.starter_arn
        # Failed invokes, after the retry policy, land in the schedule's dead-letter queue.
        spec["Target"]["DeadLetterConfig"] = {"Arn": self.names.dlq_arn}
        return spec

    # --- S3 ----------------------------------------------------------------------------------

    def _bucket_state(self) -> str:
        """'missing', 'ours' (tagged by deploy) or 'foreign'."""
        s3 = self.c("s3")
        try:
            s3.head_bucket(Bucket=self.names.bucket)
        except ClientError as exc:
            if missing(exc):
                return "missing"
            if error_code(exc) in ("403", "AccessDenied"):
                raise ConfigError(
                    f"S3 bucket {self.names.bucket} belongs to another account; set sql_bucket in the config"
                ) from None
            raise
        try:
            tags = s3.get_bucket_tagging(Bucket=self.names.bucket)["TagSet"]
        except ClientError:
            tags = []
        return "ours" if {"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]} in tags else "foreign"

    def ensure_bucket(self) -> None:
        bucket = self.names.bucket
        if self._bucket_state() != "missing":
            self.note("unchanged", "bucket", bucket)
            return
        if not self.note("create", "bucket", bucket):
            return
        s3 = self.c("s3")
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.names.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.names.region}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in self.ctx.tags.items()]},
        )

    def template_keys(self) -> dict[str, Path]:
        flow = self.backend.workflow
        return {
            f"{self.names.sql_prefix}{name}": flow.sql_dir / name
            for name in sql_templates(self.cfg, flow)
        }

    def ensure_templates(self) -> None:
        s3 = self.c("s3")
        for key, path in self.template_keys().items():
            body = path.read_bytes()
            md5 = hashlib.md5(body).hexdigest()
            try:
                etag = s3.head_object(Bucket=self.names.bucket, Key=key)["ETag"].strip('"')
                action = "unchanged" if etag == md5 else "update"
            except ClientError as exc:
                if not missing(exc):
                    raise
                action = "create"
            if self.note(action, "object", f"s3://{self.names.bucket}/{key}"):
                s3.put_object(
                    Bucket=self.names.bucket,
                    Key=key,
                    Body=body,
                    ContentType="text/plain; charset=utf-8",
                )

    # ================================================================ teardown

    def teardown(self, *, plan: bool = False, force: bool = False) -> DeployResult:
        self.ctx.plan = plan
        with aws_errors("tearing down"):
            if not force:
                self.refuse_while_running()
            self.states.remove_schedule(self.render_schedule())
            remove_failure_alerts(self.c("events"), self.names, self.ctx.tags, self.note)
            watch = self.observability
            watch.remove_alarms()
            watch.remove_dlq()
            self.states.remove_state_machine()
            self.functions.remove_functions()
            watch.remove_log_groups()
            self.functions.remove_layer()
            self.access.remove_roles()
            self.access.remove_secrets()
            self.remove_objects()
        return DeployResult(self.changes, applied=not plan)

    def refuse_while_running(self) -> None:
        """Deleting the state machine would end a RUNNING execution mid-load: name it and stop,
        unless --force. ListExecutions on the unqualified ARN lists every version's and alias's
        executions (Step Functions API reference, ListExecutions)."""
        sfn = self.c("stepfunctions")
        try:
            page = sfn.list_executions(
                stateMachineArn=self.names.state_machine_arn, statusFilter="RUNNING", maxResults=100
            )
        except ClientError as exc:
            if missing(exc):
                return
            raise
        running = [e["name"] for e in page.get("executions", [])]
        if running:
            more = f" and {len(running) - 1} more" if len(running) > 1 else ""
            raise UsageError(
                f"execution {running[0]}{more} is RUNNING on {self.names.state_machine}; wait for "
                f"it or stop it (opsbook stop {running[0]}), or pass --force to tear down anyway"
            )

    def remove_objects(self) -> None:
        s3 = self.c("s3")
        bucket = self.names.bucket
        state = self._bucket_state()
        if state == "missing":
            return
        keys = list(self.template_keys())
        artifacts = f"{self.names.prefix}-artifacts/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=artifacts):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        for key in keys:
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if missing(exc):
                    continue
                raise
            if self.note("delete", "object", f"s3://{bucket}/{key}"):
                s3.delete_object(Bucket=bucket, Key=key)
        if state != "ours":
            return
        if not self.ctx.plan:
            left = s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0)
            if left:
                self.note("unchanged", "bucket", bucket, "holds other objects; left alone")
                return
        if self.note("delete", "bucket", bucket):
            s3.delete_bucket(Bucket=bucket)
