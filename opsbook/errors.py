"""Errors that the CLI turns into exit codes.

UsageError (exit 2): bad input or configuration; its message is one line a user can act on.
OperationFailed (exit 1): the operation ran and failed (an execution ended FAILED, ...).
"""


class OpsbookError(Exception):
    """Base class for every error opsbook raises on purpose."""

    exit_code = 1


class UsageError(OpsbookError):
    """Bad input or configuration. The message is one line naming what to fix."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file, environment variable or option is wrong or missing."""


class OperationFailed(OpsbookError):
    """The operation ran and did not succeed."""

    exit_code = 1


class ExecutionAlreadyExists(OpsbookError):
    """A start named an execution that exists with another input or already closed."""

    exit_code = 1

    def __init__(self, message: str, existing=None):
        super().__init__(message)
        self.existing = existing


class ExecutionNotFound(UsageError):
    """No execution has that name or ARN."""
