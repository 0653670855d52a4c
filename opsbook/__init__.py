"""opsbook: operate scheduled Step Functions workflows and their partitions, offline or on AWS.

`opsbook.connect()` opens a backend; `opsbook.history`, `opsbook.backfill` and
`opsbook.failures` are the operations modules (imported on first use, so `import opsbook`
stays light).
"""

from __future__ import annotations

import importlib
from typing import Any

from opsbook.backends import Backend, connect
from opsbook.errors import OpsbookError, UsageError

__all__ = ["Backend", "OpsbookError", "UsageError", "backfill", "connect", "failures", "history"]
__version__ = "0.1.0"

_OPERATIONS = ("backfill", "failures", "history")


def __getattr__(name: str) -> Any:
    if name in _OPERATIONS:
        module = importlib.import_module(f"opsbook.operations.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'opsbook' has no attribute {name!r}")
