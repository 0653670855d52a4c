"""opsbook: operate the weekly-load Step Functions workflow, offline or on AWS."""

from opsbook.backends import Backend, connect
from opsbook.errors import OpsbookError, UsageError

__all__ = ["Backend", "OpsbookError", "UsageError", "connect"]
__version__ = "0.1.0"
