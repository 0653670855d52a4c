"""Deploy steps for access: the Secrets Manager secrets and the IAM roles (a Deployer mixin)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.common import missing, normalise_policy
from opsbook.backends.aws.errors import error_code
from opsbook.backends.aws.iam import MANAGED_TAG, render_policies, sql_templates, trust_policies
from opsbook.errors import ConfigError


class AccessSteps:
    """Secrets and roles: ensure on deploy, remove on teardown."""

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
                if not missing(exc):
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
            templates=sql_templates(self.cfg, self.backend.workflow),
            workflow=self.backend.workflow,
        )
        for role, trust in trust_policies(names).items():
            policy = policies[role]
            try:
                current = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if not missing(exc):
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
            if normalise_policy(current["AssumeRolePolicyDocument"]) != normalise_policy(trust):
                stale.append("trust policy")
            try:
                doc = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
                if normalise_policy(doc) != normalise_policy(policy):
                    stale.append("inline policy")
            except ClientError as exc:
                if not missing(exc):
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

    def remove_roles(self) -> None:
        iam = self.c("iam")
        for role in self.names.roles:
            try:
                found = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if missing(exc):
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
                if missing(exc):
                    continue
                raise
            if info.get("DeletedDate") or not self._tagged(info.get("Tags")):
                continue  # already scheduled for deletion, or the user's own secret
            # A recovery window, not a forced delete: the webhook URL can be restored for 7 days.
            if self.note("delete", "secret", name, "recoverable for 7 days"):
                sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
