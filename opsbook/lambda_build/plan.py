"""What the Lambda build takes: each function's name and `module:function` handler, and the
source files that go into the function zip. Computed here, in one place, from the Lambda list
(opsbook.lambdas.FUNCTIONS); a workflow manifest can hand the same two lists to the build."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from opsbook.backends.aws import packaging


@dataclass(frozen=True)
class Handler:
    function: str  # the AWS function name, "opsbook-check-records"
    entry: str  # "opsbook.lambdas.check_records:handler"

    @property
    def module(self) -> str:
        return self.entry.split(":", 1)[0]

    @property
    def attribute(self) -> str:
        return self.entry.split(":", 1)[1]

    @property
    def lambda_handler(self) -> str:
        """Lambda's Handler setting: "opsbook.lambdas.check_records.handler"."""
        return f"{self.module}.{self.attribute}"


@dataclass(frozen=True)
class Source:
    path: Path  # the file on disk
    arcname: str  # its path inside the function zip


def handlers(prefix: str = "opsbook") -> list[Handler]:
    from opsbook.lambdas import FUNCTIONS

    out = []
    for fn in FUNCTIONS.values():
        module, _, attribute = fn.handler_path.rpartition(".")
        out.append(Handler(fn.function_name(prefix), f"{module}:{attribute}"))
    return out


def sources(root: Path = packaging.PACKAGE_ROOT) -> list[Source]:
    """The opsbook modules the handlers import, and the data files beside the handlers."""
    files = list(packaging.function_modules(root))
    files += [
        p
        for p in sorted((root / "lambdas").rglob("*"))
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    return [Source(p, str(PurePosixPath("opsbook", *p.relative_to(root).parts))) for p in files]
