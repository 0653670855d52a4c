"""Deploy steps for Lambda: the dependency layer, one function per task and the schedule's
starter (a component the Deployer builds with its DeployContext)."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws import packaging
from opsbook.backends.aws.common import missing
from opsbook.backends.aws.context import DeployContext, tagged
from opsbook.lambda_build import credentials

# The starter makes one StartExecution call: a short timeout, the smallest memory.
STARTER_TIMEOUT = 30
STARTER_MEMORY = 128


class LambdaSteps:
    """Layer and functions: ensure on deploy, remove on teardown."""

    def __init__(
        self, ctx: DeployContext, *, direct_upload_limit: int = packaging.DIRECT_UPLOAD_LIMIT
    ):
        self.ctx = ctx
        self.direct_upload_limit = direct_upload_limit

    # --- Lambda --------------------------------------------------------------------------------

    def _layer_versions(self, layer: str) -> list[dict[str, Any]]:
        lam = self.ctx.c("lambda")
        out: list[dict[str, Any]] = []
        try:
            for page in lam.get_paginator("list_layer_versions").paginate(LayerName=layer):
                out.extend(page["LayerVersions"])
        except ClientError as exc:
            if not missing(exc):
                raise
        return sorted(out, key=lambda v: v["Version"], reverse=True)

    def ensure_layer(self, artifact: packaging.Artifact) -> str:
        lam = self.ctx.c("lambda")
        layer = self.ctx.names.layer
        versions = self._layer_versions(layer)
        detail = (
            f"{artifact.size / 1e6:.1f} MB zipped, {artifact.unzipped_size / 1e6:.1f} MB unzipped"
        )
        if versions:
            latest = lam.get_layer_version(LayerName=layer, VersionNumber=versions[0]["Version"])
            if latest["Content"].get("CodeSha256") == artifact.sha256:
                self.ctx.note("unchanged", "layer", f"{layer}:{versions[0]['Version']}", detail)
                return latest["LayerVersionArn"]
        action = "update" if versions else "create"
        if not self.ctx.note(action, "layer", layer, detail):
            return versions[0]["LayerVersionArn"] if versions else f"{layer}:planned"
        content: dict[str, Any]
        key = None
        if artifact.size > self.direct_upload_limit:
            # Over the 50 MB direct-upload limit: stage the zip in the deploy bucket.
            key = f"{self.ctx.names.prefix}-artifacts/layer-{hashlib.sha256(artifact.data).hexdigest()[:16]}.zip"
            self.ctx.c("s3").put_object(Bucket=self.ctx.names.bucket, Key=key, Body=artifact.data)
            content = {"S3Bucket": self.ctx.names.bucket, "S3Key": key}
        else:
            content = {"ZipFile": artifact.data}
        published = lam.publish_layer_version(
            LayerName=layer,
            Description=f"opsbook dependencies: {', '.join(artifact.distributions)}"[:256],
            Content=content,
            CompatibleRuntimes=[self.ctx.cfg.lambda_runtime],
            CompatibleArchitectures=[self.ctx.cfg.lambda_architecture],
        )
        if key:
            self.ctx.c("s3").delete_object(
                Bucket=self.ctx.names.bucket, Key=key
            )  # Lambda keeps a copy
        return published["LayerVersionArn"]

    def function_environment(self) -> dict[str, str]:
        """What opsbook.lambdas.resources.Resources.from_env() reads on AWS."""
        cfg, names = self.ctx.cfg, self.ctx.names
        env = {
            "WAREHOUSE": "bigquery",
            "BQ_PROJECT": cfg.bq_project,
            "BQ_DATASET": cfg.dataset,
            "BQ_SOURCE_TABLE": cfg.source_table,
            "BQ_TARGET_TABLE": cfg.target_table,
            "BQ_LOCATION": cfg.bq_location,
            "SQL_BUCKET": names.bucket,
            "SQL_PREFIX": names.sql_prefix,
            "SLACK_SECRET_NAME": names.slack_secret,
        }
        if cfg.bq_credentials_config:
            env["BQ_CREDENTIALS_CONFIG"] = credentials.ARCNAME  # shipped in the function zip
        elif names.bq_secret:
            env["BQ_CREDENTIALS_SECRET"] = names.bq_secret
        if cfg.bq_maximum_bytes_billed:
            env["BQ_MAXIMUM_BYTES_BILLED"] = str(cfg.bq_maximum_bytes_billed)
        return env

    def function_config(self, task_name: str, layer_arn: str) -> dict[str, Any]:
        task = self.ctx.names.task(task_name)  # the manifest's task: handler, timeout, memory
        env = self.function_environment()
        # A BigQuery job may run until two minutes before the function's own timeout; each job
        # is cut shorter still by the time the invocation has left (warehouse.bigquery_jobs).
        env["BQ_JOB_TIMEOUT_SECONDS"] = str(max(task.timeout - 120, 1))
        return {
            "Role": self.ctx.names.role_arn(self.ctx.names.lambda_role),
            "Handler": task.lambda_handler,
            "Runtime": self.ctx.cfg.lambda_runtime,
            "Timeout": task.timeout,
            "MemorySize": task.memory,
            "Layers": [layer_arn],
            "Environment": {"Variables": env},
        }

    def starter_config(self, layer_arn: str) -> dict[str, Any]:
        """The schedule's target (opsbook.lambdas.start_partition): its own role, the alias and
        the partition scheme. Scheduler invokes it asynchronously, so a start that still fails
        after Lambda's retries goes to the schedule's dead-letter queue from here."""
        names, cfg, scheme = self.ctx.names, self.ctx.cfg, self.ctx.workflow.scheme
        env = {
            "STATE_MACHINE_ALIAS_ARN": names.alias_arn,
            "PARTITION_SCHEME": scheme.spec,
            "PARTITION_TIMEZONE": scheme.timezone.key,
        }
        if cfg.local_emulator:
            env["OPSBOOK_LOCAL_EMULATOR"] = "1"
        return {
            "Role": names.role_arn(names.starter_role),
            "Handler": f"{packaging.STARTER_MODULE}.handler",
            "Runtime": cfg.lambda_runtime,
            "Timeout": STARTER_TIMEOUT,
            "MemorySize": STARTER_MEMORY,
            "Layers": [layer_arn],  # opsbook's modules import as in the other functions
            "Environment": {"Variables": env},
            "DeadLetterConfig": {"TargetArn": names.dlq_arn},
        }

    def desired_functions(self, layer_arn: str) -> dict[str, dict[str, Any]]:
        """Function name -> its configuration, for every function deploy creates."""
        out = {
            name: self.function_config(task, layer_arn)
            for task, name in self.ctx.names.functions.items()
        }
        out[self.ctx.names.starter] = self.starter_config(layer_arn)
        return out

    def _config_diff(self, current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
        now = dict(current)
        now["Layers"] = [layer["Arn"] for layer in current.get("Layers", [])]
        now["Environment"] = {"Variables": current.get("Environment", {}).get("Variables", {})}
        wants_dlq = "DeadLetterConfig" in desired
        if wants_dlq and "DeadLetterConfig" not in current and self.ctx.local_emulator():
            # moto keeps no dead-letter config; only there is its absence not a change.
            now["DeadLetterConfig"] = desired.get("DeadLetterConfig")
        return [key for key, value in desired.items() if now.get(key) != value]

    def ensure_functions(self, artifact: packaging.Artifact, layer_arn: str) -> None:
        lam = self.ctx.c("lambda")
        for name, desired in self.desired_functions(layer_arn).items():
            try:
                current = lam.get_function(FunctionName=name)["Configuration"]
            except ClientError as exc:
                if not missing(exc):
                    raise
                if self.ctx.note("create", "lambda", name, f"{artifact.size / 1e3:.0f} kB zip"):
                    self.ctx.after_iam(
                        partial(
                            lam.create_function,
                            FunctionName=name,
                            Code={"ZipFile": artifact.data},
                            Architectures=[self.ctx.cfg.lambda_architecture],
                            Description=f"opsbook {self.ctx.workflow.name}",
                            Tags=self.ctx.tags,
                            Publish=False,
                            **desired,
                        )
                    )
                    lam.get_waiter("function_active_v2").wait(
                        FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
                    )
                continue
            stale = self._config_diff(current, desired)
            code_stale = current.get("CodeSha256") != artifact.sha256
            detail = ", ".join((["code"] if code_stale else []) + stale)
            if not self.ctx.note("update" if detail else "unchanged", "lambda", name, detail):
                continue
            waiter = lam.get_waiter("function_updated_v2")
            if code_stale:
                lam.update_function_code(FunctionName=name, ZipFile=artifact.data)
                waiter.wait(FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
            if stale:
                self.ctx.after_iam(
                    partial(lam.update_function_configuration, FunctionName=name, **desired)
                )
                waiter.wait(FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})

    def remove_functions(self) -> None:
        lam = self.ctx.c("lambda")
        for name in self.ctx.names.all_functions:
            try:
                found = lam.get_function(FunctionName=name)
            except ClientError as exc:
                if missing(exc):
                    continue
                raise
            if not tagged(found.get("Tags", {})):
                self.ctx.note("unchanged", "lambda", name, "not created by opsbook; left alone")
                continue
            if self.ctx.note("delete", "lambda", name):
                lam.delete_function(FunctionName=name)

    def remove_layer(self) -> None:
        lam = self.ctx.c("lambda")
        for version in self._layer_versions(self.ctx.names.layer):
            if self.ctx.note("delete", "layer", f"{self.ctx.names.layer}:{version['Version']}"):
                lam.delete_layer_version(
                    LayerName=self.ctx.names.layer, VersionNumber=version["Version"]
                )
