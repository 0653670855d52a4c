"""What deploy refuses before it changes anything, and where the moto workarounds may run.

The "real AWS" side is moto too, reached under a non-loopback endpoint name through moto
acting as the HTTP proxy: the backend then sees an endpoint that is not a local emulator, and
moto's gaps (no start through an alias, no ListStateMachineVersions) must surface as errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aws_helpers import BQ_PROJECT
from botocore.exceptions import ClientError
from support.definitions import pass_only_definitions

from opsbook.backends.aws.backend import AwsBackend
from opsbook.backends.aws.deploy import Deployer
from opsbook.config import REPO_ROOT, load_config
from opsbook.endpoints import is_loopback
from opsbook.errors import ConfigError, OpsbookError

pytestmark = pytest.mark.aws


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bq_project": "opsbook-local"}, "bq_project is still the offline default"),
        ({"bq_credentials_config": ""}, "no BigQuery credentials for the functions"),
        (
            {"bq_credentials_secret": "opsbook/bq-sa", "bq_credentials_config": "/x.json"},
            "keep one BigQuery credential route",
        ),
    ],
)
def test_deploy_refuses_without_a_bigquery_route_and_creates_nothing(
    make_backend, overrides, message
):
    backend = make_backend(**overrides)
    with pytest.raises(ConfigError, match=message):
        backend.deploy()
    assert backend.client("s3").list_buckets()["Buckets"] == []
    assert backend.client("iam").list_roles()["Roles"] == []


def test_cli_deploy_with_the_offline_project_is_one_line_exit_2(aws_env, monkeypatch):
    monkeypatch.setenv("OPSBOOK_BQ_PROJECT", "opsbook-local")
    done = subprocess.run(
        [sys.executable, "-m", "opsbook", "--backend", "aws", "deploy"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: bq_project is still the offline default")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://127.8.9.10", True),
        ("http://localhost:4566", True),
        ("http://[::1]:5000", True),
        ("https://states.ap-northeast-1.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
        ("http://localhost.example.com", False),
        (None, False),
    ],
)
def test_loopback_endpoints(url, loopback):
    assert is_loopback(url) is loopback


@pytest.fixture
def deployed_then_remote(make_backend, moto_executes, monkeypatch, tmp_path):
    """Deploy on the loopback endpoint, then point the environment at a non-loopback endpoint
    name that reaches the same moto through HTTP_PROXY. Returns a factory of backends."""
    defs = pass_only_definitions(tmp_path)
    make_backend(definitions_dir=str(defs)).deploy()
    moto = make_backend().client("sts").meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws.example.invalid")
    monkeypatch.setenv("HTTP_PROXY", moto)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)

    def remote(**overrides) -> AwsBackend:
        cfg = load_config(
            home=tmp_path / "home",
            backend="aws",
            definitions_dir=str(defs),
            bq_project=BQ_PROJECT,
            **overrides,
        )
        return AwsBackend(cfg)

    return remote


def test_alias_start_fallback_only_on_an_emulator(deployed_then_remote):
    aws_like = deployed_then_remote()
    assert not aws_like.local_emulator
    with pytest.raises(OpsbookError):  # moto's refusal of the alias start surfaces
        aws_like.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=False)
    declared = deployed_then_remote(local_emulator=True)
    assert declared.local_emulator
    started = declared.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=False)
    assert started.name == "week-2026-11-26"


def test_version_probing_only_on_an_emulator(deployed_then_remote):
    with pytest.raises(ClientError) as caught:  # moto lacks ListStateMachineVersions: a 5xx
        Deployer(deployed_then_remote()).versions()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
    found = Deployer(deployed_then_remote(local_emulator=True)).versions()
    assert found and found[0].endswith(":1")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("log_retention_days", 31, "log_retention_days=31 is not one CloudWatch Logs accepts"),
        ("log_execution_data", "maybe", "log_execution_data must be true or false"),
        ("alarm_topic_arn", "alerts", "alarm_topic_arn='alerts' is not an SNS topic ARN"),
        ("bq_maximum_bytes_billed", -1, "bq_maximum_bytes_billed must be >= 0"),
        ("lambda_architecture", "x86", "lambda_architecture='x86' is not one of x86_64, arm64"),
    ],
)
def test_bad_observability_and_lambda_keys_are_config_errors(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(home=tmp_path, backend="aws", **{key: value})


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), ("yes", True)])
def test_boolean_keys_read_from_the_environment(tmp_path, monkeypatch, value, expected):
    monkeypatch.setenv("OPSBOOK_LOG_EXECUTION_DATA", value)
    assert load_config(home=tmp_path).log_execution_data is expected
