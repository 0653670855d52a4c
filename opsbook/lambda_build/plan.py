"""What the Lambda build takes: each function's name and `module:function` handler, and the
source files that go into the function zip. Computed here, in one place, from the workflow's
manifest: one function per task, its `module:handler`, and (for a workflow outside the opsbook
package) the workflow folder's modules at the zip's root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsbook.backends.aws import packaging

if TYPE_CHECKING:
    from opsbook.workflows.manifest import Workflow


@dataclass(frozen=True)
class Handler:
    function: str  # the AWS function name, "opsbook-check-records"
    entry: str  # "opsbook.definitions.weekly_load.check_records:handler"

    @property
    def module(self) -> str:
        return self.entry.split(":", 1)[0]

    @property
    def attribute(self) -> str:
        return self.entry.split(":", 1)[1]

    @property
    def lambda_handler(self) -> str:
        """Lambda's Handler setting: "opsbook.definitions.weekly_load.check_records.handler"."""
        return f"{self.module}.{self.attribute}"


@dataclass(frozen=True)
class Source:
    path: Path  # the file on disk
    arcname: str  # its path inside the function zip


def handlers(workflow: Workflow, prefix: str) -> list[Handler]:
    """One function per task of the manifest, then the schedule's starter; Lambda calls the
    module's `handler`."""
    tasks = [
        Handler(task.function_name(prefix), f"{task.module}:handler") for task in workflow.tasks
    ]
    starter = Handler(workflow.starter_function(prefix), f"{packaging.STARTER_MODULE}:handler")
    return [*tasks, starter]


def sources(workflow: Workflow, root: Path = packaging.PACKAGE_ROOT) -> list[Source]:
    """The opsbook modules the handlers import, the data files beside the handlers, and a user
    workflow's own modules at the zip's root (so a task's `module:function` imports as on the
    local backend; its tests stay behind)."""
    out = [Source(path, arcname) for arcname, path in packaging.function_files(root).items()]
    if not workflow.shipped:
        out += [
            Source(path, path.relative_to(workflow.folder).as_posix())
            for path in sorted(workflow.folder.rglob("*.py"))
            if "__pycache__" not in path.parts and not path.name.startswith("test_")
        ]
    return out
