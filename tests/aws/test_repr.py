"""The AWS backend says what it is: region, state machine, alias and the endpoint it talks to."""

from __future__ import annotations

import pytest
from aws_helpers import REGION

pytestmark = pytest.mark.aws


def test_the_aws_backends_repr_names_region_state_machine_alias_and_endpoint(backend, aws_env):
    assert repr(backend) == (
        f"AwsBackend(region={REGION!r}, state_machine='opsbook-weekly-load', alias='live',"
        f" endpoint={aws_env!r})"
    )
