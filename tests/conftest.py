"""Suite-wide isolation: no test reads the developer's opsbook, Slack or Jupyter settings."""

from __future__ import annotations

import os

import pytest

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
