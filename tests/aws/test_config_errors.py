"""Missing credentials, region or endpoint: one ConfigError line naming what to set."""

from __future__ import annotations

import socket

import pytest
from aws_helpers import ACCOUNT, REGION

from opsbook.backends import connect
from opsbook.backends.aws.backend import AwsBackend
from opsbook.config import load_config
from opsbook.errors import ConfigError, UsageError

pytestmark = pytest.mark.aws


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_missing_credentials(aws_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError) as info:
        AwsBackend(load_config(home=tmp_path, backend="aws"))
    assert _one_line(info.value) == (
        "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    )
    assert info.value.exit_code == 2


def test_missing_region(aws_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigError) as info:
        connect("aws", home=tmp_path)
    assert "AWS_REGION" in _one_line(info.value)


def test_region_from_config_wins(aws_env, tmp_path):
    backend = AwsBackend(load_config(home=tmp_path, backend="aws", region="eu-west-1"))
    assert backend.region == "eu-west-1"
    assert backend.names.state_machine_arn.startswith(f"arn:aws:states:eu-west-1:{ACCOUNT}:")


def test_default_region_variable_is_honoured(aws_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert AwsBackend(load_config(home=tmp_path, backend="aws")).region == REGION


def test_unreachable_endpoint(aws_env, monkeypatch, tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    backend = AwsBackend(load_config(home=tmp_path, backend="aws"))
    with pytest.raises(ConfigError) as info:
        backend.list_executions()
    text = _one_line(info.value)
    assert "cannot reach the AWS endpoint" in text and "AWS_ENDPOINT_URL" in text


def test_endpoint_url_is_honoured(backend, aws_env):
    # Every client the backend builds talks to the moto server named by AWS_ENDPOINT_URL.
    for service in ("stepfunctions", "lambda", "s3", "iam", "scheduler", "secretsmanager"):
        assert backend.client(service).meta.endpoint_url == aws_env
    retries = backend.client("stepfunctions").meta.config.retries
    # max_attempts=10 counts retries; botocore reports the first try plus ten.
    assert retries["mode"] == "adaptive" and retries["total_max_attempts"] == 11


def test_local_only_options_are_refused(aws_env, tmp_path):
    with pytest.raises(UsageError, match="clock"):
        AwsBackend(load_config(home=tmp_path, backend="aws"), clock="real")


def test_unknown_profile(aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    with pytest.raises(ConfigError) as info:
        AwsBackend(load_config(home=tmp_path, backend="aws"))
    assert (
        _one_line(info.value) == "AWS profile 'nobody' not found: fix AWS_PROFILE or ~/.aws/config"
    )
