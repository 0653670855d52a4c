"""Build the Lambda deployment artifacts: one small function zip and one dependency layer.

Both zips are deterministic (sorted entries, fixed timestamps and modes), so an unchanged build
has the same SHA-256 and a second deploy compares equal to what Lambda already holds.
The layer is built from the distributions installed in this environment (no network): their
files come from importlib.metadata, minus what Lambda does not need at run time.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata as md
import io
import platform
import re
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.markers import default_environment
from packaging.requirements import Requirement

from opsbook.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # .../opsbook
HANDLER_MODULES = ("check_records", "notify", "insert_week")
# What the functions import beyond the standard library and boto3 (which the runtime has).
LAYER_REQUIREMENTS = (
    "google-cloud-bigquery",
    "db-dtypes",
    "pandas",
    "pyarrow",
    "numpy",
    "slack_sdk",
    "sqlglot",  # opsbook.warehouse splits the insert script with sqlglot's tokenizer
)
# The python3.11 Lambda runtime ships these; a layer copy would only shadow them.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})

# AWS limits (bytes). The unzipped limit covers the function and all its layers together.
UNZIPPED_LIMIT = 262_144_000
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips go through S3
MAX_LAYERS = 5

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_DROP_DIRS = frozenset({"__pycache__", "tests", "include"})
_DROP_SUFFIXES = (".pyc", ".pyo", ".pyi", ".pxd", ".pyx", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp")
# pyarrow pieces nothing in the BigQuery client path loads (Flight RPC, S3 filesystem), plus
# the extra copies of libarrow_python that the wheel stores instead of symlinks.
_DROP_FILES = re.compile(
    r"^pyarrow/(libarrow_flight|_flight|libarrow_python_flight|libarrow_s3|_s3fs)[^/]*$"
    r"|^pyarrow/libarrow_python\.so(\.\d+\.\d+\.\d+)?$"
)


@dataclass(frozen=True)
class Artifact:
    """A built zip: its bytes, and the figures Lambda reports about it."""

    name: str
    data: bytes
    unzipped_size: int
    entries: tuple[str, ...]
    distributions: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Base64 SHA-256, as Lambda's CodeSha256."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


def _zip(files: dict[str, bytes], executable: frozenset[str] = frozenset()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if arcname in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            zf.writestr(info, files[arcname])
    return buf.getvalue()


# --- the function zip -----------------------------------------------------------------------


def _top_level(tree: ast.Module) -> list[ast.AST]:
    """Nodes outside function bodies: what runs when the module is imported."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _opsbook_imports(source: str, lazy: bool) -> set[str]:
    """The opsbook modules a source file imports; inside functions too when `lazy`."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree) if lazy else _top_level(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "opsbook")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "opsbook":
                found.add(node.module)
                # `from opsbook.x import y` may name a submodule y.
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _module_path(module: str, root: Path) -> Path | None:
    rel = Path(*module.split(".")[1:])
    for candidate in (root / rel / "__init__.py", (root / rel).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def function_modules(root: Path = PACKAGE_ROOT) -> list[Path]:
    """The opsbook source files the Lambda handlers need: the import closure of opsbook.lambdas
    (module-level imports everywhere, plus the lazy imports inside opsbook.lambdas)."""
    lambdas = root / "lambdas"
    missing = [m for m in HANDLER_MODULES if not (lambdas / f"{m}.py").is_file()]
    if missing:
        raise ConfigError(
            f"opsbook/lambdas/{missing[0]}.py is missing; cannot build the Lambda zip"
        )
    todo = ["opsbook", "opsbook.lambdas"] + [
        f"opsbook.lambdas.{p.stem}" for p in sorted(lambdas.glob("*.py"))
    ]
    seen: dict[str, Path] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_path(module, root)
        if path is None:
            continue  # `from opsbook.x import name` where name is not a module
        seen[module] = path
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        # The handlers' own lazy imports run on Lambda; elsewhere, lazy imports serve the CLI
        # and the local backend (engine, store, ...), which the functions never reach.
        lazy = module.startswith("opsbook.lambdas")
        todo.extend(_opsbook_imports(path.read_text(encoding="utf-8"), lazy))
    return sorted(set(seen.values()))


def build_function_zip(
    root: Path = PACKAGE_ROOT, extra: Mapping[str, bytes] | None = None
) -> Artifact:
    """One zip for all of a workflow's functions: handler `opsbook.lambdas.<name>.handler`,
    plus `extra` files (a user workflow's handler modules) at the zip's root."""
    files: dict[str, bytes] = dict(extra or {})
    for path in function_modules(root):
        files[str(PurePosixPath("opsbook", *path.relative_to(root).parts))] = path.read_bytes()
    # Data files beside the handlers (e.g. bundled SQL) travel with them.
    for path in sorted((root / "lambdas").rglob("*")):
        if (
            path.is_file()
            and path.suffix not in (".py", ".pyc")
            and "__pycache__" not in path.parts
        ):
            files[str(PurePosixPath("opsbook", *path.relative_to(root).parts))] = path.read_bytes()
    return Artifact(
        name="function",
        data=_zip(files),
        unzipped_size=sum(len(v) for v in files.values()),
        entries=tuple(sorted(files)),
    )


# --- the dependency layer --------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(
    requirements: tuple[str, ...] = LAYER_REQUIREMENTS,
    exclude: frozenset[str] = RUNTIME_PROVIDED,
) -> list[md.Distribution]:
    """The installed distributions the requirements need, without the runtime-provided ones."""
    env = default_environment()
    env["extra"] = ""
    seen: dict[str, md.Distribution] = {}
    todo = [_norm(r) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen or name in exclude:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise ConfigError(
                f"package {name!r} is not installed here; install it to build the Lambda layer"
            ) from None
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(_norm(req.name))
    return [seen[k] for k in sorted(seen)]


def _keep(rel: str) -> bool:
    parts = rel.split("/")
    if any(p in _DROP_DIRS for p in parts[:-1]) or rel.endswith(_DROP_SUFFIXES):
        return False
    if parts[0] == ".." or parts[0].endswith(".data"):  # scripts, headers outside site-packages
        return False
    return not _DROP_FILES.match(rel)


def layer_files(dists: list[md.Distribution]) -> dict[str, Path]:
    """Map `python/<path>` in the layer to the installed file, after trimming."""
    out: dict[str, Path] = {}
    for dist in dists:
        for f in dist.files or []:
            rel = str(f).replace("\\", "/")
            if not _keep(rel):
                continue
            src = Path(f.locate())
            if src.is_file():
                out[f"python/{rel}"] = src
    return out


def check_platform() -> None:
    """A layer copied from this environment only runs on Lambda if this is Linux, CPython 3.11."""
    if sys.platform != "linux" or sys.version_info[:2] != (3, 11):
        raise ConfigError(
            "the Lambda layer is copied from this environment, which must be Linux with "
            "Python 3.11 (the python3.11 runtime); run deploy from Linux or CI"
        )


def lambda_architecture() -> str:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def build_layer(
    requirements: tuple[str, ...] = LAYER_REQUIREMENTS, *, cache_dir: Path | None = None
) -> Artifact:
    """Zip the installed dependency closure as a layer (`python/...`).

    With `cache_dir`, a build whose inputs (distribution names, versions, file sizes) are
    unchanged is read back instead of re-zipped; the zip is deterministic either way.
    """
    dists = dependency_closure(requirements)
    files = layer_files(dists)
    names = tuple(f"{d.metadata['Name']}=={d.version}" for d in dists)
    sizes = {arc: src.stat().st_size for arc, src in files.items()}
    key = hashlib.sha256(repr(sorted(sizes.items())).encode() + repr(names).encode()).hexdigest()
    cached = cache_dir / f"layer-{key[:16]}.zip" if cache_dir else None
    if cached is not None and cached.is_file():
        data = cached.read_bytes()
    else:
        executable = frozenset(a for a, s in files.items() if s.stat().st_mode & 0o111)
        data = _zip({arc: src.read_bytes() for arc, src in files.items()}, executable)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(cached)
    return Artifact(
        name="layer",
        data=data,
        unzipped_size=sum(sizes.values()),
        entries=tuple(sorted(files)),
        distributions=names,
    )


def check_sizes(function: Artifact, layers: list[Artifact]) -> None:
    """Fail before AWS does when the function and its layers exceed Lambda's limits."""
    if len(layers) > MAX_LAYERS:
        raise ConfigError(f"{len(layers)} layers; Lambda allows at most {MAX_LAYERS}")
    total = function.unzipped_size + sum(a.unzipped_size for a in layers)
    if total > UNZIPPED_LIMIT:
        raise ConfigError(
            f"function and layers unzip to {total / 1e6:.1f} MB, over Lambda's "
            f"{UNZIPPED_LIMIT / 1e6:.0f} MB limit; trim the layer requirements"
        )
