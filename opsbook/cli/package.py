"""`opsbook package`: build the Lambda artifacts deploy would upload, and check them.

Writes function.zip, layer.zip and manifest.json to --out, after the ELF audit and the sandbox
import passed (see opsbook.lambda_build)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from opsbook.cli.output import emit_json
from opsbook.cli.session import session
from opsbook.errors import UsageError

commands = typer.Typer()


@commands.command()
def package(
    ctx: typer.Context,
    out_dir: str = typer.Option(
        ..., "--out", help="Folder for function.zip, layer.zip, manifest.json."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Build the Lambda function zip and layer for the configured runtime, audit and import-test
    them, and write them with a manifest."""
    from opsbook.lambda_build.configured import build_for_config

    cfg = session(ctx).cfg()
    out = Path(out_dir)
    writable_folder(out)  # before the build: a minute of pip and sandbox, then no place to put it
    built = build_for_config(cfg)
    try:
        manifest = built.write(out)
    except OSError as exc:
        raise UsageError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    if as_json:
        emit_json(manifest)
        return
    for key in ("function", "layer"):
        item = manifest[key]
        typer.echo(
            f"{out / item['file']}: {item['size'] / 1e6:.1f} MB zipped, "
            f"{item['unzipped_size'] / 1e6:.1f} MB unzipped"
        )
    typer.echo(
        f"{manifest['runtime']} {manifest['architecture']}: shared objects need glibc "
        f"{manifest['max_glibc'] or '-'} (runtime has {manifest['runtime_glibc']}); "
        f"sandbox import {manifest['sandbox']}"
    )


def writable_folder(out: Path) -> None:
    """UsageError unless `out` is a folder, or can become one, that takes files. Creates
    nothing: the probe file goes in the nearest folder that exists and is removed at once."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    nearest = out
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UsageError(f"--out {out}: {nearest} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=nearest):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
