"""Resolve a `module:function` handler: from the workflow's folder first, then from installed
packages (what `import module` finds)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from opsbook.errors import UsageError


class WorkflowFolder(Protocol):
    """What resolving a handler reads of a workflow (manifest.Workflow has it)."""

    @property
    def name(self) -> str: ...

    @property
    def folder(self) -> Path: ...


# Modules loaded from a workflow folder live under this package name, one subpackage per
# workflow, so two workflows may both have a `handler.py`.
FOLDER_PACKAGE = "opsbook_workflows"


def _folder_package(workflow: WorkflowFolder) -> str:
    root = sys.modules.get(FOLDER_PACKAGE)
    if root is None:
        root = ModuleType(FOLDER_PACKAGE)
        root.__path__ = []
        sys.modules[FOLDER_PACKAGE] = root
    name = f"{FOLDER_PACKAGE}.{workflow.name}"
    package = sys.modules.get(name)
    folder = str(workflow.folder)
    if package is None or list(getattr(package, "__path__", [])) != [folder]:
        package = ModuleType(name)
        package.__path__ = [folder]
        sys.modules[name] = package
    return name


def _from_folder(module: str, workflow: WorkflowFolder) -> ModuleType | None:
    parts = module.split(".")
    path = Path(workflow.folder, *parts).with_suffix(".py")
    if not path.is_file():
        return None
    # A folder inside an importable package (the shipped workflows) imports by its dotted name.
    shipped = _package_name(workflow.folder)
    if shipped is not None:
        return importlib.import_module(f"{shipped}.{module}")
    package = _folder_package(workflow)
    full = f"{package}.{module}"
    if full in sys.modules:
        return sys.modules[full]
    for i in range(1, len(parts)):  # intermediate folders as namespace packages
        sub = f"{package}.{'.'.join(parts[:i])}"
        if sub not in sys.modules:
            pkg = ModuleType(sub)
            pkg.__path__ = [str(Path(workflow.folder, *parts[:i]))]
            sys.modules[sub] = pkg
    spec = importlib.util.spec_from_file_location(full, path)
    if spec is None or spec.loader is None:
        return None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[full] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        sys.modules.pop(full, None)
        raise
    return loaded


def _package_name(folder: Path) -> str | None:
    """`opsbook.definitions.weekly_load` for a folder inside the installed opsbook package."""
    from opsbook.config import PACKAGE_ROOT

    root = PACKAGE_ROOT
    try:
        rel = folder.resolve().relative_to(root)
    except ValueError:
        return None
    if not (folder / "__init__.py").is_file():
        return None
    return ".".join(("opsbook", *rel.parts))


def resolve(target: str, workflow: WorkflowFolder | None = None) -> Callable[..., Any]:
    """The callable `module:function` names; a missing one is a one-line UsageError."""
    module_name, sep, attr = str(target).partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"handler {target!r} must be module:function")
    where = f" (workflow {workflow.name})" if workflow is not None else ""
    module = None
    try:
        if workflow is not None:
            module = _from_folder(module_name, workflow)
        if module is None:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"handler {target}{where}: cannot import {module_name}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(f"handler {target}{where}: {module_name} has no function {attr}")
    return fn
