"""The Lambda artifacts built for their runtime: wheel platforms, the ELF audit, the sandbox
import, the credential configuration, and `opsbook package` end to end (pip for the target
platform, from PyPI; pip's cache and the build cache make repeats fast)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws_helpers import federation_config  # noqa: E402

from opsbook.cli import run  # noqa: E402
from opsbook.errors import ConfigError  # noqa: E402
from opsbook.lambda_build import artifacts, credentials, elf_audit, plan, targets  # noqa: E402
from opsbook.lambda_build.sandbox import SandboxError  # noqa: E402
from opsbook.workflows.registry import shipped_workflow  # noqa: E402

WEEKLY = shipped_workflow("weekly_load")

MB = 1024 * 1024
FORBIDDEN_TOPS = {"pandas", "pyarrow", "numpy", "duckdb", "grpc", "boto3", "botocore"}


# --------------------------------------------------------------- runtimes and platforms


@pytest.mark.parametrize(
    ("runtime", "arch", "newest", "absent"),
    [
        ("python3.11", "x86_64", "manylinux_2_26_x86_64", "manylinux_2_27_x86_64"),
        ("python3.11", "arm64", "manylinux_2_26_aarch64", "manylinux_2_28_aarch64"),
        ("python3.12", "x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64"),
    ],
)
def test_platform_tags_stop_at_the_runtimes_glibc(runtime, arch, newest, absent):
    tags = targets.platform_tags(targets.runtime(runtime), arch)
    assert tags[0] == newest and absent not in tags
    assert f"manylinux2014_{targets.ARCHITECTURES[arch]}" in tags


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lambda_runtime", "python2.7", "lambda_runtime='python2.7' is not one of"),
        ("lambda_architecture", "sparc", "lambda_architecture='sparc' is not one of"),
    ],
)
def test_bad_runtime_or_architecture_is_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, key, value, message
):
    monkeypatch.setenv(f"OPSBOOK_{key.upper()}", value)
    assert run(["--home", str(tmp_path), "package", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file", "exists and is not a folder"),
        ("file/sub", "is not a folder"),
        ("/proc/opsbook-package-out", "is not writable"),  # the kernel's, not a folder to fill
    ],
)
def test_an_unusable_out_folder_is_one_line_and_exit_2_before_any_build(
    tmp_path, monkeypatch, capsys, where, message
):
    (tmp_path / "file").write_text("x")
    out = where if where.startswith("/") else str(tmp_path / where)
    # A build would need pip: with no index and no cache it fails, so exit 2 comes from --out.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    assert run(["--home", str(tmp_path / "home"), "package", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "empty-cache").exists()  # nothing was built


def test_a_shim_that_cannot_run_the_runtimes_python_is_refused(tmp_path, monkeypatch):
    """A version manager's python3.13 shim that fails, and one that is really this Python:
    neither may stand in for the runtime's interpreter."""
    from opsbook.lambda_build.sandbox import runtime_python

    rt = targets.runtime("python3.13")
    shim = tmp_path / "python3.13"
    monkeypatch.setenv("PATH", str(tmp_path))
    for body in ("exit 127", f'exec "{sys.executable}" "$@"'):
        shim.write_text(f"#!/bin/sh\n{body}\n")
        shim.chmod(0o755)
        with pytest.raises(SandboxError, match="no working python3.13 here"):
            runtime_python(rt)


# --------------------------------------------------------------- the ELF audit


def _gcc(tmp: Path, name: str, source: str, *args: str) -> Path:
    (tmp / f"{name}.c").write_text(source)
    out = tmp / f"lib{name}.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(out), str(tmp / f"{name}.c"), *args],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def newer_glibc_so(tmp_path) -> Path:
    """A shared object needing GLIBC_2.99: it links against a library whose linker version
    script gives its one symbol that version, as a newer glibc would."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed (.ci/run installs it)")
    (tmp_path / "dep.map").write_text("GLIBC_2.99 { global: opsbook_probe; local: *; };\n")
    _gcc(
        tmp_path,
        "dep",
        "int opsbook_probe(void) { return 1; }\n",
        f"-Wl,--version-script={tmp_path / 'dep.map'}",
        "-Wl,-soname,libdep.so",
    )
    return _gcc(
        tmp_path,
        "use",
        "int opsbook_probe(void);\nint opsbook_use(void) { return opsbook_probe(); }\n",
        f"-L{tmp_path}",
        "-ldep",
    )


def test_audit_reads_the_glibc_versions_a_shared_object_needs(newer_glibc_so):
    machine, needed = elf_audit.glibc_versions(newer_glibc_so.read_bytes())
    assert (2, 99) in needed
    # objdump, an independent reader, agrees.
    if shutil.which("objdump"):
        dump = subprocess.run(
            ["objdump", "-T", str(newer_glibc_so)], capture_output=True, text=True
        )
        assert "GLIBC_2.99" in dump.stdout


def test_audit_refuses_a_newer_glibc_naming_file_and_version(newer_glibc_so):
    found = elf_audit.scan([("python/evil/libuse.so", newer_glibc_so.read_bytes())])
    with pytest.raises(elf_audit.ElfAuditError) as caught:
        elf_audit.audit(found, (2, 26), "x86_64")
    assert str(caught.value) == (
        "python/evil/libuse.so needs GLIBC_2.99, above the runtime's glibc 2.26"
    )
    # The same file is refused for the other architecture before its glibc is looked at.
    with pytest.raises(elf_audit.ElfAuditError, match="not the arm64 Lambda architecture"):
        elf_audit.audit(found, (2, 99), "arm64")
    elf_audit.audit(found, (2, 99), "x86_64")  # a runtime with that glibc would load it


def test_build_stops_on_a_shared_object_in_the_function_sources(newer_glibc_so, build_cache):
    sources = [*plan.sources(WEEKLY), plan.Source(newer_glibc_so, "opsbook/lambdas/libuse.so")]
    with pytest.raises(ConfigError, match=r"opsbook/lambdas/libuse.so needs GLIBC_2.99"):
        artifacts.build(
            plan.handlers(WEEKLY, "opsbook"),
            sources,
            runtime_name="python3.11",
            architecture_name="x86_64",
            cache_dir=build_cache,
            sandbox=False,
        )


# --------------------------------------------------------------- credential configuration


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (federation_config(), None),
        ({"type": "service_account", "private_key": "-----BEGIN"}, "is a service-account key"),
        ({"type": "authorized_user"}, "not external_account"),
        ({**federation_config(), "credential_source": {"file": "/x"}}, "is not for AWS"),
        ({k: v for k, v in federation_config().items() if k != "token_url"}, "has no token_url"),
    ],
)
def test_only_a_federation_configuration_ships_with_the_functions(tmp_path, content, message):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(content))
    if message is None:
        assert credentials.federation_source(path).arcname == credentials.ARCNAME
    else:
        with pytest.raises(ConfigError, match=message):
            credentials.federation_source(path)


# --------------------------------------------------------------- full builds (pip, sandbox)


@pytest.fixture(scope="module")
def build_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lambda-build")


@pytest.mark.slow
@pytest.mark.parametrize(
    "architecture",
    [
        "x86_64",
        # arm64 is import-tested with its x86_64 stand-in, which only an x86_64 host runs.
        pytest.param(
            "arm64",
            marks=pytest.mark.skipif(
                platform.machine() != "x86_64", reason="the stand-in is x86_64 here"
            ),
        ),
    ],
)
def test_sandbox_fails_when_the_layer_misses_a_module(build_cache, architecture):
    # A layer of slack_sdk alone: the handlers import, but the BigQuery path cannot.
    with pytest.raises(SandboxError, match="google"):
        artifacts.build(
            plan.handlers(WEEKLY, "opsbook"),
            plan.sources(WEEKLY),
            runtime_name="python3.11",
            architecture_name=architecture,
            cache_dir=build_cache,
            requirements=("slack_sdk",),
        )


@pytest.mark.slow
def test_opsbook_package_writes_audited_artifacts_and_their_manifest(tmp_path, capsys):
    home, out = tmp_path / "home", tmp_path / "out"
    assert run(["--home", str(home), "package", "--out", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (manifest["runtime"], manifest["architecture"]) == ("python3.11", "x86_64")
    assert manifest["handlers"] == [
        {
            "function": "opsbook-check-records",
            "handler": "opsbook.definitions.weekly_load.check_records:handler",
        },
        {"function": "opsbook-notify", "handler": "opsbook.lambdas.notify:handler"},
        {
            "function": "opsbook-insert-week",
            "handler": "opsbook.definitions.weekly_load.insert_week:handler",
        },
        {  # the schedule's starter, imported in the sandbox like the others
            "function": "opsbook-weekly-load-start",
            "handler": "opsbook.lambdas.start_partition:handler",
        },
    ]
    assert manifest["sandbox"] == "passed"
    assert set(manifest["import_seconds"]) == {
        h["handler"].split(":")[0] for h in manifest["handlers"]
    }
    for key in ("function", "layer"):
        data = (out / f"{key}.zip").read_bytes()
        assert manifest[key]["size"] == len(data)
        assert manifest[key]["sha256"] == hashlib.sha256(data).hexdigest()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert manifest[key]["unzipped_size"] == sum(i.file_size for i in zf.infolist())
    assert manifest["layer"]["size"] <= 25 * MB
    # Audit the written layer independently of the build: what it holds, what its ELF needs.
    with zipfile.ZipFile(out / "layer.zip") as zf:
        names = zf.namelist()
        tops = {n.split("/")[1] for n in names if n.count("/") > 1}
        assert not tops & FORBIDDEN_TOPS, tops & FORBIDDEN_TOPS
        assert "python/google/cloud/bigquery/client.py" in names
        shared = [n for n in names if re.search(r"\.so(\.|$)", n)]
        assert shared  # cryptography, protobuf, ... are compiled
        needed = set()
        for name in shared:
            needed |= elf_audit.glibc_versions(zf.read(name))[1]
    top = max(needed)
    assert manifest["max_glibc"] == f"{top[0]}.{top[1]}" and top <= (2, 26)
    # Repeating the build reads the cache: same bytes, no second pip install.
    assert run(["--home", str(home), "package", "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "layer.zip").read_bytes() == (out / "layer.zip").read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the stand-in is x86_64 here")
def test_arm64_layer_holds_aarch64_objects_and_is_import_tested_with_a_stand_in(build_cache):
    built = artifacts.build(
        plan.handlers(WEEKLY, "opsbook"),
        plan.sources(WEEKLY),
        runtime_name="python3.11",
        architecture_name="arm64",
        cache_dir=build_cache,
    )
    assert built.shared_objects and {o.machine for o in built.shared_objects} == {"EM_AARCH64"}
    assert max(o.glibc for o in built.shared_objects) <= (2, 26)
    manifest = built.manifest()
    assert manifest["architecture"] == "arm64"
    # This machine cannot load aarch64 objects: the function zip was import-tested with the
    # x86_64 wheels of the same distributions, whose Python files are the arm64 layer's.
    assert manifest["sandbox"] == (
        "passed with the x86_64 wheels of the same distributions standing in "
        "(arm64 shared objects audited, not loaded)"
    )
    assert set(manifest["import_seconds"]) == {
        h["handler"].split(":")[0] for h in manifest["handlers"]
    }


# --------------------------------------------------------------- deploy stops on a violation


def _wheel(folder: Path, so: Path) -> Path:
    """A wheel that claims manylinux2014 (glibc 2.17) but carries a shared object needing
    GLIBC_2.99: what a mislabelled wheel would put in the layer. pip takes its tag at its word."""
    name = "glibcprobe-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    files = {
        "glibcprobe/__init__.py": b"",
        "glibcprobe/libuse.so": so.read_bytes(),
        "glibcprobe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: glibcprobe\nVersion: 1.0\n",
        "glibcprobe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: opsbook-tests\nRoot-Is-Purelib: false\n"
            b"Tag: cp311-cp311-manylinux_2_17_x86_64\n"
        ),
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files["glibcprobe-1.0.dist-info/RECORD"] = (
        record + "glibcprobe-1.0.dist-info/RECORD,,\n"
    ).encode()
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


@pytest.mark.aws
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe object is built for x86_64")
def test_deploy_stops_on_a_layer_object_needing_a_newer_glibc(
    aws_env, newer_glibc_so, tmp_path, monkeypatch
):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, newer_glibc_so)
    # pip resolves the layer from that folder alone, as it would from an index.
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPSBOOK_LAYER_REQUIREMENTS", "glibcprobe")
    done = subprocess.run(
        [sys.executable, "-m", "opsbook", "--backend", "aws", "deploy"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: python/glibcprobe/libuse.so needs GLIBC_2.99, above the runtime's glibc 2.26\n"
    )
    # Stopped before any AWS resource: the build comes first.
    import boto3

    session = boto3.Session(region_name=os.environ["AWS_REGION"])
    assert session.client("s3").list_buckets()["Buckets"] == []
    assert session.client("iam").list_roles()["Roles"] == []
    assert session.client("lambda").list_functions()["Functions"] == []
