"""The BigQuery credential configuration deploy ships with the functions.

Only a workload identity federation configuration travels in the function zip: its
`"type": "external_account"` form holds no secret, just where to exchange the function's own
AWS credentials for a Google token (cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds).
A service-account key never goes into an artifact; it belongs in Secrets Manager
(`bq_credentials_secret`)."""

from __future__ import annotations

import json
from pathlib import Path

from opsbook.errors import ConfigError
from opsbook.lambda_build.plan import Source

# Where the configuration sits inside the function zip (relative to /var/task).
ARCNAME = "opsbook_credentials/bigquery.json"


def federation_source(path: str | Path) -> Source:
    """The configuration file as a Source for the function zip, after checking it is one."""
    path = Path(path).expanduser()
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"bq_credentials_config {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"bq_credentials_config {path} is not readable JSON: {exc}") from None
    if not isinstance(info, dict):
        raise ConfigError(f"bq_credentials_config {path} is not a JSON object")
    if info.get("type") == "service_account" or "private_key" in info:
        raise ConfigError(
            f"bq_credentials_config {path} is a service-account key; keys do not ship with the "
            "functions: put it in Secrets Manager and set bq_credentials_secret"
        )
    if info.get("type") != "external_account":
        raise ConfigError(
            f"bq_credentials_config {path} has type {info.get('type')!r}, not external_account"
        )
    source = info.get("credential_source") or {}
    if not str(source.get("environment_id", "")).startswith("aws"):
        raise ConfigError(
            f"bq_credentials_config {path} is not for AWS (credential_source.environment_id "
            "must be aws1)"
        )
    for key in ("audience", "token_url", "subject_token_type"):
        if not info.get(key):
            raise ConfigError(f"bq_credentials_config {path} has no {key}")
    return Source(path.resolve(), ARCNAME)
