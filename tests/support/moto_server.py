"""One moto server on 127.0.0.1 and the two moto-api calls the tests make."""

from __future__ import annotations

import json
import time
import urllib.request

MOTO_REGION = "ap-northeast-1"


def moto_post(url: str, body: dict | None = None) -> None:
    """POST a JSON body to a moto-api endpoint (reset, config)."""
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def wait_ready(url: str, timeout: float = 10.0, alive=None) -> None:
    """Poll `url`/moto-api/ until it answers; bounded by `timeout` seconds.

    `alive` (optional) returns False when the server died, to fail fast."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline or (alive is not None and not alive()):
                raise
            time.sleep(0.05)


def start_threaded(timeout: float = 10.0):
    """A ThreadedMotoServer on a free loopback port, ready; returns (server, url)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        wait_ready(url, timeout)
    except OSError:
        server.stop()
        raise
    return server, url


def reset(url: str, *, execute: bool = False) -> None:
    """Fresh moto state; `execute` lets moto run state machines with its own ASL interpreter."""
    moto_post(f"{url}/moto-api/reset")
    set_execute(url, execute)


def set_execute(url: str, execute: bool) -> None:
    moto_post(f"{url}/moto-api/config", {"stepfunctions": {"execute_state_machine": execute}})


def point_environment_at(monkeypatch, url: str, tmp_path, *, scrub: tuple[str, ...]) -> None:
    """Only the standard AWS variables, aimed at moto: fake credentials, MOTO_REGION, no profile
    or config files, no instance metadata, and OPSBOOK_HOME under tmp_path; a BigQuery project
    and federation configuration, so deploy passes its credential checks. Environment
    variables starting with any prefix in `scrub` are removed first."""
    import os

    from support.federation import deploy_environment

    for var in list(os.environ):
        if var.startswith(scrub):
            monkeypatch.delenv(var, raising=False)
    for var, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": MOTO_REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "OPSBOOK_HOME": str(tmp_path / "home"),
        **deploy_environment(tmp_path),
    }.items():
        monkeypatch.setenv(var, value)
