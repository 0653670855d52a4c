"""A moto server on 127.0.0.1 for the whole session, reset before each test.

The AWS backend talks to it over real HTTP through AWS_ENDPOINT_URL, exactly as it would
talk to AWS; nothing in boto3 is mocked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.moto_server import point_environment_at, reset, set_execute

# Helpers import by name under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws_helpers import BQ_PROJECT, federation_config  # noqa: E402

from opsbook.backends.aws.backend import AwsBackend  # noqa: E402
from opsbook.config import load_config  # noqa: E402

# moto_url: the session's moto server (tests/conftest.py).


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    """One build cache for the session: the layer is installed by pip once (slow the first
    time on a machine, then from pip's cache) and the sandbox import runs once per build."""
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="session")
def federation_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("google") / "bq-federation.json"
    path.write_text(json.dumps(federation_config()))
    return path


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path):
    """Fresh moto state and an environment with nothing but the standard AWS variables."""
    reset(moto_url, execute=False)
    point_environment_at(
        monkeypatch,
        moto_url,
        tmp_path,
        scrub=(
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "OPSBOOK_",
        ),
    )
    return moto_url


@pytest.fixture
def make_backend(aws_env, build_dir, federation_file, tmp_path):
    made = []

    def make(**overrides) -> AwsBackend:
        options = {"build_dir": build_dir}
        overrides.setdefault("bq_project", BQ_PROJECT)
        if overrides.get("bq_credentials_secret"):
            overrides.setdefault("bq_credentials_config", "")  # the key route, not both
        else:
            overrides.setdefault("bq_credentials_config", str(federation_file))
        for key in ("layer_requirements", "build_dir", "direct_upload_limit", "package_root"):
            if key in overrides:
                options[key] = overrides.pop(key)
        cfg = load_config(home=tmp_path / "home", backend="aws", **overrides)
        backend = AwsBackend(cfg, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend) -> AwsBackend:
    return make_backend()


@pytest.fixture
def moto_executes(aws_env):
    """Let moto run state machines with its own ASL interpreter (Pass/Choice/... states)."""
    set_execute(aws_env, True)
    yield
    set_execute(aws_env, False)
