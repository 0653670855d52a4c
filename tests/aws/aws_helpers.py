"""Constants and small helpers shared by the AWS tests (imported by name; conftest puts this
folder on sys.path)."""

from __future__ import annotations

import json
import urllib.request

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default account
# The deploy tests ship a small layer; test_packaging builds and measures the real one.
SMALL_LAYER = ("slack_sdk",)


def moto_post(url: str, body: dict | None = None) -> None:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
