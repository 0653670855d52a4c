"""Errors inside the ASL engine. The engine knows nothing about opsbook."""

from __future__ import annotations

from dataclasses import dataclass


class StatesError(Exception):
    """A runtime error with an ASL error name (States.Runtime, States.TaskFailed, a Lambda
    exception class name, ...) and a cause text exactly as AWS writes it. `location` names
    the field a JSONata error came from (EvaluationFailed's location), when known."""

    location: str | None = None

    def __init__(self, error: str | None, cause: str | None = None):
        # error is None only for a Fail state without Error, passed up from a branch
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


@dataclass(frozen=True)
class Diagnostic:
    """One problem found by validate(): like ValidateStateMachineDefinition's diagnostics."""

    code: str  # e.g. "SCHEMA_VALIDATION_FAILED", "MISSING_TRANSITION_TARGET"
    message: str
    location: str  # e.g. "/States/CheckRecords/Next"
    severity: str = "ERROR"

    def __str__(self) -> str:
        return f"{self.location}: {self.code}: {self.message}"


class DefinitionError(ValueError):
    """The definition is malformed or invalid; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        more = f" (+{len(self.diagnostics) - 1} more)" if len(self.diagnostics) > 1 else ""
        super().__init__(f"invalid definition: {first}{more}" if first else "invalid definition")


class InvalidRequest(ValueError):
    """StartExecution refused the request, as AWS's API would; `code` is AWS's error code
    (InvalidName, ValidationException)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
