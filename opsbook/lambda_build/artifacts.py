"""Build the function zip and the layer for a runtime, audit them, import them in a sandbox,
and describe them in a manifest. `opsbook package` and deploy both call `build`."""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsbook.backends.aws.packaging import Artifact
from opsbook.lambda_build import elf_audit, layer
from opsbook.lambda_build.plan import Handler, Source
from opsbook.lambda_build.sandbox import SandboxResult, extract, sandbox_import
from opsbook.lambda_build.targets import ARCHITECTURES, Runtime, architecture, runtime
from opsbook.lambda_build.zipping import deterministic_zip

ZIP_LIMIT = 25 * 1024 * 1024  # the layer budget this project sets itself (zipped)


@dataclass
class Build:
    runtime: Runtime
    architecture: str
    handlers: list[Handler]
    function: Artifact
    layer: Artifact
    shared_objects: list[elf_audit.SharedObject]
    sandbox: SandboxResult | None = None
    pins: list[str] = field(default_factory=list)
    sandbox_skipped: str | None = None  # why the sandbox import did not run
    # For artifacts of another architecture than this machine's: the stand-in layer (the same
    # distributions, this machine's wheels) the function zip was import-tested with.
    stand_in: str | None = None

    def manifest(self) -> dict[str, Any]:
        def describe(a: Artifact) -> dict[str, Any]:
            return {
                "file": f"{a.name}.zip",
                "size": a.size,
                "unzipped_size": a.unzipped_size,
                "sha256": hashlib.sha256(a.data).hexdigest(),
            }

        return {
            "runtime": self.runtime.name,
            "architecture": self.architecture,
            "handlers": [{"function": h.function, "handler": h.entry} for h in self.handlers],
            "function": describe(self.function),
            "layer": {**describe(self.layer), "distributions": self.pins},
            "max_glibc": elf_audit.max_glibc(self.shared_objects),
            "runtime_glibc": "{}.{}".format(*self.runtime.glibc),
            "import_seconds": dict(self.sandbox.import_seconds) if self.sandbox else None,
            "sandbox": self._sandbox_verdict(),
        }

    def _sandbox_verdict(self) -> str:
        if self.sandbox is None:
            return f"skipped: {self.sandbox_skipped}"
        if self.stand_in:
            return (
                f"passed with the {self.stand_in} wheels of the same distributions standing in "
                f"({self.architecture} shared objects audited, not loaded)"
            )
        return "passed"

    def write(self, out: Path) -> dict[str, Any]:
        """function.zip, layer.zip and manifest.json in `out`; returns the manifest. Each file
        is written beside its place and moved in, the manifest last, so a failed write leaves
        no half-written file and no manifest describing zips that are not there."""
        out.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest()
        files = {f"{a.name}.zip": a.data for a in (self.function, self.layer)}
        files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
        staged = []
        try:
            for name, data in files.items():
                tmp = out / f".{name}.partial"
                staged.append(tmp)
                tmp.write_bytes(data)
            for tmp in staged:
                tmp.replace(out / tmp.name[1 : -len(".partial")])
        finally:
            for tmp in staged:
                tmp.unlink(missing_ok=True)
        return manifest


def function_zip(sources: Sequence[Source], handlers: Sequence[Handler]) -> Artifact:
    files = {s.arcname: s.path.read_bytes() for s in sources}
    for h in handlers:
        expected = h.module.replace(".", "/")
        if f"{expected}.py" not in files and f"{expected}/__init__.py" not in files:
            from opsbook.errors import ConfigError

            raise ConfigError(
                f"handler {h.entry} of {h.function}: {expected}.py is not in the sources"
            )
    return Artifact(
        name="function",
        data=deterministic_zip(files),
        unzipped_size=sum(len(v) for v in files.values()),
        entries=tuple(sorted(files)),
    )


def layer_zip(python_dir: Path, pins: list[str]) -> Artifact:
    cached = python_dir.parent / "layer.zip"
    files = layer.tree_files(python_dir)
    if cached.is_file():
        data = cached.read_bytes()
    else:
        executable = frozenset(a for a, p in files.items() if p.stat().st_mode & 0o111)
        data = deterministic_zip({a: p.read_bytes() for a, p in files.items()}, executable)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(cached)
    return Artifact(
        name="layer",
        data=data,
        unzipped_size=sum(p.stat().st_size for p in files.values()),
        entries=tuple(sorted(files)),
        distributions=tuple(pins),
    )


def _zip_members(data: bytes) -> list[tuple[str, bytes]]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist() if not n.endswith("/")]


def build(
    handlers: Sequence[Handler],
    sources: Sequence[Source],
    *,
    runtime_name: str,
    architecture_name: str,
    cache_dir: Path,
    requirements: tuple[str, ...] = layer.LAYER_REQUIREMENTS,
    sandbox: bool = True,
) -> Build:
    """Build, audit and (with `sandbox`) import-test the artifacts; ConfigError on failure."""
    from opsbook.errors import ConfigError

    rt = runtime(runtime_name)
    architecture(architecture_name)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fn = function_zip(sources, handlers)
    python_dir, pins = layer.install_tree(tuple(requirements), rt, architecture_name, cache_dir)
    lay = layer_zip(python_dir, pins)
    if lay.size > ZIP_LIMIT:
        raise ConfigError(f"layer.zip is {lay.size / 1e6:.1f} MB, over the 25 MB budget")
    objects = elf_audit.scan([*_zip_members(fn.data), *_zip_members(lay.data)])
    elf_audit.audit(objects, rt.glibc, architecture_name)
    built = Build(rt, architecture_name, list(handlers), fn, lay, objects, pins=pins)
    host = platform.machine()
    if not sandbox:
        built.sandbox_skipped = "not asked for"
    elif architecture(architecture_name) != host:
        # Shared objects for another machine cannot load here; the ELF audit still ran. The
        # function zip is import-tested with this machine's wheels of the same distributions,
        # whose Python files must be the target layer's: a missing module still fails here.
        stand_in = next((a for a in ARCHITECTURES if ARCHITECTURES[a] == host), None)
        built.sandbox_skipped = f"{architecture_name} artifacts cannot import on {host}"
        if stand_in:
            built.sandbox = _stand_in_sandbox(built, stand_in, cache_dir)
            built.stand_in = stand_in
    else:
        built.sandbox = _sandbox(built, cache_dir)
    return built


def _python_files(layer_zip: Artifact) -> set[str]:
    """The layer's files that are the same on every architecture: all but compiled objects,
    the libraries wheels vendor beside them, and the wheels' own records of those."""
    same = set()
    for name in layer_zip.entries:
        parts = name.split("/")
        if any(p.endswith(".libs") for p in parts) or ".so" in parts[-1]:
            continue
        if len(parts) > 1 and parts[-2].endswith(".dist-info") and parts[-1] in ("RECORD", "WHEEL"):
            continue
        same.add(name)
    return same


def _stand_in_sandbox(built: Build, stand_in: str, cache_dir: Path) -> SandboxResult:
    from opsbook.lambda_build.sandbox import SandboxError

    python_dir, pins = layer.install_tree(tuple(built.pins), built.runtime, stand_in, cache_dir)
    if pins != built.pins:
        raise SandboxError(
            f"the {stand_in} stand-in layer resolves other distributions than the "
            f"{built.architecture} layer: {sorted(set(pins) ^ set(built.pins))[0]}"
        )
    substitute = layer_zip(python_dir, pins)
    differ = sorted(_python_files(substitute) ^ _python_files(built.layer))
    if differ:
        raise SandboxError(
            f"the {stand_in} stand-in layer's Python files differ from the {built.architecture} "
            f"layer's: {differ[0]}"
        )
    return _sandbox(
        Build(built.runtime, stand_in, built.handlers, built.function, substitute, []),
        cache_dir,
    )


def _sandbox(built: Build, cache_dir: Path) -> SandboxResult:
    """The sandbox import, once per (function zip, layer zip): a pass is remembered in the
    cache, so a repeated deploy of the same artifacts does not import them again."""
    key = hashlib.sha256(built.function.data + built.layer.data).hexdigest()[:24]
    passed = cache_dir / f"sandbox-passed-{key}.json"
    if passed.is_file():
        return SandboxResult(json.loads(passed.read_text()), {"statusCode": 200}, [])
    rt, arch = built.runtime, built.architecture
    sdk = layer.runtime_sdk(rt, arch, cache_dir)
    with tempfile.TemporaryDirectory(prefix="opsbook-sandbox-") as tmp:
        task, opt = Path(tmp) / "task", Path(tmp) / "opt"
        extract([(built.function.data, task), (built.layer.data, opt)])
        modules = list(dict.fromkeys(h.module for h in built.handlers))
        result = sandbox_import(rt, task, opt, sdk, modules)
    passed.write_text(json.dumps(result.import_seconds))
    return result
