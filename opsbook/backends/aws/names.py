"""Every name and ARN that deploy, teardown and the backend use on AWS, derived from config, the
account, the region and the workflow's manifest (no AWS call)."""

from __future__ import annotations

from dataclasses import dataclass

from opsbook.config import Config
from opsbook.workflows.manifest import Task, Workflow
from opsbook.workflows.registry import get_workflow


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Names:
    """Every name and ARN deploy uses, derived from config, account and region."""

    prefix: str
    account: str
    region: str
    state_machine: str
    alias: str
    bucket: str
    sql_prefix: str
    slack_secret: str
    bq_secret: str = ""
    # The workflow's tasks (one Lambda each, from its manifest) and the scope that keeps its
    # roles, layer and SQL objects apart from other workflows' ("" for the weekly load, whose
    # names predate workflows).
    tasks: tuple[Task, ...] = ()
    scope: str = ""
    schedule_name: str = ""
    starter: str = ""  # the function the schedule invokes (opsbook.lambdas.start_partition)

    @classmethod
    def from_config(
        cls, cfg: Config, account: str, region: str, workflow: Workflow | None = None
    ) -> Names:
        workflow = workflow or get_workflow(cfg)
        cfg = cfg.for_workflow(workflow)
        prefix = cfg.resource_prefix
        scope = workflow.resource_scope
        return cls(
            prefix=prefix,
            account=account,
            region=region,
            state_machine=cfg.state_machine_name,
            alias=cfg.alias_name,
            bucket=cfg.sql_bucket or f"{prefix}-sql-{account}-{region}",
            sql_prefix=f"{cfg.sql_prefix}{scope}/" if scope else cfg.sql_prefix,
            slack_secret=cfg.slack_secret_name,
            bq_secret=cfg.bq_credentials_secret,
            tasks=workflow.tasks,
            scope=scope,
            schedule_name=f"{prefix}-{workflow.name.replace('_', '-')}",
            starter=workflow.starter_function(prefix),
        )

    def scoped(self, name: str) -> str:
        return f"{self.prefix}-{self.scope}-{name}" if self.scope else f"{self.prefix}-{name}"

    @property
    def partition(self) -> str:
        return partition_for(self.region)

    def _arn(self, service: str, resource: str, region: str | None = None) -> str:
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    # roles ---------------------------------------------------------------------------------
    @property
    def lambda_role(self) -> str:
        return self.scoped("lambda")

    @property
    def states_role(self) -> str:
        return self.scoped("states")

    @property
    def scheduler_role(self) -> str:
        return self.scoped("scheduler")

    @property
    def starter_role(self) -> str:
        return self.scoped("starter")

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.lambda_role, self.states_role, self.scheduler_role, self.starter_role)

    def role_arn(self, role: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{role}"

    # functions and layer -------------------------------------------------------------------
    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r}")

    def function(self, task: str) -> str:
        """The function name of a task, e.g. "opsbook-check-records" for CheckRecords."""
        return self.task(task).function_name(self.prefix)

    @property
    def functions(self) -> dict[str, str]:
        """Task name -> function name, one per task of the manifest."""
        return {t.name: t.function_name(self.prefix) for t in self.tasks}

    def function_arn(self, task: str) -> str:
        return self._arn("lambda", f"function:{self.function(task)}")

    @property
    def starter_arn(self) -> str:
        return self._arn("lambda", f"function:{self.starter}")

    @property
    def all_functions(self) -> list[str]:
        """Every function deploy creates: one per task, then the schedule's starter."""
        return [*self.functions.values(), self.starter]

    def function_log_group_arn(self, function: str) -> str:
        return self._arn("logs", f"log-group:/aws/lambda/{function}")

    @property
    def layer(self) -> str:
        return self.scoped("deps")

    def log_group_arn(self, task: str) -> str:
        return self.function_log_group_arn(self.function(task))

    # state machine and schedule ------------------------------------------------------------
    @property
    def state_machine_arn(self) -> str:
        return self._arn("states", f"stateMachine:{self.state_machine}")

    @property
    def alias_arn(self) -> str:
        return f"{self.state_machine_arn}:{self.alias}"

    def execution_arn(self, name: str) -> str:
        return self._arn("states", f"execution:{self.state_machine}:{name}")

    @property
    def schedule(self) -> str:
        return self.schedule_name

    # observability ---------------------------------------------------------------------------
    @property
    def dlq(self) -> str:
        """The schedule's dead-letter queue (a standard queue: Scheduler takes no FIFO one)."""
        return self.scoped("schedule-dlq")

    @property
    def dlq_arn(self) -> str:
        return self._arn("sqs", self.dlq)

    @property
    def states_log_group(self) -> str:
        # /aws/vendedlogs/ keeps the log group out of CloudWatch Logs' resource policy size
        # limit (Step Functions developer guide, "Logging using CloudWatch Logs").
        return f"/aws/vendedlogs/states/{self.state_machine}"

    @property
    def states_log_group_arn(self) -> str:
        return self._arn("logs", f"log-group:{self.states_log_group}")

    @property
    def log_groups(self) -> list[str]:
        """Every log group deploy creates (with a retention period): the functions' and the
        state machine's."""
        return [f"/aws/lambda/{f}" for f in self.all_functions] + [self.states_log_group]

    @property
    def alarms(self) -> dict[str, str]:
        return {
            "schedule_errors": self.scoped("schedule-target-errors"),
            "executions_failed": self.scoped("executions-failed"),
            "dead_letters": self.scoped("schedule-dead-letters"),
        }

    def alarm_arn(self, name: str) -> str:
        return self._arn("cloudwatch", f"alarm:{name}")

    # S3 and secrets -------------------------------------------------------------------------
    def object_arn(self, key: str) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}/{key}"

    def secret_arn(self, name: str) -> str:
        """SSM parameter ARNs are exact; a Secrets Manager ARN ends in a random 6-character
        suffix that deploy reads back from AWS, so this is only the suffix-less form."""
        if name.startswith("/"):
            return self._arn("ssm", f"parameter{name}")
        return self._arn("secretsmanager", f"secret:{name}")

    @property
    def placeholders(self) -> dict[str, str]:
        """`${Name}` placeholders of definitions/*.json and their values."""
        values = {t.placeholder: self.function_arn(t.name) for t in self.tasks}
        values["StateMachineArn"] = self.alias_arn
        values["StartPartitionFunctionArn"] = self.starter_arn  # what the schedule targets
        values["StateMachineAliasArn"] = self.alias_arn
        values["SchedulerRoleArn"] = self.role_arn(self.scheduler_role)
        values["StatesRoleArn"] = self.role_arn(self.states_role)
        return values
