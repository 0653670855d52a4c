"""The dependency layer, installed by pip for the runtime's platform (never copied from the
environment opsbook runs in).

`pip install --target DIR --only-binary=:all: --platform TAG... --python-version X.Y
--implementation cp --abi cpXY` picks wheels for another platform without running anything
(pip's documentation, "pip install": --platform, --python-version, --implementation, --abi).
The resolution is read from `pip install --dry-run --report`, the packages the functions never
load are dropped, and the rest are installed with --no-deps. The installed tree is cached per
(requirements, runtime, architecture): a second build reads it back without pip; pip's own
cache makes a rebuild fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from opsbook.errors import ConfigError
from opsbook.lambda_build.targets import Runtime, platform_tags

# What the functions import beyond the standard library and boto3: the BigQuery REST client,
# google-auth (service-account keys and workload identity federation), slack_sdk, sqlglot.
# sqlglot splits the insert script, so the layer pins the version opsbook itself runs and tests.
LAYER_REQUIREMENTS = (
    "google-cloud-bigquery",
    "google-auth",
    "slack_sdk",
    f"sqlglot=={metadata.version('sqlglot')}",
)
# Never in the layer. The runtime provides boto3 and botocore; google-api-core[grpc] pulls in
# grpc, which the BigQuery REST client never loads; the functions build no dataframes.
EXCLUDED = frozenset(
    {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "grpcio",
        "grpcio-status",
        "pandas",
        "pyarrow",
        "numpy",
        "db-dtypes",
    }
)
LAYOUT_VERSION = "1"  # bump when the tree layout changes, to invalidate caches


def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pip_target_args(rt: Runtime, arch: str) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", rt.python, "--implementation", "cp"]
    args += ["--abi", rt.abi]  # pip adds abi3 and pure-Python wheels itself
    for tag in platform_tags(rt, arch):
        args += ["--platform", tag]
    return args


def _pip(args: list[str], what: str) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PIP_TARGET", None)
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")] or [
            done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "pip failed"
        ]
        raise ConfigError(f"{what}: {lines[0]}")
    return done.stdout


def resolve(
    requirements: Iterable[str], rt: Runtime, arch: str, exclude: frozenset[str] = EXCLUDED
) -> list[str]:
    """`name==version` of every distribution the requirements need on the target, minus
    `exclude`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _pip(
            [
                "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                "--target", str(Path(tmp) / "t"), *pip_target_args(rt, arch), *requirements,
            ],
            f"resolving the Lambda layer for {rt.name} {arch}",
        )  # fmt: skip
        items = json.loads(report.read_text())["install"]
    pins = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items]
    return sorted(p for p in pins if norm(p.split("==")[0]) not in exclude)


def default_cache_dir() -> Path:
    """Shared by every opsbook home on this machine: a build depends only on its inputs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "opsbook" / "lambda-build"


def _publish(staging: Path, root: Path, marker: Path) -> None:
    """Move a finished build into place; another process may have finished the same first."""
    if marker.is_file():
        return
    shutil.rmtree(root, ignore_errors=True)
    try:
        staging.replace(root)
    except OSError:
        if not marker.is_file():
            raise


def install_tree(
    requirements: tuple[str, ...], rt: Runtime, arch: str, cache_dir: Path
) -> tuple[Path, list[str]]:
    """The layer's `python/` folder, installed (or read back from the cache), and its pins."""
    key = hashlib.sha256(
        json.dumps([LAYOUT_VERSION, sorted(requirements), rt.name, arch]).encode()
    ).hexdigest()[:16]
    root = Path(cache_dir) / f"layer-{rt.name}-{arch}-{key}"
    done = root / "pins.json"
    if done.is_file():
        return root / "python", json.loads(done.read_text())
    pins = resolve(requirements, rt, arch)
    staging = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=cache_dir))
    try:
        _pip(
            ["install", "--no-deps", "--quiet", "--target", str(staging / "python"),
             *pip_target_args(rt, arch), *pins],
            f"installing the Lambda layer for {rt.name} {arch}",
        )  # fmt: skip
        (staging / "pins.json").write_text(json.dumps(pins))
        _publish(staging, root, done)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / "python", pins


def runtime_sdk(rt: Runtime, arch: str, cache_dir: Path) -> Path:
    """A copy of boto3/botocore standing in for the one the runtime provides (the sandbox
    import puts it on sys.path instead of this environment's)."""
    root = Path(cache_dir) / f"runtime-sdk-{rt.name}-{arch}"
    if (root / "done").is_file():
        return root / "sdk"
    staging = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=cache_dir))
    try:
        _pip(
            ["install", "--quiet", "--target", str(staging / "sdk"), *pip_target_args(rt, arch),
             "boto3"],
            f"installing boto3 for the {rt.name} sandbox",
        )  # fmt: skip
        (staging / "done").write_text("ok")
        _publish(staging, root, root / "done")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / "sdk"


def tree_files(python_dir: Path) -> dict[str, Path]:
    """`python/<path>` -> file, without byte code, type stubs, C sources and console scripts."""
    out: dict[str, Path] = {}
    for path in sorted(python_dir.rglob("*")):
        rel = path.relative_to(python_dir)
        if not path.is_file() or rel.parts[0] == "bin" or "__pycache__" in rel.parts:
            continue
        if path.suffix in (".pyc", ".pyo", ".pyi", ".pxd", ".pyx", ".c", ".h", ".cpp"):
            continue
        out["python/" + rel.as_posix()] = path
    return out
