"""Lambda artifacts: layer size and cold import time of each handler, before and after.

    .venv/bin/python bench/lambda_artifacts_bench.py [--runs 5]

"after": the layer pip installs for python3.11 x86_64 (opsbook.lambda_build) and today's
function zip. "before": the layer copied from this virtualenv by the previous packaging code
(`git show 6e62e95:opsbook/packaging.py`, with pandas, pyarrow and numpy) and main's opsbook
sources. Each import runs in a fresh `python -I -S` with only the function folder, the layer's
python/ folder and a separate boto3 on sys.path (as the sandbox import does); a figure is the
median of --runs processes. Two imports per handler: the handler module alone, and the handler
with what its AWS path loads on first call (BigQuery client and warehouse, or slack_sdk).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tqdm.auto import tqdm  # noqa: E402

from opsbook.config import load_config  # noqa: E402
from opsbook.lambda_build import layer  # noqa: E402
from opsbook.lambda_build.configured import build_for_config  # noqa: E402
from opsbook.lambda_build.targets import runtime  # noqa: E402

HANDLERS = ("check_records", "insert_week", "notify", "start_partition")
AFTER_PATH = {
    "check_records": [
        "opsbook.warehouse.bigquery_jobs",
        "google.cloud.bigquery",
        "google.auth.aws",
    ],
    "insert_week": [
        "opsbook.warehouse.bigquery_jobs",
        "google.cloud.bigquery",
        "opsbook.warehouse.rules",
    ],
    "notify": ["slack_sdk.webhook"],
    # The schedule's starter (issue 14; no "before"): its first call loads the runtime's boto3.
    "start_partition": ["boto3"],
}
BEFORE_PATH = {
    "check_records": ["opsbook.warehouse", "google.cloud.bigquery"],
    "insert_week": ["opsbook.warehouse", "google.cloud.bigquery"],
    "notify": ["slack_sdk.webhook"],
}
SCRIPT = r"""
import importlib, json, sys, time
cfg = json.loads(sys.argv[1])
sys.path[:] = cfg["path"] + [p for p in sys.path if p and "-packages" not in p]
t0 = time.perf_counter()
for name in cfg["modules"]:
    importlib.import_module(name)
print(json.dumps(time.perf_counter() - t0))
"""


def import_seconds(path: list[str], modules: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        cfg = json.dumps({"path": path, "modules": modules})
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", SCRIPT, cfg], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"import of {modules} failed: {done.stderr.strip().splitlines()[-1]}")
        times.append(json.loads(done.stdout))
    return statistics.median(times)


def extract(data: bytes, dest: Path) -> Path:
    zipfile.ZipFile(io.BytesIO(data)).extractall(dest)
    return dest


def before_artifacts(tmp: Path) -> tuple[bytes, int, Path]:
    """The previous layer (copied from this virtualenv) and main's sources."""
    source = subprocess.run(
        ["git", "show", "6e62e95:opsbook/packaging.py"], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    old = types.ModuleType("old_packaging")
    old.__dict__["__file__"] = str(REPO / "opsbook" / "packaging.py")
    sys.modules["old_packaging"] = old  # dataclasses look their module up
    exec(compile(source, "6e62e95:opsbook/packaging.py", "exec"), old.__dict__)
    built = old.build_layer(cache_dir=tmp / "old-cache")
    archive = subprocess.run(
        ["git", "archive", "main", "opsbook"], cwd=REPO, capture_output=True, check=True
    ).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(tmp / "old-task")
    return built.data, built.unzipped_size, tmp / "old-task"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config(bq_project="acme-analytics")
    cache = layer.default_cache_dir()
    built = build_for_config(cfg, cache_dir=cache, sandbox=False)
    sdk = layer.runtime_sdk(runtime(cfg.lambda_runtime), cfg.lambda_architecture, cache)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old_zip, old_unzipped, old_task = before_artifacts(tmp)
        sides = {
            "before": (old_zip, old_unzipped, old_task, extract(old_zip, tmp / "old-opt"), BEFORE_PATH),
            "after": (
                built.layer.data, built.layer.unzipped_size,
                extract(built.function.data, tmp / "task"), extract(built.layer.data, tmp / "opt"),
                AFTER_PATH,
            ),
        }  # fmt: skip
        work = [(side, h) for side in sides for h in HANDLERS if h in sides[side][4]]
        for side, handler in tqdm(work, desc="cold imports"):
            data, unzipped, task, opt, lazy = sides[side]
            path = [str(task), str(opt / "python"), str(sdk)]
            module = f"opsbook.lambdas.{handler}"
            alone = import_seconds(path, [module], args.runs)
            first_call = import_seconds(path, [module, *lazy[handler]], args.runs)
            rows.append((side, handler, len(data), unzipped, alone, first_call))
    print(f"runs per figure: {args.runs} (median)")
    print("side    layer zipped  layer unzipped  handler        import  import+AWS path")
    for side, handler, zipped, unzipped, alone, first in rows:
        print(
            f"{side:7} {zipped / 1e6:9.1f} MB {unzipped / 1e6:11.1f} MB  {handler:13} "
            f"{alone * 1000:6.0f} ms {first * 1000:9.0f} ms"
        )


if __name__ == "__main__":
    main()
