"""The build for one opsbook config: what `opsbook package` writes and deploy uploads."""

from __future__ import annotations

from pathlib import Path

from opsbook.config import Config
from opsbook.lambda_build import artifacts, layer, plan
from opsbook.lambda_build.credentials import federation_source


def build_for_config(
    cfg: Config,
    *,
    cache_dir: Path | None = None,
    requirements: tuple[str, ...] | None = None,
    sandbox: bool = True,
) -> artifacts.Build:
    sources = plan.sources()
    if cfg.bq_credentials_config:
        sources.append(federation_source(cfg.bq_credentials_config))
    return artifacts.build(
        plan.handlers(cfg.resource_prefix),
        sources,
        runtime_name=cfg.lambda_runtime,
        architecture_name=cfg.lambda_architecture,
        cache_dir=Path(cache_dir) if cache_dir else layer.default_cache_dir(),
        requirements=tuple(requirements or layer.LAYER_REQUIREMENTS),
        sandbox=sandbox,
    )
