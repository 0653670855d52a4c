"""The Lambda function zip's contents (the import closure of the handlers), the Artifact type
and Lambda's size limits. The dependency layer is built by pip for the runtime's platform in
opsbook.lambda_build.layer; opsbook.lambda_build.artifacts builds and checks both.

Zips are deterministic (sorted entries, fixed timestamps and modes), so an unchanged build has
the same SHA-256 and a second deploy compares equal to what Lambda already holds.
"""

from __future__ import annotations

import ast
import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from opsbook.errors import ConfigError
from opsbook.lambda_build.zipping import deterministic_zip
from opsbook.workflows.manifest import MANIFEST, load_workflow

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # .../opsbook
# The schedule's target in every workflow's zip: it starts a partition under its own name.
# (A workflow's own handlers come from its manifest: opsbook.lambda_build.plan.)
STARTER_MODULE = "opsbook.lambdas.start_partition"
# AWS limits (bytes). The unzipped limit covers the function and all its layers together.
UNZIPPED_LIMIT = 262_144_000
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips go through S3
MAX_LAYERS = 5


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


def shipped_handler_modules(root: Path = PACKAGE_ROOT) -> list[str]:
    """The task handler modules the shipped workflows' manifests name inside opsbook (the
    weekly load's check_records and insert_week live in its folder)."""
    found: set[str] = set()
    for manifest in sorted((root / "definitions").glob(f"*/{MANIFEST}")):
        flow = load_workflow(manifest.parent, shipped=True)
        found.update(task.module for task in flow.tasks if task.module.startswith("opsbook."))
    return sorted(found)


def function_modules(root: Path = PACKAGE_ROOT) -> list[Path]:
    """The opsbook source files the Lambda handlers need: the import closure of opsbook.lambdas
    and of the shipped workflows' handler modules (module-level imports everywhere, plus the
    handlers' own lazy imports)."""
    lambdas = root / "lambdas"
    starter = STARTER_MODULE.rsplit(".", 1)[-1]
    if not (lambdas / f"{starter}.py").is_file():
        raise ConfigError(f"opsbook/lambdas/{starter}.py is missing; cannot build the Lambda zip")
    handlers = shipped_handler_modules(root)
    todo = ["opsbook", "opsbook.lambdas", *handlers] + [
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
        lazy = module.startswith("opsbook.lambdas") or module in handlers
        todo.extend(_opsbook_imports(path.read_text(encoding="utf-8"), lazy))
    return sorted(set(seen.values()))


def function_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """The function zip's opsbook files by their path inside the zip: the modules the handlers
    import, and the data files beside the handlers (e.g. bundled SQL), which travel with them."""
    files = list(function_modules(root))
    files += [
        path
        for path in sorted((root / "lambdas").rglob("*"))
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    return {str(PurePosixPath("opsbook", *path.relative_to(root).parts)): path for path in files}


def build_function_zip(
    root: Path = PACKAGE_ROOT, extra: Mapping[str, bytes] | None = None
) -> Artifact:
    """One zip for all of a workflow's functions: handler `opsbook.lambdas.<name>.handler`,
    plus `extra` files (a user workflow's handler modules) at the zip's root."""
    files: dict[str, bytes] = dict(extra or {})
    files.update({arcname: path.read_bytes() for arcname, path in function_files(root).items()})
    return Artifact(
        name="function",
        data=deterministic_zip(files),
        unzipped_size=sum(len(v) for v in files.values()),
        entries=tuple(sorted(files)),
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
