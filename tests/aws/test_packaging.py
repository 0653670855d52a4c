"""The Lambda function zip and the dependency layer: contents, determinism and sizes."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from opsbook.backends.aws import packaging
from opsbook.errors import ConfigError

MB = 1_000_000


@pytest.fixture(scope="module")
def full_layer(tmp_path_factory) -> packaging.Artifact:
    """The real layer (google-cloud-bigquery, pandas, pyarrow, ...), zipped once (~10-30 s)."""
    return packaging.build_layer(cache_dir=tmp_path_factory.mktemp("layer-cache"))


@pytest.fixture(scope="module")
def layer_listing() -> dict:
    """What goes into the real layer, without zipping it: `python/<path>` -> source file."""
    return packaging.layer_files(packaging.dependency_closure())


def test_function_zip_holds_the_handlers_and_what_they_import():
    artifact = packaging.build_function_zip()
    names = set(artifact.entries)
    for module in ("check_records", "notify", "insert_week", "resources", "__init__"):
        assert f"opsbook/lambdas/{module}.py" in names
    assert {
        "opsbook/__init__.py",
        "opsbook/warehouse/__init__.py",
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
        "import opsbook.lambdas.check_records as c, opsbook.lambdas.notify as n,"
        " opsbook.lambdas.insert_week as i;"
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


def test_missing_handler_is_a_config_error(tmp_path):
    (tmp_path / "lambdas").mkdir()
    (tmp_path / "__init__.py").write_text("")
    with pytest.raises(ConfigError, match="check_records.py is missing"):
        packaging.build_function_zip(tmp_path)


def test_layer_contents_are_trimmed_and_runtime_boto3_left_out(layer_listing):
    names = sorted(layer_listing)
    assert all(n.startswith("python/") for n in names)
    tops = {n.split("/")[1] for n in names}
    assert {"pandas", "pyarrow", "numpy", "db_dtypes", "slack_sdk", "google", "sqlglot"} <= tops
    assert "python/google/cloud/bigquery/client.py" in names
    # DuckDB is for offline use only; sqlglot stays because the insert script is split with it.
    assert not tops & {"boto3", "botocore", "s3transfer", "duckdb", "opsbook"}
    for bad in ("/__pycache__/", "/tests/", "/include/"):
        assert not any(bad in n for n in names), bad
    assert not any(n.endswith((".pyc", ".pyi", ".pxd", ".pyx", ".h")) for n in names)
    assert not any("libarrow_flight" in n or "_flight." in n for n in names)
    dists = {d.metadata["Name"].lower().replace("_", "-") for d in packaging.dependency_closure()}
    assert {
        "google-cloud-bigquery",
        "pandas",
        "pyarrow",
        "db-dtypes",
        "slack-sdk",
        "sqlglot",
    } <= dists
    assert not dists & {"boto3", "botocore", "duckdb"}


def test_layer_unzipped_size_fits_with_the_function(layer_listing):
    unzipped = sum(p.stat().st_size for p in layer_listing.values())
    function = packaging.build_function_zip()
    layer = packaging.Artifact("layer", b"", unzipped_size=unzipped, entries=tuple(layer_listing))
    packaging.check_sizes(function, [layer])  # raises when over Lambda's 250 MB
    # Measured on Linux x86_64, Python 3.11 (pyarrow 26, pandas 3.1, numpy 2.4): ~211 MB.
    assert 20 * MB < unzipped + function.unzipped_size < packaging.UNZIPPED_LIMIT


def test_small_layer_build_is_deterministic_and_cached(tmp_path):
    first = packaging.build_layer(("slack_sdk",), cache_dir=tmp_path / "a")
    second = packaging.build_layer(("slack_sdk",), cache_dir=tmp_path / "b")
    assert first.data == second.data  # two fresh builds, same bytes
    assert len(list((tmp_path / "a").glob("layer-*.zip"))) == 1
    assert packaging.build_layer(("slack_sdk",), cache_dir=tmp_path / "a").sha256 == first.sha256
    with zipfile.ZipFile(io.BytesIO(first.data)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.namelist() == sorted(zf.namelist())


@pytest.fixture(scope="module")
def opt_python(full_layer, tmp_path_factory):
    """The real layer unzipped, as Lambda mounts it at /opt; its python/ folder."""
    root = tmp_path_factory.mktemp("opt")
    with zipfile.ZipFile(io.BytesIO(full_layer.data)) as zf:
        zf.extractall(root)
    return root / "python"


def _isolated(code: str, *paths) -> subprocess.CompletedProcess:
    """Run `code` with only the standard library and `paths` (no site-packages), as on Lambda."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_full_layer_zip_size_and_imports_without_site_packages(full_layer, opt_python):
    """The real layer: over 50 MB zipped (so deploy goes through S3), under the unzipped limit,
    and on its own (no site-packages) it runs pandas/pyarrow and the BigQuery client."""
    assert full_layer.size > packaging.DIRECT_UPLOAD_LIMIT  # ~66 MB measured
    assert full_layer.unzipped_size < packaging.UNZIPPED_LIMIT
    print(
        f"layer: {full_layer.size / MB:.1f} MB zipped, {full_layer.unzipped_size / MB:.1f} MB unzipped"
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import pandas, pyarrow, pyarrow.compute, db_dtypes, slack_sdk;"
        "from google.cloud import bigquery;"
        "t = pyarrow.Table.from_pandas(pandas.DataFrame({'a': [1, 2]}));"
        "assert int(pyarrow.compute.sum(t['a']).as_py()) == 3;"
        "assert pandas.__file__.startswith(sys.argv[1]) and bigquery.__file__.startswith(sys.argv[1])"
    )
    done = _isolated(code, opt_python)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_function_zip_and_layer_reach_bigquery_on_lambda(tmp_path, opt_python):
    """/var/task (the function zip) + /opt/python (the layer), nothing else: the handlers'
    BigQuery path imports."""
    with zipfile.ZipFile(io.BytesIO(packaging.build_function_zip().data)) as zf:
        zf.extractall(tmp_path / "task")
    code = (
        "import sys; sys.path[:0] = sys.argv[1:3];"
        "from opsbook.warehouse import BigQueryWarehouse;"
        "from opsbook.lambdas import check_records, insert_week, notify"
    )
    done = _isolated(code, tmp_path / "task", opt_python)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


def test_size_limits_are_enforced():
    small = packaging.Artifact("function", b"x", unzipped_size=1_000, entries=())
    huge = packaging.Artifact("layer", b"x", unzipped_size=packaging.UNZIPPED_LIMIT, entries=())
    with pytest.raises(ConfigError, match="over Lambda's"):
        packaging.check_sizes(small, [huge])
    with pytest.raises(ConfigError, match="at most 5"):
        packaging.check_sizes(small, [small] * 6)


def test_missing_distribution_is_a_config_error():
    with pytest.raises(ConfigError, match="not installed"):
        packaging.dependency_closure(("no-such-package-opsbook",))
