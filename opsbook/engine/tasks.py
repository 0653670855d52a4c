"""Task resources: find the Python handler for a resource and shape its result as AWS does."""

from __future__ import annotations

import os
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from .errors import StatesError
from .expressions import dumps

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
_SUFFIXES = (".sync:2", ".sync", ".waitForTaskToken")


def is_lambda_arn(resource: str) -> bool:
    return resource.startswith("arn:") and ":lambda:" in resource and ":function:" in resource


def function_name(ref: str) -> str:
    """Function name from a Lambda ARN, partial ARN ("123:function:f") or name, minus :alias."""
    if ":function:" in ref:
        ref = ref.split(":function:", 1)[1]
    return ref.split(":", 1)[0]


def service_parts(resource: str) -> tuple[str, str]:
    """("lambda", "invoke") for arn:aws:states:::lambda:invoke, as TaskScheduled reports it."""
    if resource.startswith("arn:") and ":states:::" in resource:
        rest = resource.split(":states:::", 1)[1]
        kind, _, action = rest.rpartition(":")
        return kind or rest, action
    if resource.startswith("arn:") and ":activity:" in resource:
        return "activity", resource
    return "custom", resource


def find_handler(tasks: Mapping[str, Callable] | None, resource: str, params: Any):
    """The handler registered for a resource; None when there is none."""
    if not tasks:
        return None
    handler = tasks.get(resource)
    if handler is not None:
        return handler
    base = resource
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            handler = tasks.get(base)
            if handler is not None:
                return handler
            break
    if base == LAMBDA_INVOKE:
        ref = params.get("FunctionName") if isinstance(params, dict) else None
        if not isinstance(ref, str):
            return None
        return tasks.get(ref) or _by_function(tasks, ref)
    if is_lambda_arn(resource):
        return _by_function(tasks, resource)
    return None


def _by_function(tasks: Mapping[str, Callable], ref: str):
    name = function_name(ref)
    handler = tasks.get(name)
    if handler is not None:
        return handler
    for key, value in tasks.items():  # a registered ARN / partial ARN for the same function
        if (":function:" in key) and function_name(key) == name:
            return value
    return None


def lambda_invoke_result(payload: Any, now: datetime | None = None) -> dict:
    """The result the lambda:invoke integration returns around a function's payload (the
    headers AWS reports, with this invocation's ids, length and date)."""
    request_id = str(uuid.uuid4())
    trace = f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0"
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(dumps(payload).encode("utf-8"))),
        "Content-Type": "application/json",
        "Date": format_datetime((now or datetime.now(UTC)).astimezone(UTC), usegmt=True),
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": trace,
    }
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


def exception_to_error(exc: BaseException) -> StatesError:
    """A handler's exception as Lambda reports it: error = class name, cause = Lambda's JSON."""
    if isinstance(exc, StatesError):
        return exc
    name = type(exc).__name__
    stack = [
        f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n'
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_ENGINE_DIR)  # only the handler's own frames, as Lambda
    ]
    cause = dumps({"errorMessage": str(exc), "errorType": name, "stackTrace": stack})
    return StatesError(name, cause)


def call_handler(handler: Callable, payload: Any, clock: Any, timeout: float | None) -> Any:
    """Run a handler; with a timeout, give up after `timeout` real seconds (raising
    States.Timeout), under the virtual clock too: a Python handler's work takes real time.

    Under the virtual clock the handler runs with the caller's virtual time (it may move it
    with clock.sleep), and a handler given up on moves it `timeout` seconds on."""
    if timeout is None:
        return handler(payload)
    bind = getattr(clock, "bind", None) if getattr(clock, "virtual", False) else None
    started = clock.now()
    box: dict[str, Any] = {}

    def target() -> None:
        if bind is not None:
            bind(started)
        try:
            box["result"] = handler(payload)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            if bind is not None:
                box["now"] = clock.now()
                bind(None)

    worker = threading.Thread(target=target, daemon=True, name="opsbook-task-handler")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        if bind is not None:
            clock.set(started + timedelta(seconds=timeout))
        raise StatesError("States.Timeout")
    if "now" in box:
        clock.set(box["now"])
    if "error" in box:
        raise box["error"]
    return box["result"]
