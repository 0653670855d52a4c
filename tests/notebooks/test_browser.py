"""The ops console in a real browser: Voila serves it, headless Chromium drives it."""

from __future__ import annotations

import os
import re
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


def test_console_legend_failure_panel_and_rerun(voila, demo):
    """The on-call path: legend and grid, the failed week's failure panel, a rerun from it."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(voila, timeout=90_000)
            page.wait_for_selector(".opsbook-grid button", timeout=90_000)
            legend = page.locator(".opsbook-legend")
            assert legend.is_visible()
            assert all(s in legend.inner_text() for s in ("SUCCEEDED", "FAILED", "MISSING"))
            since, until = page.locator("input[type=date]").all()
            until.fill(demo.end)
            since.fill("2026-11-01")
            page.wait_for_function(
                "document.querySelectorAll('.opsbook-grid button').length === 4", timeout=30_000
            )
            labels = page.locator(".opsbook-grid button").all_inner_texts()
            assert labels == ["11-05", "11-12", "11-19", "11-26"]
            cells = page.locator(".opsbook-cell").all_inner_texts()
            assert "18 polls" in cells[0] and "1 att" in cells[0] and "3 polls" in cells[1]
            assert not page.locator(".opsbook-panel").is_visible()
            page.screenshot(path=str(ARTIFACTS / "ops_console_grid.png"))

            failed = page.locator(f".opsbook-week-{demo.failed}")
            assert "opsbook-status-FAILED" in failed.get_attribute("class")
            failed.click()
            panel = page.locator(".opsbook-failure")
            panel.locator("b", has_text="PollingGaveUp").wait_for(timeout=30_000)
            # The panel fills in as the widgets render: wait for each part, then read it whole.
            for part in (
                "CheckRecords",
                "no rows for 2026-11-04",
                "03:30:00 UTC / 12:30:00 Asia/Tokyo",
            ):
                expect(panel).to_contain_text(part, timeout=30_000)
            expect(panel).to_contain_text('"check_date": "2026-11-04"', timeout=30_000)
            # The execution failed at the Task whose check gave up, not at a Fail state.
            assert "LoadFailed" not in panel.inner_text()
            # The events tab (hidden behind Executions) lists the poll loop as one row.
            page.locator(".opsbook-events >> text=WaitForData").wait_for(
                state="attached", timeout=30_000
            )
            assert page.locator(".opsbook-events >> text=WaitForData").count() == 1
            page.locator(".opsbook-panel").screenshot(
                path=str(ARTIFACTS / "ops_console_failure.png")
            )

            page.locator(".widget-tab >> text=Graph").first.click()
            graph = page.locator(".opsbook-graph-view svg")
            graph.wait_for(timeout=30_000)
            assert graph.bounding_box()["width"] >= 600
            page.locator(".widget-tab").first.screenshot(
                path=str(ARTIFACTS / "ops_console_graph.png")
            )

            page.locator(".widget-checkbox input").uncheck()  # a real rerun, not a dry run
            page.locator(".opsbook-rerun").click()
            plan = page.locator(".opsbook-plan")
            plan.locator("text=week-2026-11-05-r1").wait_for(timeout=30_000)
            expect(plan).to_contain_text("START", timeout=30_000)
            confirm = page.locator(".opsbook-confirm")
            expect(confirm).to_be_visible(timeout=30_000)
            expect(confirm).to_contain_text("Confirm rerun of 1 week(s)", timeout=30_000)
            page.locator(".opsbook-panel").screenshot(path=str(ARTIFACTS / "ops_console_plan.png"))
            confirm.click()
            page.locator(".opsbook-results >> text=SUCCEEDED").wait_for(timeout=60_000)
            page.wait_for_function(
                f"document.querySelector('.opsbook-week-{demo.failed}')"
                ".classList.contains('opsbook-status-SUCCEEDED')",
                timeout=30_000,
            )
            assert not confirm.is_visible()
            page.locator(".opsbook-clear").click()
            page.wait_for_function(
                "!document.querySelector('.opsbook-panel').checkVisibility()", timeout=30_000
            )
            page.screenshot(path=str(ARTIFACTS / "ops_console_after_rerun.png"), full_page=True)
        finally:
            browser.close()
    for name in ("grid", "failure", "graph", "plan", "after_rerun"):
        assert (ARTIFACTS / f"ops_console_{name}.png").stat().st_size > 10_000


def test_report_html_shows_graph_and_charts_in_chromium(report_run):
    """What a reader sees: the inline SVG graph and the PNG charts, rendered, offline."""
    from playwright.sync_api import sync_playwright

    html = report_run.stem.with_suffix(".html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("networkidle")
            assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
            assert page.title() == "opsbook-weekly-load · week 2026-11-05 · FAILED"
            graph = page.locator(".opsbook-graph svg")
            assert graph.count() == 1 and graph.bounding_box()["width"] > 600
            # The failed Task is drawn red, with its 19 visits.
            title = page.locator("title", has_text=re.compile(r"^CheckRecords$"))
            failed = graph.locator("g.node", has=title)
            assert failed.locator("[stroke='#c62828']").count() >= 1
            assert "×19" in failed.text_content()
            images = page.locator("img[src^='data:image/png']")
            assert images.count() >= 4
            widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 300 for w in widths)  # decoded, not broken images
            assert page.get_by_text("Is this week OK?").count() == 1
            page.screenshot(path=str(ARTIFACTS / "weekly_report.png"), full_page=True)
        finally:
            browser.close()
