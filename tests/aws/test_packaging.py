"""The Lambda function zip: contents, determinism and sizes (the layer: test_lambda_build)."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from opsbook.backends.aws import packaging
from opsbook.errors import ConfigError

MB = 1_000_000


def test_function_zip_holds_the_handlers_and_what_they_import():
    artifact = packaging.build_function_zip()
    names = set(artifact.entries)
    for module in ("notify", "start_partition", "resources", "__init__"):
        assert f"opsbook/lambdas/{module}.py" in names
    for module in ("check_records", "insert_week", "__init__"):  # the manifest's handlers
        assert f"opsbook/definitions/weekly_load/{module}.py" in names
    # The workflow's local-only modules (demo data, hooks) stay out of the function zip.
    assert (
        not {"opsbook/definitions/weekly_load/demo.py", "opsbook/definitions/weekly_load/hooks.py"}
        & names
    )
    assert {
        "opsbook/__init__.py",
        "opsbook/warehouse/__init__.py",
        "opsbook/warehouse/bigquery_jobs.py",
        "opsbook/warehouse/templates.py",
        "opsbook/config.py",
        "opsbook/errors.py",
    } <= names
    # Nothing the functions never reach: the engine, the CLI, the AWS backend, tests, caches.
    assert not any(n.startswith(("opsbook/engine/", "opsbook/cli")) for n in names)
    assert not any(n.endswith(".pyc") or n.startswith("opsbook/backends/aws/") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert artifact.size < 200_000  # one small zip for all three functions
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as zf:
        assert zf.namelist() == sorted(zf.namelist())
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("opsbook/lambdas/notify.py").decode().count("def handler") == 1


def test_function_zip_is_deterministic():
    first, second = packaging.build_function_zip(), packaging.build_function_zip()
    assert first.data == second.data and first.sha256 == second.sha256


def test_handlers_import_from_the_zip_alone(tmp_path):
    """Unzipped on its own (plus site-packages for the layer), every handler imports."""
    with zipfile.ZipFile(io.BytesIO(packaging.build_function_zip().data)) as zf:
        zf.extractall(tmp_path / "task")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import opsbook.definitions.weekly_load.check_records as c, opsbook.lambdas.notify as n,"
        " opsbook.definitions.weekly_load.insert_week as i;"
        "assert all(callable(m.handler) for m in (c, n, i));"
        "assert c.__file__.startswith(sys.argv[1]), c.__file__"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "task")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_a_missing_starter_is_a_config_error(tmp_path):
    (tmp_path / "lambdas").mkdir()
    (tmp_path / "__init__.py").write_text("")
    with pytest.raises(ConfigError, match="start_partition.py is missing"):
        packaging.build_function_zip(tmp_path)


def test_size_limits_are_enforced():
    small = packaging.Artifact("function", b"x", unzipped_size=1_000, entries=())
    huge = packaging.Artifact("layer", b"x", unzipped_size=packaging.UNZIPPED_LIMIT, entries=())
    with pytest.raises(ConfigError, match="over Lambda's"):
        packaging.check_sizes(small, [huge])
    with pytest.raises(ConfigError, match="at most 5"):
        packaging.check_sizes(small, [small] * 6)
