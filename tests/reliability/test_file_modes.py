"""Local files that can hold secrets or message text (the store, the outbox, the history cache,
the config) are 0600 inside 0700 folders, even under a permissive umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, scrubbed_env  # noqa: E402

from opsbook.backends.local.backend import LocalBackend  # noqa: E402
from opsbook.config import load_config  # noqa: E402
from opsbook.operations import history as hist  # noqa: E402


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "opsbook", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0),
    )  # fmt: skip


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_private_files_are_0600_in_0700_folders_under_umask_000(make_local, tmp_path):
    home = tmp_path / "home"
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    assert _run(["init"], env, tmp_path).returncode == 0
    seed = make_local(home)
    add_week(seed, WEEK)
    seed.close()
    started = _run(["start", "--week", WEEK, "--json"], env, tmp_path)
    assert started.returncode == 0, started.stderr
    # The notebook/CLI views fill the history cache.
    old = os.umask(0)
    try:
        backend = LocalBackend(load_config(home=home))
        hist.events(backend, f"week-{WEEK}")
        hist.weeks(backend, "2026-11-19", WEEK)
        backend.close()
    finally:
        os.umask(old)

    private_dirs = [home, home / "outbox", home / "cache"]
    private_files = [home / "store.sqlite", home / "outbox" / "slack.jsonl"]
    cache_files = [p for p in (home / "cache").rglob("*") if p.is_file()]
    assert cache_files, "the history views should have cached the closed execution"
    private_dirs += [p for p in (home / "cache").rglob("*") if p.is_dir()]
    private_files += cache_files
    private_files += [
        home / n for n in ("store.sqlite-wal", "store.sqlite-shm") if (home / n).exists()
    ]
    for folder in private_dirs:
        assert mode(folder) == 0o700, (folder, oct(mode(folder)))
    for path in private_files:
        assert mode(path) == 0o600, (path, oct(mode(path)))


def test_an_existing_home_with_loose_modes_is_tightened(make_local, tmp_path):
    home = tmp_path / "home"
    (home / "outbox").mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chmod(home / "outbox", 0o777)
    backend = make_local(home)
    backend.init()
    assert mode(home) == 0o700 and mode(home / "outbox") == 0o700
    assert mode(home / "store.sqlite") == 0o600


@pytest.mark.slow
def test_report_files_are_private_under_umask_000(deployed, tmp_path):
    """The report holds the week's notification texts and failure causes, like the outbox:
    its files are 0600, and a folder it creates is 0700, whatever the umask (issue 14, #12)."""
    add_week(deployed, WEEK)
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    out = tmp_path / "reports" / "weekly"
    for args in (["start", "--week", WEEK], ["report", "--week", WEEK, "--out", str(out)]):
        done = _run(args, env, tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    files = sorted(p for p in out.iterdir() if p.is_file())
    assert {p.suffix for p in files} == {".ipynb", ".html", ".json"}
    for path in files:
        assert mode(path) == 0o600, (path, oct(mode(path)))
    for folder in (out, out.parent):
        assert mode(folder) == 0o700, (folder, oct(mode(folder)))
