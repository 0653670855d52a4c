"""Constants shared by the AWS tests (imported by name; conftest puts this
folder on sys.path)."""

from __future__ import annotations

from support.federation import BQ_PROJECT, federation_config  # noqa: F401 - re-exported

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default account
