"""The ops console in a real browser: Voila serves it, headless Chromium drives it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing (.ci/run installs Debian's chromium as root)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(proc: subprocess.Popen, port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"voila did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@pytest.fixture
def voila(demo, home_copy, tmp_path):
    port = _free_port()
    voila_bin = Path(sys.executable).with_name("voila")
    log = (tmp_path / "voila.log").open("w")
    proc = subprocess.Popen(
        [
            str(voila_bin),
            str(demo.notebooks / "ops_console.ipynb"),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
        ],  # fmt: skip
        env={**os.environ, "OPSBOOK_HOME": str(home_copy)},
        cwd=str(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its kernels share the group, so one signal stops them all
    )
    try:
        _wait_for_port(proc, port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()


@pytest.fixture(autouse=True)
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)


def test_console_range_grid_failed_week_and_dry_run_plan(voila, demo):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1200})
            page.goto(voila, timeout=90_000)
            page.wait_for_selector(".opsbook-grid button", timeout=90_000)
            since, until = page.locator("input[type=date]").all()
            until.fill(demo.end)
            since.fill("2026-11-01")
            page.wait_for_function(
                "document.querySelectorAll('.opsbook-grid button').length === 4", timeout=30_000
            )
            labels = page.locator(".opsbook-grid button").all_inner_texts()
            assert labels == ["11-05", "11-12", "11-19", "11-26"]
            failed = page.locator(f".opsbook-week-{demo.failed}")
            assert "opsbook-status-FAILED" in failed.get_attribute("class")
            failed.click()
            page.wait_for_selector(f"text=Week {demo.failed}: FAILED", timeout=30_000)
            page.locator(".opsbook-executions >> text=PollingGaveUp").wait_for(timeout=30_000)
            assert page.locator(".widget-checkbox input").is_checked()  # dry run
            page.locator(".opsbook-rerun").click()
            plan = page.locator(".opsbook-plan")
            plan.locator("text=week-2026-11-05-r1").wait_for(timeout=30_000)
            assert "START" in plan.inner_text()
            confirm = page.locator(".opsbook-confirm")
            assert confirm.is_visible() and "Confirm dry run" in confirm.inner_text()
            page.screenshot(path=str(ARTIFACTS / "ops_console.png"), full_page=True)
            confirm.click()
            page.locator(".opsbook-results >> text=Dry run").wait_for(timeout=30_000)
            assert not confirm.is_visible()
        finally:
            browser.close()
    assert (ARTIFACTS / "ops_console.png").stat().st_size > 10_000


def test_report_html_shows_graph_and_charts_in_chromium(report_run):
    """What a reader sees: the inline SVG graph and the PNG charts, rendered, offline."""
    from playwright.sync_api import sync_playwright

    html = report_run.stem.with_suffix(".html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(html.as_uri())
            graph = page.locator(".opsbook-graph svg")
            assert graph.count() == 1 and graph.bounding_box()["width"] > 600
            assert "LoadFailed" in graph.text_content()
            images = page.locator("img[src^='data:image/png']")
            assert images.count() >= 3
            widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 300 for w in widths)  # decoded, not broken images
            assert page.get_by_text("Week 2026-11-05: FAILED").count() == 1
            page.screenshot(path=str(ARTIFACTS / "weekly_report.png"), full_page=True)
        finally:
            browser.close()
