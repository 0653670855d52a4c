"""Which workflows exist: the shipped ones (opsbook/definitions/) and the user's own
(`definitions_dir`, default ./definitions); the user's win on a name clash."""

from __future__ import annotations

from pathlib import Path

from opsbook.config import PACKAGE_ROOT, Config
from opsbook.errors import ConfigError, UsageError
from opsbook.workflows.manifest import MANIFEST, Workflow, load_workflow

SHIPPED_DIR = PACKAGE_ROOT / "definitions"


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())


def shipped_workflow(name: str) -> Workflow:
    """A workflow shipped with opsbook, by name (UsageError when there is none)."""
    folder = SHIPPED_DIR / name
    if not (folder / MANIFEST).is_file():
        raise UsageError(f"opsbook ships no workflow {name!r}")
    return load_workflow(folder, shipped=True)


def all_workflows(cfg: Config) -> dict[str, Workflow]:
    """Every workflow by name, sorted; a user's folder replaces a shipped one of that name."""
    found: dict[str, Workflow] = {}
    for folder in _folders(SHIPPED_DIR):
        wf = load_workflow(folder, shipped=True)
        found[wf.name] = wf
    user = Path(cfg.definitions_dir)
    if user.resolve() != SHIPPED_DIR.resolve():
        for folder in _folders(user):
            wf = load_workflow(folder)
            found[wf.name] = wf
    return dict(sorted(found.items()))


def get_workflow(cfg: Config, name: str | None = None) -> Workflow:
    """The workflow `name` names, else `cfg.workflow` (--workflow, OPSBOOK_WORKFLOW), else
    `default_workflow`, else the only one there is."""
    found = all_workflows(cfg)
    wanted = name or cfg.workflow or cfg.default_workflow
    if wanted:
        if wanted not in found:
            raise UsageError(
                f"no workflow {wanted!r}; known: {', '.join(found) or 'none'}"
                f" (user workflows live in {cfg.definitions_dir})"
            )
        return found[wanted]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise ConfigError(f"no workflows found (definitions_dir={cfg.definitions_dir})")
    raise UsageError(
        f"{len(found)} workflows ({', '.join(found)}): choose one with --workflow NAME,"
        " OPSBOOK_WORKFLOW or default_workflow in the config"
    )
