"""What every deploy step receives: the clients, names, config and workflow of one run, the
plan flag, and the change recorder. The step components (access, functions, states,
observability) take one of these instead of sharing a Deployer's `self`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from opsbook.backends.aws.common import IAM_RETRY
from opsbook.backends.aws.errors import error_code
from opsbook.backends.aws.iam import MANAGED_TAG, Names
from opsbook.backends.base import Change
from opsbook.config import Config
from opsbook.workflows.manifest import Workflow


class DeployTarget(Protocol):
    """What a deploy reads of the backend it deploys for (AwsBackend has all of it)."""

    @property
    def cfg(self) -> Config: ...

    @property
    def workflow(self) -> Workflow: ...

    @property
    def names(self) -> Names: ...

    @property
    def local_emulator(self) -> bool: ...

    def client(self, service: str, *, retries: bool = True) -> Any: ...

    def alias_target(self, alias_arn: str) -> str | None: ...


@dataclass
class DeployContext:
    """One deploy or teardown run: what it talks to, and what it has noted so far."""

    client: Callable[..., Any]  # service name (and retries=False) -> boto3 client
    resolve_names: Callable[[], Names]  # asked on first use: it calls STS
    cfg: Config
    workflow: Workflow
    alias_target: Callable[[str], str | None]  # alias ARN -> the version it routes to
    local_emulator: Callable[[], bool]  # asked only on an emulator's missing call
    iam_retry: tuple[int, float] = IAM_RETRY
    plan: bool = False
    fresh_roles: bool = False  # a role was just created or changed: retry what assumes it
    changes: list[Change] = field(default_factory=list)

    @property
    def names(self) -> Names:
        return self.resolve_names()

    @property
    def tags(self) -> dict[str, str]:
        return {MANAGED_TAG[0]: MANAGED_TAG[1], "opsbook:prefix": self.names.prefix}

    def c(self, service: str) -> Any:
        return self.client(service)

    def note(self, action: str, kind: str, name: str, detail: str = "") -> bool:
        """Record a change; True when it should be applied now."""
        self.changes.append(Change(action, kind, name, detail))
        return action != "unchanged" and not self.plan

    def after_iam(self, call: Callable[[], Any]) -> Any:
        """Retry a call that a just-created role can fail until IAM has propagated it."""
        attempts, delay = self.iam_retry if self.fresh_roles else (1, 0.0)
        for attempt in range(attempts):
            try:
                return call()
            except ClientError as exc:
                message = str(exc).lower()
                # Lambda: InvalidParameterValue "...cannot be assumed by Lambda"; Step Functions:
                # AccessDenied "...not authorized to assume the provided role"; Scheduler:
                # Validation "...must allow AWS EventBridge Scheduler to assume the role"; Lambda
                # with a dead-letter queue: "...execution role does not have permissions to
                # call SendMessage on SQS" until the new role's policy has propagated.
                retry = error_code(exc) in (
                    "InvalidParameterValueException",
                    "ValidationException",
                    "AccessDeniedException",
                ) and (
                    "role" in message and ("assume" in message or "permissions to call" in message)
                )
                if not retry or attempt == attempts - 1:
                    raise
                time.sleep(delay)
        return None


def tagged(tags: Any) -> bool:
    """True when a resource's tags (a dict, or a list of Key/Value pairs) mark it as ours."""
    if isinstance(tags, dict):
        return tags.get(MANAGED_TAG[0]) == MANAGED_TAG[1]
    return any(
        t.get("Key") == MANAGED_TAG[0] and t.get("Value") == MANAGED_TAG[1] for t in tags or []
    )
