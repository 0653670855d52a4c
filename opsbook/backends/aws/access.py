"""Deploy steps for access: the Secrets Manager secrets and the IAM roles (a component the
Deployer builds with its DeployContext)."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from opsbook.backends.aws.common import missing, normalise_policy
from opsbook.backends.aws.context import DeployContext, tagged
from opsbook.backends.aws.iam import render_policies, sql_templates, trust_policies
from opsbook.errors import ConfigError


class AccessSteps:
    """Secrets and roles: ensure on deploy, remove on teardown."""

    def __init__(self, ctx: DeployContext):
        self.ctx = ctx

    # --- secrets -------------------------------------------------------------------------------

    def ensure_secrets(self) -> dict[str, str]:
        """Full ARNs of the Secrets Manager secrets; the Slack secret is created empty if missing."""
        sm = self.ctx.c("secretsmanager")
        arns: dict[str, str] = {}
        for name, required in (
            (self.ctx.names.slack_secret, False),
            (self.ctx.names.bq_secret, True),
        ):
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
                if self.ctx.note("create", "secret", name, "empty; put the webhook URL in it"):
                    info = sm.create_secret(
                        Name=name,
                        Description="Slack incoming webhook URL for opsbook (set with put-secret-value)",
                        Tags=[{"Key": k, "Value": v} for k, v in self.ctx.tags.items()],
                    )
                    arns[name] = info["ARN"]
                else:
                    arns[name] = self.ctx.names.secret_arn(name)  # plan: suffix not known yet
                continue
            if info.get("DeletedDate") and tagged(info.get("Tags")):
                if self.ctx.note(
                    "update", "secret", name, "restore (teardown scheduled its deletion)"
                ):
                    sm.restore_secret(SecretId=name)
            else:
                self.ctx.note("unchanged", "secret", name)
            arns[name] = info["ARN"]
        return arns

    # --- IAM -----------------------------------------------------------------------------------

    def ensure_roles(self, secret_arns: dict[str, str]) -> None:
        iam = self.ctx.c("iam")
        names = self.ctx.names
        policies = render_policies(
            self.ctx.cfg,
            names.account,
            names.region,
            secret_arns=secret_arns,
            templates=sql_templates(self.ctx.cfg, self.ctx.workflow),
            workflow=self.ctx.workflow,
        )
        for role, trust in trust_policies(names).items():
            policy = policies[role]
            try:
                current = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if not missing(exc):
                    raise
                if self.ctx.note("create", "role", role, "with its inline policy"):
                    iam.create_role(
                        RoleName=role,
                        AssumeRolePolicyDocument=json.dumps(trust),
                        Description=f"opsbook {role}: least privilege, written by opsbook deploy",
                        Tags=[{"Key": k, "Value": v} for k, v in self.ctx.tags.items()],
                    )
                    iam.put_role_policy(
                        RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy)
                    )
                    self.ctx.fresh_roles = True
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
            if self.ctx.note("update" if stale else "unchanged", "role", role, ", ".join(stale)):
                self.ctx.fresh_roles = True  # policy changes propagate in seconds, too
                if "trust policy" in stale:
                    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
                if "inline policy" in stale:
                    iam.put_role_policy(
                        RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy)
                    )

    def remove_roles(self) -> None:
        iam = self.ctx.c("iam")
        for role in self.ctx.names.roles:
            try:
                found = iam.get_role(RoleName=role)["Role"]
            except ClientError as exc:
                if missing(exc):
                    continue
                raise
            if not tagged(found.get("Tags", [])):
                self.ctx.note("unchanged", "role", role, "not created by opsbook; left alone")
                continue
            if not self.ctx.note("delete", "role", role, "and its inline policies"):
                continue
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
                for policy in page["PolicyNames"]:
                    iam.delete_role_policy(RoleName=role, PolicyName=policy)
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                for policy in page["AttachedPolicies"]:
                    iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
            iam.delete_role(RoleName=role)

    def remove_secrets(self) -> None:
        sm = self.ctx.c("secretsmanager")
        for name in (self.ctx.names.slack_secret, self.ctx.names.bq_secret):
            if not name or name.startswith("/"):
                continue
            try:
                info = sm.describe_secret(SecretId=name)
            except ClientError as exc:
                if missing(exc):
                    continue
                raise
            if info.get("DeletedDate") or not tagged(info.get("Tags")):
                continue  # already scheduled for deletion, or the user's own secret
            # A recovery window, not a forced delete: the webhook URL can be restored for 7 days.
            if self.ctx.note("delete", "secret", name, "recoverable for 7 days"):
                sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
