"""opsbook.engine: a local Amazon States Language interpreter with AWS-shaped history.

    run = execute(definition, input, tasks={...}, clock=VirtualClock())
    run.status, run.output, run.error, run.cause, run.history

The engine knows nothing about opsbook.
"""

from .clock import RealClock, VirtualClock
from .errors import DefinitionError, Diagnostic, InvalidRequest, StatesError
from .runner import Run, compile_definition, execute, redrive, validate
from .teststate import test_state

__all__ = [
    "DefinitionError",
    "Diagnostic",
    "InvalidRequest",
    "RealClock",
    "Run",
    "StatesError",
    "VirtualClock",
    "compile_definition",
    "execute",
    "redrive",
    "test_state",
    "validate",
]
