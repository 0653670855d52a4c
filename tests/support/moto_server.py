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
