"""A workload identity federation configuration for the tests, and the project they deploy to
(deploy refuses the offline default project and a deploy without BigQuery credentials)."""

from __future__ import annotations

import json
from pathlib import Path

BQ_PROJECT = "acme-analytics"


def federation_config(
    token_url: str = "https://sts.googleapis.com/v1/token",
    impersonation_url: str | None = None,
    region_url: str = "http://169.254.169.254/latest/meta-data/placement/availability-zone",
) -> dict:
    """A workload identity federation configuration for AWS, as `gcloud iam
    workload-identity-pools create-cred-config --aws` writes it (no secret in it)."""
    info = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123456789/locations/global/"
        "workloadIdentityPools/opsbook/providers/aws",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": token_url,
        "credential_source": {
            "environment_id": "aws1",
            "region_url": region_url,
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com"
            "?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }
    if impersonation_url:
        info["service_account_impersonation_url"] = impersonation_url
    return info


def deploy_environment(folder: Path) -> dict[str, str]:
    """OPSBOOK_* variables that let deploy pass its BigQuery checks: a project and a
    federation configuration file (written into `folder`)."""
    path = Path(folder) / "bq-federation.json"
    path.write_text(json.dumps(federation_config()))
    return {"OPSBOOK_BQ_PROJECT": BQ_PROJECT, "OPSBOOK_BQ_CREDENTIALS_CONFIG": str(path)}
