"""opsbook: operate scheduled Step Functions workflows and their partitions, offline or on AWS."""

from opsbook.backends import Backend, connect
from opsbook.errors import OpsbookError, UsageError

__all__ = ["Backend", "OpsbookError", "UsageError", "connect"]
__version__ = "0.1.0"
