"""The build for one opsbook config: what `opsbook package` writes and deploy uploads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from opsbook.config import Config
from opsbook.lambda_build import artifacts, layer, plan
from opsbook.lambda_build.credentials import federation_source

if TYPE_CHECKING:
    from opsbook.workflows.manifest import Workflow


def build_for_config(
    cfg: Config,
    workflow: Workflow | None = None,
    *,
    prefix: str | None = None,
    cache_dir: Path | None = None,
    requirements: tuple[str, ...] | None = None,
    sandbox: bool = True,
) -> artifacts.Build:
    from opsbook.workflows.registry import get_workflow

    flow = workflow or get_workflow(cfg)
    sources = plan.sources(flow)
    if cfg.bq_credentials_config:
        sources.append(federation_source(cfg.bq_credentials_config))
    return artifacts.build(
        plan.handlers(flow, prefix or cfg.resource_prefix),
        sources,
        runtime_name=cfg.lambda_runtime,
        architecture_name=cfg.lambda_architecture,
        cache_dir=Path(cache_dir) if cache_dir else layer.default_cache_dir(),
        requirements=tuple(requirements or layer.LAYER_REQUIREMENTS),
        sandbox=sandbox,
    )
