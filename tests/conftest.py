"""Suite-wide isolation (no test reads the developer's opsbook, Slack or Jupyter settings) and
the fixtures several suites share: one moto server per session.

tests/ goes on sys.path (appended, so installed packages win) for the plain helper package
`support` (tests/support/), which bench/ imports too."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from support import moto_server as moto_helpers  # noqa: E402

# Settings a developer may have exported that would change what tests see or where they write.
LEAKY_ENV = ("OPSBOOK_HOME", "OPSBOOK_BACKEND", "OPSBOOK_CONFIG", "SLACK_WEBHOOK_URL")


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory):
    """Kernels, Voila and matplotlib write under a temporary folder, not under ~/.local."""
    root = tmp_path_factory.mktemp("jupyter")
    values = {
        "JUPYTER_DATA_DIR": root / "data",
        "JUPYTER_RUNTIME_DIR": root / "runtime",
        "IPYTHONDIR": root / "ipython",
        "MPLCONFIGDIR": root / "mpl",
    }
    saved = {key: os.environ.get(key) for key in (*values, *LEAKY_ENV)}
    for key in LEAKY_ENV:
        os.environ.pop(key, None)
    for key, path in values.items():
        path.mkdir()
        os.environ[key] = str(path)
    yield values
    for key, old in saved.items():
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@pytest.fixture(scope="session")
def jupyter_dirs(isolated_environment):
    return isolated_environment


# --------------------------------------------------------------------------- moto
@pytest.fixture(scope="session")
def moto_server_url():
    """One moto server on 127.0.0.1 for the whole session (readiness wait bounded to 10 s).

    Each suite resets it before use (see support.moto_server.reset)."""
    pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server, url = moto_helpers.start_threaded(timeout=10)
    yield url
    server.stop()


# The names the suites already use for it.
@pytest.fixture(scope="session")
def moto_url(moto_server_url):
    return moto_server_url


@pytest.fixture(scope="session")
def moto_server(moto_server_url):
    return moto_server_url
