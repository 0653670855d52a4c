"""The sandbox import: the artifacts alone, in a fresh `python -I -S` of the runtime's version.

sys.path holds only the standard library, the function zip's folder, the layer's `python/`
folder and a copy of the runtime's own boto3/botocore, in Lambda's order (/var/task, /opt/python,
then the runtime). Each handler module is imported in its own process (its cold import time is
measured there), then the modules the functions load lazily on AWS, and notify's handler posts
to a loopback webhook. A module missing from the artifacts, or one loaded from anywhere else,
fails here rather than on AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from opsbook.errors import ConfigError
from opsbook.lambda_build.targets import Runtime

# Loaded lazily by the handlers on AWS: the BigQuery path, google-auth's federation, Slack.
LAZY_MODULES = (
    "opsbook.warehouse.bigquery_jobs",
    "google.cloud.bigquery",
    "google.auth",
    "google.auth.aws",
    "google.auth.transport.requests",
    "google.oauth2.service_account",
    "slack_sdk.webhook",
    "slack_sdk.http_retry.builtin_handlers",
    "opsbook.warehouse.rules",
)
# What must never load in a function: dataframes, DuckDB, gRPC.
FORBIDDEN = ("pandas", "pyarrow", "numpy", "duckdb", "grpc")

_SCRIPT = r"""
import importlib, json, os, sys, time
cfg = json.loads(sys.argv[1])
stdlib = [p for p in sys.path if p and "site-packages" not in p and "dist-packages" not in p]
sys.path[:] = cfg["path"] + stdlib
allowed = [os.path.realpath(p) for p in cfg["path"]] + [os.path.realpath(p) for p in stdlib]
out = {"imports": {}, "outside": [], "forbidden": []}
for name in cfg["modules"]:
    t0 = time.perf_counter()
    importlib.import_module(name)
    out["imports"][name] = time.perf_counter() - t0
if cfg.get("notify"):
    from opsbook.lambdas import notify
    out["notify"] = notify.handler({"text": "sandbox import check", "username": "opsbook"}, None)
for name, mod in list(sys.modules.items()):
    f = getattr(mod, "__file__", None)
    if f and not any(os.path.realpath(f).startswith(a + os.sep) for a in allowed):
        out["outside"].append(f"{name}: {f}")
    if name.split(".")[0] in cfg["forbidden"]:
        out["forbidden"].append(name)
print("SANDBOX-RESULT " + json.dumps(out))
"""


class SandboxError(ConfigError):
    """The artifacts do not import on their own (exit 2, one line)."""


@dataclass(frozen=True)
class SandboxResult:
    import_seconds: dict[str, float]  # each handler module's cold import, in its own process
    notify: dict  # what notify's handler returned
    webhook_bodies: list[bytes]  # what the loopback webhook received


def runtime_python(rt: Runtime) -> str:
    """An interpreter of the runtime's minor version: this one, or python3.X on PATH."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == rt.python:
        return sys.executable
    found = shutil.which(f"python{rt.python}")
    real = _interpreter(found, rt.python) if found else None
    if real is None:
        # A version manager's shim can be on PATH where it has no such interpreter to run.
        raise SandboxError(
            f"no working python{rt.python} here to import-test the {rt.name} artifacts; "
            "install it or choose lambda_runtime matching this Python"
        )
    return real


def _interpreter(python: str, version: str) -> str | None:
    """The interpreter `python` runs (its sys.executable, past any shim) when it starts and is
    that major.minor version; the sandbox then runs it without this environment."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or len(lines) != 2 or lines[0] != version:
        return None
    return lines[1]


def extract(zips: Iterable[tuple[bytes, Path]]) -> None:
    import io

    for data, dest in zips:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(dest)


class _Webhook(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def _run(python: str, path: Sequence[str], modules: Sequence[str], env: dict, notify: bool) -> dict:
    cfg = {"path": list(path), "modules": list(modules), "forbidden": FORBIDDEN, "notify": notify}
    done = subprocess.run(
        [python, "-I", "-S", "-c", _SCRIPT, json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    marker = [ln for ln in done.stdout.splitlines() if ln.startswith("SANDBOX-RESULT ")]
    if done.returncode != 0 or not marker:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        what = modules[0] if len(modules) == 1 else f"{len(modules)} modules"
        raise SandboxError(f"sandbox import ({what}) failed: {last}")
    result = json.loads(marker[-1].split(" ", 1)[1])
    if result["forbidden"]:
        raise SandboxError(
            f"the functions load {sorted(result['forbidden'])[0]}, which they must not"
        )
    if result["outside"]:
        raise SandboxError(
            f"sandbox loaded a module from outside the artifacts: {result['outside'][0]}"
        )
    return result


def sandbox_import(
    rt: Runtime,
    function_dir: Path,
    layer_dir: Path,
    sdk_dir: Path,
    handler_modules: Sequence[str],
    *,
    lazy_modules: Sequence[str] = LAZY_MODULES,
) -> SandboxResult:
    """Import every handler module (one process each), then the lazy modules, then call
    notify's handler against a loopback webhook. Raises SandboxError on the first failure."""
    python = runtime_python(rt)
    path = [str(function_dir), str(layer_dir / "python"), str(sdk_dir)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/services/sandbox"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(function_dir.parent),
            "LANG": "C.UTF-8",
            "SLACK_WEBHOOK_URL": url,
            "OPSBOOK_HOME": str(function_dir.parent / "home"),
            "AWS_REGION": "us-east-1",
            "NO_PROXY": "127.0.0.1",
        }
        times = {}
        for module in handler_modules:
            times[module] = _run(python, path, [module], env, False)["imports"][module]
        everything = _run(python, path, [*handler_modules, *lazy_modules], env, True)
    finally:
        server.shutdown()
        server.server_close()
    notify = everything.get("notify") or {}
    bodies = list(server.bodies)  # type: ignore[attr-defined]
    if notify.get("statusCode") != 200 or not bodies:
        raise SandboxError(f"notify's handler did not reach the loopback webhook: {notify}")
    return SandboxResult(times, notify, bodies)
