"""Keyless BigQuery from Lambda, end to end over real HTTP, with no secret configured.

deploy ships a workload identity federation configuration whose token_url is a loopback
Google-STS-compatible server. The built function zip and layer are run in a fresh `python -I`
(as the sandbox does) with Lambda's environment: google-auth signs an AWS GetCallerIdentity
request with the function's AWS credentials and posts it to the token server, which answers
with a Google access token; the loopback BigQuery server (answers computed by DuckDB) refuses
every request without that bearer token. Templates come from moto's S3, put there by deploy.
Nothing is mocked in between (cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds;
google-auth's aws.Credentials)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from aws_helpers import REGION, federation_config
from support.loopback import TokenEndpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from bq_server import FakeBigQuery, warehouse_handler  # noqa: E402
from wh_helpers import ROWS, add_events  # noqa: E402

from opsbook.definitions.weekly_load.hooks import ensure_schema  # noqa: E402
from opsbook.lambda_build import layer  # noqa: E402
from opsbook.lambda_build.configured import build_for_config  # noqa: E402
from opsbook.lambda_build.targets import runtime  # noqa: E402
from opsbook.warehouse import DuckDBWarehouse  # noqa: E402

pytestmark = [pytest.mark.aws, pytest.mark.slow]

GOOGLE_TOKEN = "ya29.federated-from-aws"
LAMBDA_KEYS = {
    "AWS_ACCESS_KEY_ID": "ASIAFUNCTIONROLEKEY1",
    "AWS_SECRET_ACCESS_KEY": "function-role-secret",
    "AWS_SESSION_TOKEN": "function-role-session-token",
}
EVENT = {"week": "2026-11-26", "check_date": "2026-11-25"}


class TokenServer(TokenEndpoint):
    """The token exchange endpoint of Google STS (RFC 8693 form POST), on 127.0.0.1."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, str]] = []
        super().__init__("/v1/token", self.exchange)

    def exchange(self, form: dict[str, str]) -> tuple[int, dict]:
        self.exchanges.append(form)
        ok = (
            form.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
            and form.get("subject_token_type") == "urn:ietf:params:aws:token-type:aws4_request"
        )
        if not ok:
            return 400, {"error": "invalid_request"}
        return 200, {
            "access_token": GOOGLE_TOKEN,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        }


def sigv4_signature(signed: dict, headers: dict[str, str]) -> str:
    """The SigV4 signature of the serialized request, over the headers it says it signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    names = headers["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    request = AWSRequest(
        method=signed["method"],
        url=signed["url"],
        headers={name: headers[name] for name in names},
        data=signed.get("body") or "",
    )
    request.context["timestamp"] = headers["x-amz-date"]
    keys = Credentials(
        LAMBDA_KEYS["AWS_ACCESS_KEY_ID"],
        LAMBDA_KEYS["AWS_SECRET_ACCESS_KEY"],
        LAMBDA_KEYS["AWS_SESSION_TOKEN"],
    )
    auth = SigV4Auth(keys, "sts", REGION)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


RUN_HANDLER = r"""
import json, sys
cfg = json.loads(sys.argv[1])
sys.path[:] = cfg["path"] + [p for p in sys.path if p and "-packages" not in p]
from opsbook.definitions.weekly_load import check_records
print("RESULT " + json.dumps(check_records.handler(cfg["event"], None)))
"""


@pytest.fixture
def servers(tmp_path):
    tokens = TokenServer()
    duck = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    ensure_schema(duck)
    add_events(duck, ROWS)
    with FakeBigQuery(warehouse_handler(duck), bearer=GOOGLE_TOKEN) as bigquery:
        yield tokens, bigquery
    tokens.close()
    duck.close()


def test_check_records_reaches_bigquery_with_a_federated_token(
    make_backend, servers, tmp_path, build_dir
):
    tokens, bigquery = servers
    config = tmp_path / "federation.json"
    config.write_text(json.dumps(federation_config(token_url=tokens.url)))
    backend = make_backend(bq_credentials_config=str(config))
    backend.deploy()
    env = backend.client("lambda").get_function(FunctionName="opsbook-check-records")[
        "Configuration"
    ]["Environment"]["Variables"]
    # The keyless route: the configuration ships in the zip; no secret anywhere.
    assert env["BQ_CREDENTIALS_CONFIG"] == "opsbook_credentials/bigquery.json"
    assert "BQ_CREDENTIALS_SECRET" not in env
    secrets = backend.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets] == ["opsbook/slack-webhook"]

    # Without the token, BigQuery refuses.
    request = urllib.request.Request(f"{bigquery.url}/bigquery/v2/projects/p/jobs", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, data=b"{}", timeout=10)
    assert refused.value.code == 401

    # Run the handler from the deployed artifacts, with Lambda's environment.
    built = build_for_config(backend.cfg, cache_dir=build_dir)
    task, opt = tmp_path / "task", tmp_path / "opt"
    for artifact, dest in ((built.function, task), (built.layer, opt)):
        zipfile.ZipFile(io.BytesIO(artifact.data)).extractall(dest)
    sdk = layer.runtime_sdk(runtime(backend.cfg.lambda_runtime), "x86_64", build_dir)
    lambda_env = {
        "PATH": os.environ["PATH"],
        **env,
        **LAMBDA_KEYS,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],  # moto, for the S3 templates
        "AWS_EC2_METADATA_DISABLED": "true",
        "BQ_API_ENDPOINT": bigquery.url,
        "NO_PROXY": "127.0.0.1",
    }
    cfg = {"path": [str(task), str(opt / "python"), str(sdk)], "event": EVENT}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_HANDLER, json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=lambda_env,
        cwd=task,
        timeout=120,
    )
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, done.stderr[-2000:]
    assert json.loads(line[-1][7:]) == {"statusCode": 200, "return_value": 2}

    # The exchange carried the GetCallerIdentity request google-auth signed with the
    # function's own AWS credentials.
    (exchange,) = tokens.exchanges
    assert exchange["audience"] == federation_config()["audience"]
    assert "https://www.googleapis.com/auth/bigquery" in exchange["scope"].split()
    # The subject token is the signed request as URL-encoded JSON (Google's AIP-4117).
    signed = json.loads(unquote(exchange["subject_token"]))
    assert signed["method"] == "POST"
    assert signed["url"] == (
        f"https://sts.{REGION}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    )
    headers = {h["key"].lower(): h["value"] for h in signed["headers"]}
    assert headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={LAMBDA_KEYS['AWS_ACCESS_KEY_ID']}/"
    )
    assert f"/{REGION}/sts/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == LAMBDA_KEYS["AWS_SESSION_TOKEN"]
    assert headers["x-goog-cloud-target-resource"] == federation_config()["audience"]
    assert LAMBDA_KEYS["AWS_SECRET_ACCESS_KEY"] not in exchange["subject_token"]
    # The signature is a valid SigV4 signature of that request under the function's keys, as
    # AWS STS would check it (botocore computes it independently of google-auth).
    assert sigv4_signature(signed, headers) == headers["authorization"].rsplit("Signature=", 1)[1]
    # Every BigQuery request carried the exchanged token.
    sent = [r for r in bigquery.requests if r["path"].startswith("/bigquery/v2/projects/acme")]
    assert sent and {r["authorization"] for r in sent} == {f"Bearer {GOOGLE_TOKEN}"}
