"""Constants shared by the AWS tests (imported by name; conftest puts this
folder on sys.path)."""

from __future__ import annotations

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default account
# The deploy tests ship a small layer; test_packaging builds and measures the real one.
SMALL_LAYER = ("slack_sdk",)
