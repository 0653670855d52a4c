"""`deploy` and `teardown` on AWS: compare what exists with what should, change only the rest.

Every step reads the current resource, decides create / update / unchanged, and applies only when
not planning. Resources carry the tag opsbook:managed-by=opsbook; teardown deletes only what
has the deploy names and that tag, so it never touches anything else.

Order (each step needs the ones before it): bucket, SQL templates, secrets, IAM roles, layer,
functions, state machine + version, alias, schedule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from opsbook import packaging
from opsbook.backends.aws import aws_errors, error_code
from opsbook.backends.base import Change, DeployResult
from opsbook.backends.iam import (
    MANAGED_TAG,
    Names,
    render_policies,
    sql_templates,
    trust_policies,
)
from opsbook.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from opsbook.backends.aws import AwsBackend

RUNTIME = "python3.11"
NOT_FOUND = frozenset(
    {
        "NoSuchEntity",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "StateMachineDoesNotExist",
        "NoSuchBucket",
        "NoSuchKey",
        "404",
        "NotFound",
    }
)
# Lambda settings per handler: (timeout s, memory MB). Below the state machine's own timeouts
# (900 s for check/insert, 60 s for notify) so a slow Lambda fails as a Lambda error first.
FUNCTION_SETTINGS = {"check_records": (840, 1024), "notify": (50, 256), "insert_week": (840, 1024)}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
IAM_RETRY = (12, 5.0)  # attempts, seconds: a new role takes a few seconds to be assumable


def _missing(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


def _policy(value: Any) -> Any:
    """IAM returns policy documents URL-encoded or parsed depending on the client; normalise."""
    if isinstance(value, str):
        from urllib.parse import unquote

        value = json.loads(unquote(value))
    return json.loads(json.dumps(value, sort_keys=True))


def _short(arn: str) -> str:
    """`name:1` or `name:live` for a state machine version or alias ARN, for the change table."""
    return arn.split(":stateMachine:", 1)[-1]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def substitute(value: Any, table: dict[str, str], source: str) -> Any:
    """Replace `${Name}` placeholders inside every JSON string; unknown names are an error."""
    if isinstance(value, dict):
        return {k: substitute(v, table, source) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, table, source) for v in value]
    if isinstance(value, str):

        def one(match: re.Match) -> str:
            if match.group(1) not in table:
                known = ", ".join(sorted(table))
                raise ConfigError(
                    f"{source} uses unknown placeholder ${{{match.group(1)}}} (known: {known})"
                )
            return table[match.group(1)]

        return PLACEHOLDER.sub(one, value)
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist (definitions_dir={path.parent})") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


class Deployer:
    """One deploy or teardown run against the backend's clients."""

    def __init__(
        self,
        backend: AwsBackend,
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
        self.layer_requirements = tuple(layer_requirements) or packaging.LAYER_REQUIREMENTS
        self.direct_upload_limit = direct_upload_limit
        self.package_root = Path(package_root)
        self.build_dir = Path(build_dir) if build_dir else Path(self.cfg.home) / "build"
        self.iam_retry = iam_retry
        self.changes: list[Change] = []
        self.plan = False
        self.fresh_roles = False

    @property
    def names(self) -> Names:
        return self.backend.names

    def c(self, service: str) -> Any:
        return self.backend.client(service)

    @property
    def tags(self) -> dict[str, str]:
        return {MANAGED_TAG[0]: MANAGED_TAG[1], "opsbook:prefix": self.names.prefix}

    def note(self, action: str, kind: str, name: str, detail: str = "") -> bool:
        """Record a change; True when it should be applied now."""
        self.changes.append(Change(action, kind, name, detail))
        return action != "unchanged" and not self.plan

    # ================================================================ deploy

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        self.plan = plan
        if rollback:
            with aws_errors("rolling back the live alias"):
                version = self.rollback()
            return DeployResult(
                self.changes, applied=not plan, version_arn=version, alias_arn=self.names.alias_arn
            )
        packaging.check_platform()
        definition = self.render_definition()
        schedule = self.render_schedule()
        function_zip = packaging.build_function_zip(self.package_root)
        layer = packaging.build_layer(self.layer_requirements, cache_dir=self.build_dir)
        packaging.check_sizes(function_zip, [layer])
        with aws_errors("deploying"):
            self.ensure_bucket()
            self.ensure_templates()
            secret_arns = self.ensure_secrets()
            self.ensure_roles(secret_arns)
            layer_arn = self.ensure_layer(layer)
            self.ensure_functions(function_zip, layer_arn)
            version = self.ensure_state_machine(definition)
            self.ensure_alias(version)
            self.ensure_schedule(schedule)
        return DeployResult(
            self.changes, applied=not plan, version_arn=version, alias_arn=self.names.alias_arn
        )

    # --- definitions -------------------------------------------------------------------------

    def render_definition(self) -> dict[str, Any]:
        path = Path(self.cfg.definitions_dir) / "weekly_load.asl.json"
        return substitute(_read_json(path), self.names.placeholders, path.name)

    def render_schedule(self) -> dict[str, Any]:
        path = Path(self.cfg.definitions_dir) / "schedule.json"
        spec = substitute(_read_json(path), self.names.placeholders, path.name)
        spec["Name"] = self.names.schedule  # named after the prefix, so teardown finds it
        spec.setdefault("GroupName", "default")
        return spec

    # --- S3 ----------------------------------------------------------------------------------

    def _bucket_state(self) -> str:
        """'missing', 'ours' (tagged by deploy) or 'foreign'."""
        s3 = self.c("s3")
        try:
            s3.head_bucket(Bucket=self.names.bucket)
        except ClientError as exc:
            if _missing(exc):
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
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in self.tags.items()]},
        )

    def template_keys(self) -> dict[str, Path]:
        sql_dir = Path(self.cfg.definitions_dir) / "sql"
        return {
            f"{self.names.sql_prefix}{name}": sql_dir / name for name in sql_templates(self.cfg)
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
                if not _missing(exc):
                    raise
                action = "create"
            if self.note(action, "object", f"s3://{self.names.bucket}/{key}"):
                s3.put_object(
                    Bucket=self.names.bucket,
                    Key=key,
                    Body=body,
                    ContentType="text/plain; charset=utf-8",
                )

    # --- secrets -------------------------------------------------------------------------------

    def ensure_secrets(self) -> dict[str, str]:
        """Full ARNs of the Secrets Manager secrets; the Slack secret is created empty if missing."""
        sm = self.c("secretsmanager")
        arns: dict[str, str] = {}
        for name, required in ((self.names.slack_secret, False), (self.names.bq_secret, True)):
            if not name or name.startswith("/"):
                continue  # SSM parameters have exact ARNs without a lookup
            try:
                info = sm.describe_secret(SecretId=name)
            except ClientError as exc:
                if not _missing(exc):
                    raise
                if required:
                    raise ConfigError(
                        f"secret {name} (bq_credentials_secret) does not exist in Secrets Manager; "
                        "create it with the service-account JSON"
                    ) from None
                if self.note("create", "secret", name, "empty; put the webhook URL in it"):
                    info = sm.create_secret(
                        Name=name,
                        Description="Slack incoming webhook URL for opsbook (set with put-secret-value)",
                        Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()],
                    )
                    arns[name] = info["ARN"]
                else:
                    arns[name] = self.names.secret_arn(name)  # plan: suffix not known yet
                continue
            if info.get("DeletedDate") and self._tagged(info.get("Tags")):
                if self.note("update", "secret", name, "restore (teardown scheduled its deletion)"):
                    sm.restore_secret(SecretId=name)
            else:
                self.note("unchanged", "secret", name)
            arns[name] = info["ARN"]
        return arns

    @staticmethod
    def _tagged(tags: Any) -> bool:
        if isinstance(tags, dict):
            return tags.get(MANAGED_TAG[0]) == MANAGED_TAG[1]
        return any(
            t.get("Key") == MANAGED_TAG[0] and t.get("Value") == MANAGED_TAG[1] for t in tags or []
        )

    # --- IAM -----------------------------------------------------------------------------------

    def ensure_roles(self, secret_arns: dict[str, str]) -> None:
        iam = self.c("iam")
        names = self.names
        policies = render_policies(
            self.cfg,
            names.account,
            names.region,
            secret_arns=secret_arns,
            templates=sql_templates(self.cfg),
        )
        for role, trust in trust_policies(names).items():
            policy = policies[role]
            try:
                current = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if not _missing(exc):
                    raise
                if self.note("create", "role", role, "with its inline policy"):
                    iam.create_role(
                        RoleName=role,
                        AssumeRolePolicyDocument=json.dumps(trust),
                        Description=f"opsbook {role}: least privilege, written by opsbook deploy",
                        Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()],
                    )
                    iam.put_role_policy(
                        RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy)
                    )
                    self.fresh_roles = True
                continue
            stale = []
            if _policy(current["AssumeRolePolicyDocument"]) != _policy(trust):
                stale.append("trust policy")
            try:
                doc = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
                if _policy(doc) != _policy(policy):
                    stale.append("inline policy")
            except ClientError as exc:
                if not _missing(exc):
                    raise
                stale.append("inline policy")
            if self.note("update" if stale else "unchanged", "role", role, ", ".join(stale)):
                self.fresh_roles = True  # policy changes propagate in seconds, too
                if "trust policy" in stale:
                    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
                if "inline policy" in stale:
                    iam.put_role_policy(
                        RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy)
                    )

    def _after_iam(self, call: Callable[[], Any]) -> Any:
        """Retry a call that a just-created role can fail until IAM has propagated it."""
        attempts, delay = self.iam_retry if self.fresh_roles else (1, 0.0)
        for attempt in range(attempts):
            try:
                return call()
            except ClientError as exc:
                message = str(exc).lower()
                # Lambda: InvalidParameterValue "...cannot be assumed by Lambda"; Step Functions:
                # AccessDenied "...not authorized to assume the provided role"; Scheduler:
                # Validation "...must allow AWS EventBridge Scheduler to assume the role".
                retry = error_code(exc) in (
                    "InvalidParameterValueException",
                    "ValidationException",
                    "AccessDeniedException",
                ) and ("role" in message and "assume" in message)
                if not retry or attempt == attempts - 1:
                    raise
                time.sleep(delay)
        return None

    # --- Lambda --------------------------------------------------------------------------------

    def _layer_versions(self, layer: str) -> list[dict[str, Any]]:
        lam = self.c("lambda")
        out: list[dict[str, Any]] = []
        try:
            for page in lam.get_paginator("list_layer_versions").paginate(LayerName=layer):
                out.extend(page["LayerVersions"])
        except ClientError as exc:
            if not _missing(exc):
                raise
        return sorted(out, key=lambda v: v["Version"], reverse=True)

    def ensure_layer(self, artifact: packaging.Artifact) -> str:
        lam = self.c("lambda")
        layer = self.names.layer
        versions = self._layer_versions(layer)
        detail = (
            f"{artifact.size / 1e6:.1f} MB zipped, {artifact.unzipped_size / 1e6:.1f} MB unzipped"
        )
        if versions:
            latest = lam.get_layer_version(LayerName=layer, VersionNumber=versions[0]["Version"])
            if latest["Content"].get("CodeSha256") == artifact.sha256:
                self.note("unchanged", "layer", f"{layer}:{versions[0]['Version']}", detail)
                return latest["LayerVersionArn"]
        action = "update" if versions else "create"
        if not self.note(action, "layer", layer, detail):
            return versions[0]["LayerVersionArn"] if versions else f"{layer}:planned"
        content: dict[str, Any]
        key = None
        if artifact.size > self.direct_upload_limit:
            # Over the 50 MB direct-upload limit: stage the zip in the deploy bucket.
            key = f"{self.names.prefix}-artifacts/layer-{hashlib.sha256(artifact.data).hexdigest()[:16]}.zip"
            self.c("s3").put_object(Bucket=self.names.bucket, Key=key, Body=artifact.data)
            content = {"S3Bucket": self.names.bucket, "S3Key": key}
        else:
            content = {"ZipFile": artifact.data}
        published = lam.publish_layer_version(
            LayerName=layer,
            Description=f"opsbook dependencies: {', '.join(artifact.distributions)}"[:256],
            Content=content,
            CompatibleRuntimes=[RUNTIME],
            CompatibleArchitectures=[packaging.lambda_architecture()],
        )
        if key:
            self.c("s3").delete_object(Bucket=self.names.bucket, Key=key)  # Lambda keeps a copy
        return published["LayerVersionArn"]

    def function_environment(self) -> dict[str, str]:
        """What opsbook.lambdas.resources.Resources.from_env() reads on AWS."""
        cfg, names = self.cfg, self.names
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
        if names.bq_secret:
            env["BQ_CREDENTIALS_SECRET"] = names.bq_secret
        return env

    def function_config(self, module: str, layer_arn: str) -> dict[str, Any]:
        timeout, memory = FUNCTION_SETTINGS[module]
        return {
            "Role": self.names.role_arn(self.names.lambda_role),
            "Handler": f"opsbook.lambdas.{module}.handler",
            "Runtime": RUNTIME,
            "Timeout": timeout,
            "MemorySize": memory,
            "Layers": [layer_arn],
            "Environment": {"Variables": self.function_environment()},
        }

    @staticmethod
    def _config_diff(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
        now = dict(current)
        now["Layers"] = [layer["Arn"] for layer in current.get("Layers", [])]
        now["Environment"] = {"Variables": current.get("Environment", {}).get("Variables", {})}
        return [key for key, value in desired.items() if now.get(key) != value]

    def ensure_functions(self, artifact: packaging.Artifact, layer_arn: str) -> None:
        lam = self.c("lambda")
        for module, name in self.names.functions.items():
            desired = self.function_config(module, layer_arn)
            try:
                current = lam.get_function(FunctionName=name)["Configuration"]
            except ClientError as exc:
                if not _missing(exc):
                    raise
                if self.note("create", "lambda", name, f"{artifact.size / 1e3:.0f} kB zip"):
                    self._after_iam(
                        lambda name=name, desired=desired: lam.create_function(
                            FunctionName=name,
                            Code={"ZipFile": artifact.data},
                            Architectures=[packaging.lambda_architecture()],
                            Description="opsbook weekly load",
                            Tags=self.tags,
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
            if not self.note("update" if detail else "unchanged", "lambda", name, detail):
                continue
            waiter = lam.get_waiter("function_updated_v2")
            if code_stale:
                lam.update_function_code(FunctionName=name, ZipFile=artifact.data)
                waiter.wait(FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
            if stale:
                self._after_iam(
                    lambda name=name, desired=desired: lam.update_function_configuration(
                        FunctionName=name, **desired
                    )
                )
                waiter.wait(FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})

    # --- Step Functions -------------------------------------------------------------------------

    def _list_versions(self, sfn: Any) -> list[str]:
        found, token = [], None
        for _ in range(100):  # botocore has no paginator for this call; 100 x 1000 >= the limit
            page = sfn.list_state_machine_versions(
                stateMachineArn=self.names.state_machine_arn,
                maxResults=1000,
                **({"nextToken": token} if token else {}),
            )
            found.extend(v["stateMachineVersionArn"] for v in page["stateMachineVersions"])
            token = page.get("nextToken")
            if not token:
                break
        return sorted(found, key=lambda a: int(a.rsplit(":", 1)[1]))

    def versions(self) -> list[str]:
        """Published version ARNs of the state machine, oldest first."""
        sfn = self.c("stepfunctions")
        try:
            # Tried once: an endpoint that lacks the call answers 5xx, not worth ten retries.
            return self._list_versions(self.backend.client("stepfunctions", retries=False))
        except ClientError as exc:
            code = error_code(exc)
            if _missing(exc):
                return []
            if code in ("ThrottlingException", "TooManyRequestsException"):
                return self._list_versions(sfn)
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500:
                raise
        # Endpoints without ListStateMachineVersions (moto): probe version ARNs in order.
        sm_arn = self.names.state_machine_arn
        found = []
        for number in range(1, 1001):  # Step Functions keeps at most 1000 versions
            try:
                sfn.describe_state_machine(stateMachineArn=f"{sm_arn}:{number}")
            except ClientError:
                if found or number >= 5:
                    break
                continue
            found.append(f"{sm_arn}:{number}")
        return found

    def ensure_state_machine(self, definition: dict[str, Any]) -> str | None:
        sfn = self.c("stepfunctions")
        names = self.names
        text = json.dumps(definition, indent=2)
        role = names.role_arn(names.states_role)
        try:
            current = sfn.describe_state_machine(stateMachineArn=names.state_machine_arn)
        except ClientError as exc:
            if not _missing(exc):
                raise
            if not self.note(
                "create", "state_machine", names.state_machine, "and publish version 1"
            ):
                return None
            made = self._after_iam(
                lambda: sfn.create_state_machine(
                    name=names.state_machine,
                    definition=text,
                    roleArn=role,
                    type="STANDARD",
                    tags=[{"key": k, "value": v} for k, v in self.tags.items()],
                    publish=True,
                    versionDescription="opsbook deploy",
                )
            )
            self.note("create", "version", _short(made["stateMachineVersionArn"]))
            return made["stateMachineVersionArn"]
        stale = []
        if json.loads(current["definition"]) != definition:
            stale.append("definition")
        if current["roleArn"] != role:
            stale.append("role")
        versions = self.versions()
        if not stale and versions:
            self.note("unchanged", "state_machine", names.state_machine)
            self.note("unchanged", "version", _short(versions[-1]))
            return versions[-1]
        self.note(
            "update" if stale else "unchanged",
            "state_machine",
            names.state_machine,
            ", ".join(stale),
        )
        if self.plan:
            self.note("create", "version", f"{names.state_machine}:{len(versions) + 1}")
            return None
        updated = self._after_iam(
            lambda: sfn.update_state_machine(
                stateMachineArn=names.state_machine_arn,
                definition=text,
                roleArn=role,
                publish=True,
                versionDescription="opsbook deploy",
            )
        )
        self.note("create", "version", _short(updated["stateMachineVersionArn"]))
        return updated["stateMachineVersionArn"]

    def ensure_alias(self, version: str | None) -> None:
        sfn = self.c("stepfunctions")
        names = self.names
        current = self.backend._alias_target(names.alias_arn)
        if current is None:
            if self.note(
                "create",
                "alias",
                _short(names.alias_arn),
                f"-> {_short(version) if version else 'the new version'}",
            ):
                sfn.create_state_machine_alias(
                    name=names.alias,
                    description="what the schedule and opsbook start",
                    routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}],
                )
            return
        if current == version:
            self.note("unchanged", "alias", _short(names.alias_arn), f"-> {_short(current)}")
            return
        if version is None:  # plan: the version deploy would publish has no ARN yet
            self.note(
                "update", "alias", _short(names.alias_arn), f"{_short(current)} -> the new version"
            )
            return
        if self.note(
            "update", "alias", _short(names.alias_arn), f"{_short(current)} -> {_short(version)}"
        ):
            sfn.update_state_machine_alias(
                stateMachineAliasArn=names.alias_arn,
                routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}],
            )

    def rollback(self) -> str:
        names = self.names
        current = self.backend._alias_target(names.alias_arn)
        if current is None:
            raise UsageError(
                f"nothing to roll back: {names.alias_arn} does not exist; deploy first"
            )
        number = int(current.rsplit(":", 1)[1])
        older = [v for v in self.versions() if int(v.rsplit(":", 1)[1]) < number]
        if not older:
            raise UsageError(f"nothing to roll back to: {current} is the oldest version")
        target = older[-1]
        if self.note(
            "update",
            "alias",
            _short(names.alias_arn),
            f"rollback {_short(current)} -> {_short(target)}",
        ):
            self.c("stepfunctions").update_state_machine_alias(
                stateMachineAliasArn=names.alias_arn,
                routingConfiguration=[{"stateMachineVersionArn": target, "weight": 100}],
            )
        return target

    # --- EventBridge Scheduler ------------------------------------------------------------------

    SCHEDULE_KEYS = (
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
        "State",
        "Description",
        "Target",
        "ActionAfterCompletion",
        "StartDate",
        "EndDate",
    )

    def ensure_schedule(self, spec: dict[str, Any]) -> None:
        scheduler = self.c("scheduler")
        name, group = spec["Name"], spec["GroupName"]
        try:
            current = scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if not _missing(exc):
                raise
            detail = (
                f"{spec.get('ScheduleExpression')} {spec.get('ScheduleExpressionTimezone', 'UTC')}"
            )
            if self.note("create", "schedule", f"{group}/{name}", detail):
                self._after_iam(lambda: scheduler.create_schedule(**spec))
            return
        stale = [
            key
            for key in self.SCHEDULE_KEYS
            if key in spec and _plain(current.get(key)) != _plain(spec[key])
        ]
        if self.note(
            "update" if stale else "unchanged", "schedule", f"{group}/{name}", ", ".join(stale)
        ):
            self._after_iam(lambda: scheduler.update_schedule(**spec))

    # ================================================================ teardown

    def teardown(self, *, plan: bool = False) -> DeployResult:
        self.plan = plan
        with aws_errors("tearing down"):
            self.remove_schedule()
            self.remove_state_machine()
            self.remove_functions()
            self.remove_layer()
            self.remove_roles()
            self.remove_secrets()
            self.remove_objects()
        return DeployResult(self.changes, applied=not plan)

    def remove_schedule(self) -> None:
        scheduler = self.c("scheduler")
        spec = self.render_schedule()
        name, group = spec["Name"], spec["GroupName"]
        try:
            current = scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if _missing(exc):
                return
            raise
        # Schedules carry no tags; ours is the one that targets our alias.
        if current.get("Target", {}).get("Arn") != self.names.alias_arn:
            self.note(
                "unchanged", "schedule", f"{group}/{name}", "targets something else; left alone"
            )
            return
        if self.note("delete", "schedule", f"{group}/{name}"):
            scheduler.delete_schedule(Name=name, GroupName=group)

    def remove_state_machine(self) -> None:
        sfn = self.c("stepfunctions")
        arn = self.names.state_machine_arn
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            tags = sfn.list_tags_for_resource(resourceArn=arn)["tags"]
        except ClientError as exc:
            if _missing(exc):
                return
            raise
        if not any(t["key"] == MANAGED_TAG[0] and t["value"] == MANAGED_TAG[1] for t in tags):
            self.note(
                "unchanged",
                "state_machine",
                self.names.state_machine,
                "not created by opsbook; left alone",
            )
            return
        if self.backend._alias_target(self.names.alias_arn) is not None:
            if self.note("delete", "alias", _short(self.names.alias_arn)):
                sfn.delete_state_machine_alias(stateMachineAliasArn=self.names.alias_arn)
        # Deleting the state machine deletes its versions too.
        if self.note("delete", "state_machine", self.names.state_machine, "with its versions"):
            sfn.delete_state_machine(stateMachineArn=arn)

    def remove_functions(self) -> None:
        lam = self.c("lambda")
        for name in self.names.functions.values():
            try:
                found = lam.get_function(FunctionName=name)
            except ClientError as exc:
                if _missing(exc):
                    continue
                raise
            if not self._tagged(found.get("Tags", {})):
                self.note("unchanged", "lambda", name, "not created by opsbook; left alone")
                continue
            if self.note("delete", "lambda", name):
                lam.delete_function(FunctionName=name)

    def remove_layer(self) -> None:
        lam = self.c("lambda")
        for version in self._layer_versions(self.names.layer):
            if self.note("delete", "layer", f"{self.names.layer}:{version['Version']}"):
                lam.delete_layer_version(
                    LayerName=self.names.layer, VersionNumber=version["Version"]
                )

    def remove_roles(self) -> None:
        iam = self.c("iam")
        for role in self.names.roles:
            try:
                found = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if _missing(exc):
                    continue
                raise
            if not self._tagged(found.get("Tags", [])):
                self.note("unchanged", "role", role, "not created by opsbook; left alone")
                continue
            if not self.note("delete", "role", role, "and its inline policies"):
                continue
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
                for policy in page["PolicyNames"]:
                    iam.delete_role_policy(RoleName=role, PolicyName=policy)
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                for policy in page["AttachedPolicies"]:
                    iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
            iam.delete_role(RoleName=role)

    def remove_secrets(self) -> None:
        sm = self.c("secretsmanager")
        for name in (self.names.slack_secret, self.names.bq_secret):
            if not name or name.startswith("/"):
                continue
            try:
                info = sm.describe_secret(SecretId=name)
            except ClientError as exc:
                if _missing(exc):
                    continue
                raise
            if info.get("DeletedDate") or not self._tagged(info.get("Tags")):
                continue  # already scheduled for deletion, or the user's own secret
            # A recovery window, not a forced delete: the webhook URL can be restored for 7 days.
            if self.note("delete", "secret", name, "recoverable for 7 days"):
                sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)

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
                if _missing(exc):
                    continue
                raise
            if self.note("delete", "object", f"s3://{bucket}/{key}"):
                s3.delete_object(Bucket=bucket, Key=key)
        if state != "ours":
            return
        if not self.plan:
            left = s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0)
            if left:
                self.note("unchanged", "bucket", bucket, "holds other objects; left alone")
                return
        if self.note("delete", "bucket", bucket):
            s3.delete_bucket(Bucket=bucket)
