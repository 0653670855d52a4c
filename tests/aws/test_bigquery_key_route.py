"""The service-account key route, end to end over real HTTP: the key sits in Secrets Manager
(moto), deploy points the functions at it, and check_records, running with the deployed
environment, fetches the key, signs a JWT with it, exchanges that at the key's token_uri (a
loopback OAuth server that checks the signature with the key's public half) and calls a
loopback BigQuery that refuses any request without the token it issued. No client is mocked
(google-auth's service_account.Credentials; developers.google.com/identity/protocols/oauth2/service-account)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from aws_helpers import REGION
from support.loopback import TokenEndpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from bq_server import FakeBigQuery, warehouse_handler  # noqa: E402
from wh_helpers import ROWS, add_events  # noqa: E402

from opsbook.definitions.weekly_load import check_records  # noqa: E402
from opsbook.definitions.weekly_load.hooks import ensure_schema  # noqa: E402
from opsbook.warehouse import DuckDBWarehouse  # noqa: E402

pytestmark = pytest.mark.aws

SA_EMAIL = "loader@acme-analytics.iam.gserviceaccount.com"
KEY_TOKEN = "ya29.from-a-service-account-key"
# The audience google-auth puts in a key's JWT whatever the token_uri: Google's token endpoint.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
EVENT = {"week": "2026-11-26", "check_date": "2026-11-25"}


class OAuthServer(TokenEndpoint):
    """Google's OAuth 2.0 token endpoint for the JWT bearer grant, on 127.0.0.1: the
    assertion must be signed by the key's private half, for Google's token audience."""

    def __init__(self, public_pem: str) -> None:
        self.grants: list[dict] = []
        super().__init__("/token", lambda form: self.grant(form, public_pem))

    def grant(self, form: dict[str, str], public_pem: str) -> tuple[int, dict]:
        from google.auth import jwt

        try:
            claims = jwt.decode(form["assertion"], certs=public_pem, audience=GOOGLE_TOKEN_AUDIENCE)
            ok = (
                form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
                and claims["iss"] == SA_EMAIL
            )
        except (KeyError, ValueError):
            claims, ok = {}, False
        self.grants.append(claims)
        if not ok:
            return 400, {"error": "invalid_grant"}
        return 200, {"access_token": KEY_TOKEN, "token_type": "Bearer", "expires_in": 3600}


@pytest.fixture
def key_and_oauth():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    oauth = OAuthServer(public_pem)
    key = {
        "type": "service_account",
        "project_id": "acme-analytics",
        "private_key_id": "k1",
        "private_key": private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "client_email": SA_EMAIL,
        "client_id": "1",
        "token_uri": oauth.url,
    }
    yield key, oauth
    oauth.close()


def deploy_with_key(make_backend, key: dict) -> dict[str, str]:
    """Deploy with the key in Secrets Manager; the check function's environment as deployed."""
    backend = make_backend(bq_credentials_secret="opsbook/bq-sa")
    backend.client("secretsmanager").create_secret(
        Name="opsbook/bq-sa", SecretString=json.dumps(key)
    )
    backend.deploy()
    return backend.client("lambda").get_function(FunctionName="opsbook-check-records")[
        "Configuration"
    ]["Environment"]["Variables"]


def check_as_deployed(env: dict[str, str], duck, monkeypatch) -> tuple[dict, list[dict]]:
    """check_records' handler in the deployed environment (with the region variables Lambda
    sets), BigQuery on a loopback server that wants the key's token: its answer, and the
    BigQuery API requests made."""
    with FakeBigQuery(warehouse_handler(duck), bearer=KEY_TOKEN) as bigquery:
        lambda_env = {**env, "AWS_DEFAULT_REGION": REGION, "BQ_API_ENDPOINT": bigquery.url}
        for name, value in lambda_env.items():
            monkeypatch.setenv(name, value)
        answer = check_records.handler(EVENT, None)
        sent = [r for r in bigquery.requests if r["path"].startswith("/bigquery/v2/projects/")]
    return answer, sent


def test_check_records_reaches_bigquery_with_a_service_account_key_from_secrets_manager(
    make_backend, key_and_oauth, tmp_path, monkeypatch
):
    key, oauth = key_and_oauth
    env = deploy_with_key(make_backend, key)
    assert env["BQ_CREDENTIALS_SECRET"] == "opsbook/bq-sa" and "BQ_CREDENTIALS_CONFIG" not in env

    duck = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    ensure_schema(duck)
    add_events(duck, ROWS)
    answer, sent = check_as_deployed(env, duck, monkeypatch)
    duck.close()
    assert answer == {"statusCode": 200, "return_value": 2}
    # One grant, signed with the key, for BigQuery; every BigQuery call carried its token.
    (claims,) = oauth.grants
    assert claims["iss"] == SA_EMAIL and claims["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert "https://www.googleapis.com/auth/bigquery" in claims["scope"].split()
    assert sent and {r["authorization"] for r in sent} == {f"Bearer {KEY_TOKEN}"}


def test_a_key_the_token_endpoint_does_not_accept_is_a_500_not_a_raise(
    make_backend, key_and_oauth, tmp_path, monkeypatch
):
    """A key whose signature the token endpoint cannot verify (another key pair): the handler
    answers 500 with Google's refusal, and BigQuery is never called."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key, oauth = key_and_oauth
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = {
        **key,
        "private_key": other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }
    env = deploy_with_key(make_backend, key)
    duck = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    ensure_schema(duck)
    answer, sent = check_as_deployed(env, duck, monkeypatch)
    duck.close()
    assert answer["statusCode"] == 500 and "invalid_grant" in answer["error"], answer
    assert sent == []
