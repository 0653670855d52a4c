"""Deploy steps for Step Functions and EventBridge Scheduler: the state machine, its versions,
the `live` alias, rollback and the schedule (a component the Deployer builds with its
DeployContext)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.common import missing, plain, short_arn
from opsbook.backends.aws.context import DeployContext
from opsbook.backends.aws.errors import error_code
from opsbook.backends.aws.iam import MANAGED_TAG
from opsbook.errors import UsageError


class StatesSteps:
    """State machine, versions, alias and schedule: ensure on deploy, remove on teardown."""

    def __init__(self, ctx: DeployContext):
        self.ctx = ctx

    # --- Step Functions -------------------------------------------------------------------------

    def _list_versions(self, sfn: Any) -> list[str]:
        found: list[str] = []
        token: str | None = None
        for _ in range(100):  # botocore has no paginator for this call; 100 x 1000 >= the limit
            page = sfn.list_state_machine_versions(
                stateMachineArn=self.ctx.names.state_machine_arn,
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
        sfn = self.ctx.c("stepfunctions")
        try:
            # Tried once: an endpoint that lacks the call answers 5xx, not worth ten retries.
            return self._list_versions(self.ctx.client("stepfunctions", retries=False))
        except ClientError as exc:
            code = error_code(exc)
            if missing(exc):
                return []
            if code in ("ThrottlingException", "TooManyRequestsException"):
                return self._list_versions(sfn)
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500:
                raise
            if not self.ctx.local_emulator():
                raise  # a 5xx from AWS is AWS's error; only an emulator lacks the call
        # Endpoints without ListStateMachineVersions (moto): probe version ARNs in order.
        sm_arn = self.ctx.names.state_machine_arn
        found: list[str] = []
        for number in range(1, 1001):  # Step Functions keeps at most 1000 versions
            try:
                sfn.describe_state_machine(stateMachineArn=f"{sm_arn}:{number}")
            except ClientError:
                if found or number >= 5:
                    break
                continue
            found.append(f"{sm_arn}:{number}")
        return found

    def ensure_state_machine(
        self, definition: dict[str, Any], logging: dict[str, Any]
    ) -> str | None:
        """`logging` is the loggingConfiguration the state machine should have."""
        sfn = self.ctx.c("stepfunctions")
        names = self.ctx.names
        text = json.dumps(definition, indent=2)
        role = names.role_arn(names.states_role)
        # What create and update both send: each publishes the deployed text as a new version.
        published = {
            "definition": text,
            "roleArn": role,
            "loggingConfiguration": logging,
            "publish": True,
            "versionDescription": "opsbook deploy",
        }
        try:
            current = sfn.describe_state_machine(stateMachineArn=names.state_machine_arn)
        except ClientError as exc:
            if not missing(exc):
                raise
            if not self.ctx.note(
                "create", "state_machine", names.state_machine, "and publish version 1"
            ):
                return None
            made = self.ctx.after_iam(
                lambda: sfn.create_state_machine(
                    name=names.state_machine,
                    type="STANDARD",
                    tags=[{"key": k, "value": v} for k, v in self.ctx.tags.items()],
                    **published,
                )
            )
            return self._published(made)
        stale = []
        if json.loads(current["definition"]) != definition:
            stale.append("definition")
        if current["roleArn"] != role:
            stale.append("role")
        if plain(current.get("loggingConfiguration")) != plain(logging):
            stale.append("logging")
        versions = self.versions()
        if not stale and versions:
            self.ctx.note("unchanged", "state_machine", names.state_machine)
            self.ctx.note("unchanged", "version", short_arn(versions[-1]))
            return versions[-1]
        self.ctx.note(
            "update" if stale else "unchanged",
            "state_machine",
            names.state_machine,
            ", ".join(stale),
        )
        if self.ctx.plan:
            self.ctx.note("create", "version", f"{names.state_machine}:{len(versions) + 1}")
            return None
        updated = self.ctx.after_iam(
            lambda: sfn.update_state_machine(stateMachineArn=names.state_machine_arn, **published)
        )
        return self._published(updated)

    def _published(self, response: dict[str, Any]) -> str:
        """The version a create/update published, noted in the plan."""
        self.ctx.note("create", "version", short_arn(response["stateMachineVersionArn"]))
        return response["stateMachineVersionArn"]

    def ensure_alias(self, version: str | None) -> None:
        sfn = self.ctx.c("stepfunctions")
        names = self.ctx.names
        current = self.ctx.alias_target(names.alias_arn)
        if current is None:
            if self.ctx.note(
                "create",
                "alias",
                short_arn(names.alias_arn),
                f"-> {short_arn(version) if version else 'the new version'}",
            ):
                sfn.create_state_machine_alias(
                    name=names.alias,
                    description="what the schedule and opsbook start",
                    routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}],
                )
            return
        if current == version:
            self.ctx.note(
                "unchanged", "alias", short_arn(names.alias_arn), f"-> {short_arn(current)}"
            )
            return
        if version is None:  # plan: the version deploy would publish has no ARN yet
            self.ctx.note(
                "update",
                "alias",
                short_arn(names.alias_arn),
                f"{short_arn(current)} -> the new version",
            )
            return
        if self.ctx.note(
            "update",
            "alias",
            short_arn(names.alias_arn),
            f"{short_arn(current)} -> {short_arn(version)}",
        ):
            sfn.update_state_machine_alias(
                stateMachineAliasArn=names.alias_arn,
                routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}],
            )

    def rollback(self) -> str:
        names = self.ctx.names
        current = self.ctx.alias_target(names.alias_arn)
        if current is None:
            raise UsageError(
                f"nothing to roll back: {names.alias_arn} does not exist; deploy first"
            )
        number = int(current.rsplit(":", 1)[1])
        older = [v for v in self.versions() if int(v.rsplit(":", 1)[1]) < number]
        if not older:
            raise UsageError(f"nothing to roll back to: {current} is the oldest version")
        target = older[-1]
        if self.ctx.note(
            "update",
            "alias",
            short_arn(names.alias_arn),
            f"rollback {short_arn(current)} -> {short_arn(target)}",
        ):
            self.ctx.c("stepfunctions").update_state_machine_alias(
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
        scheduler = self.ctx.c("scheduler")
        name, group = spec["Name"], spec["GroupName"]
        try:
            current = scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if not missing(exc):
                raise
            detail = (
                f"{spec.get('ScheduleExpression')} {spec.get('ScheduleExpressionTimezone', 'UTC')}"
            )
            if self.ctx.note("create", "schedule", f"{group}/{name}", detail):
                self.ctx.after_iam(lambda: scheduler.create_schedule(**spec))
            return
        stale = [
            key
            for key in self.SCHEDULE_KEYS
            if key in spec and plain(current.get(key)) != plain(spec[key])
        ]
        if self.ctx.note(
            "update" if stale else "unchanged", "schedule", f"{group}/{name}", ", ".join(stale)
        ):
            self.ctx.after_iam(lambda: scheduler.update_schedule(**spec))

    def remove_schedule(self, spec: dict[str, Any]) -> None:
        """`spec` is the rendered schedule: its Name and GroupName say which one is ours."""
        scheduler = self.ctx.c("scheduler")
        name, group = spec["Name"], spec["GroupName"]
        try:
            current = scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if missing(exc):
                return
            raise
        # Schedules carry no tags; ours targets our starter (or, deployed before it, our alias).
        ours = (self.ctx.names.starter_arn, self.ctx.names.alias_arn)
        if current.get("Target", {}).get("Arn") not in ours:
            self.ctx.note(
                "unchanged", "schedule", f"{group}/{name}", "targets something else; left alone"
            )
            return
        if self.ctx.note("delete", "schedule", f"{group}/{name}"):
            scheduler.delete_schedule(Name=name, GroupName=group)

    def remove_state_machine(self) -> None:
        sfn = self.ctx.c("stepfunctions")
        arn = self.ctx.names.state_machine_arn
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            tags = sfn.list_tags_for_resource(resourceArn=arn)["tags"]
        except ClientError as exc:
            if missing(exc):
                return
            raise
        if not any(t["key"] == MANAGED_TAG[0] and t["value"] == MANAGED_TAG[1] for t in tags):
            self.ctx.note(
                "unchanged",
                "state_machine",
                self.ctx.names.state_machine,
                "not created by opsbook; left alone",
            )
            return
        if self.ctx.alias_target(self.ctx.names.alias_arn) is not None:
            if self.ctx.note("delete", "alias", short_arn(self.ctx.names.alias_arn)):
                sfn.delete_state_machine_alias(stateMachineAliasArn=self.ctx.names.alias_arn)
        # Deleting the state machine deletes its versions too.
        if self.ctx.note(
            "delete", "state_machine", self.ctx.names.state_machine, "with its versions"
        ):
            sfn.delete_state_machine(stateMachineArn=arn)
