"""The dashboard in a real browser (`make test-ui`): Debian's headless Chromium, driven by
Playwright, against `runner.py serve` on a database a real `runner.py --hours 12` replay made.

Every page loads without a script error, a raw float or a traceback, and without a request
leaving the machine; charts paint their canvases and each fill is drawn on its candle; the
cycles filter and the trace tree work; the overview follows a running agent live; the report's
charts work from the file alone. Screenshots go to reports/screenshots/.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, clean_env
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.ui
playwright_api = pytest.importorskip("playwright.sync_api")

SHOTS = REPO_ROOT / "reports" / "screenshots"
PAGES = {"overview": "/", "market": "/market", "cycles": "/cycles", "research": "/research",
         "trades": "/trades", "runs": "/runs"}  # fmt: skip
RAW_FLOAT = re.compile(r"\d\.\d{9,}")
BUY_RGB, SELL_RGB = (29, 78, 216), (234, 88, 12)  # charts.js COLORS.buy / COLORS.sell


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute(query).fetchall()


def _runner(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "runner.py"), *args],
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(db: Path, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    server = _runner("serve", "--db", str(db), "--port", str(port), cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return server, base
        except OSError:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ui")
    db = folder / "replay.db"
    agent = _runner("--db", str(db), "--from", "2025-09-29", "--hours", "12", cwd=folder)
    output, _ = agent.communicate(timeout=240)
    assert agent.returncode == 0, output
    return db


@pytest.fixture(scope="module")
def site(replay: Path) -> Iterator[str]:
    server, base = _serve(replay, replay.parent)
    yield base
    _stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (make test-ui needs it)")
    with playwright_api.sync_playwright() as driver:
        found = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


class Tab:
    """A page that records script errors and every request that would leave the machine."""

    def __init__(self, browser: Any, base: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 860})
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )
        self.page.route("**/*", self._only_local)

    def _only_local(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "file:", "data:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path, wait_until="networkidle")
        assert response is not None and response.status == 200, path
        return self.page

    def painted(self, selector: str) -> int:
        """How many sampled pixels of the chart's canvases are neither blank nor white."""
        return int(
            self.page.evaluate(
                """(selector) => {
                  let painted = 0;
                  document.querySelectorAll(selector + " canvas").forEach((c) => {
                    if (!c.width || !c.height) return;
                    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                    for (let i = 0; i < d.length; i += 32)
                      if (d[i + 3] > 0 && Math.min(d[i], d[i + 1], d[i + 2]) <= 240) painted++;
                  });
                  return painted;
                }""",
                selector,
            )
        )


@pytest.fixture
def tab(browser: Any, site: str) -> Iterator[Tab]:
    opened = Tab(browser, site)
    yield opened
    assert opened.errors == [] and opened.outside == []
    opened.page.close()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_loads_for_people(tab: Tab, name: str) -> None:
    page = tab.open(PAGES[name])
    page.wait_for_timeout(300)  # the charts draw after their data arrives
    text = page.inner_text("body")
    assert RAW_FLOAT.findall(text) == [] and "Traceback" not in text
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_overview_charts_paint(tab: Tab) -> None:
    page = tab.open("/")
    page.wait_for_function("window.AutotraderCharts.registry.equity !== undefined")
    assert tab.painted("#equity-chart") > 500 and tab.painted("#drawdown-chart") > 200
    # How fast is `make bench`'s question (benchmarks/dashboard.py), not a test's.
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "readme_overview.png"))


def test_the_market_chart_draws_each_fill_on_its_candle(tab: Tab, replay: Path) -> None:
    page = tab.open("/market")
    page.wait_for_function("window.AutotraderCharts.registry.market !== undefined")
    page.wait_for_timeout(300)
    trades = _rows(replay, "SELECT CAST(strftime('%s', ts_utc) AS INTEGER), side FROM trades")
    markers = page.evaluate(
        """() => { const kept = window.AutotraderCharts.registry.market;
                   return kept.markers.map((m, i) => [m.time, m.shape, m.text]); }"""
    )
    shapes = {"BUY": "arrowUp", "SELL": "arrowDown"}
    assert sorted((t, shape) for t, shape, _ in markers) == sorted(
        (ts - ts % 300, shapes[side]) for ts, side in trades
    )
    assert all(text.split(" ")[0] in shapes and " @ " in text for _, _, text in markers)
    # Each marker is painted, in its side's colour, in the column of its candle.
    found = page.evaluate(
        """([buy, sell]) => {
          const kept = window.AutotraderCharts.registry.market;
          const box = document.querySelector("#market-chart").getBoundingClientRect();
          return kept.markers.map((m) => {
            const x = kept.chart.timeScale().timeToCoordinate(m.time);
            const want = m.shape === "arrowUp" ? buy : sell;
            let hits = 0;
            document.querySelectorAll("#market-chart canvas").forEach((c) => {
              const r = c.getBoundingClientRect();
              const cx = box.left + x - r.left;
              if (x === null || cx < 0 || cx >= r.width || !c.width) return;
              const scale = c.width / r.width;
              const d = c.getContext("2d").getImageData(
                Math.max(0, Math.round((cx - 4) * scale)), 0, Math.round(9 * scale), c.height).data;
              for (let i = 0; i < d.length; i += 4)
                if (d[i + 3] > 128 && Math.abs(d[i] - want[0]) + Math.abs(d[i + 1] - want[1])
                    + Math.abs(d[i + 2] - want[2]) < 60) hits++;
            });
            return hits;
          });
        }""",
        [BUY_RGB, SELL_RGB],
    )
    assert found and all(hits > 5 for hits in found), found
    assert tab.painted("#market-chart") > 1000
    page.screenshot(path=str(SHOTS / "readme_market.png"))


def test_the_cycles_filter_narrows_the_table(tab: Tab, replay: Path) -> None:
    page = tab.open("/cycles")
    everything = page.locator("tr.cycle-row").count()
    page.select_option("#cycle-filters select[name=executed]", "yes")
    page.click("#cycle-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    executed = _rows(replay, "SELECT count(*) FROM cycles WHERE executed = 1")[0][0]
    rows = page.locator("tr.cycle-row")
    assert 0 < rows.count() == executed < everything
    assert all(rows.nth(i).get_attribute("data-executed") == "yes" for i in range(rows.count()))
    assert "executed=yes" in page.url


def test_the_trace_tree_opens_from_a_cycle(tab: Tab) -> None:
    page = tab.open("/cycles?executed=yes")
    page.locator("a.trace-link").first.click()
    page.wait_for_load_state("networkidle")
    assert "/trace/trace_" in page.url
    nodes = page.locator("#trace-tree .node")
    depths = [int(nodes.nth(i).get_attribute("data-depth") or 0) for i in range(nodes.count())]
    assert depths[0] == 0 and max(depths) >= 2  # agent -> model call -> generation
    assert all(b <= a + 1 for a, b in pairwise(depths))  # a tree, in depth-first order
    tool = page.locator('#trace-tree .node[data-kind="function"][data-name="get_ohlcv"]').first
    arguments = tool.locator("pre.span-input")
    assert not arguments.is_visible()
    tool.locator("summary").click()
    assert arguments.is_visible() and '"symbol"' in arguments.inner_text()
    for agent in ("Planner", "Trader", "Judge"):
        assert (
            page.locator(f'#trace-tree .node[data-kind="agent"][data-name="{agent}"]').count() == 1
        )
    page.screenshot(path=str(SHOTS / "trace.png"), full_page=True)


def test_the_overview_follows_a_running_agent(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    agent = _runner("--db", str(db), "--from", "2025-09-20", "--hours", "72", cwd=tmp_path)
    server = None
    try:
        deadline = time.monotonic() + 120
        while not db.exists() or not _has_cycles(db):
            assert agent.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        server, base = _serve(db, tmp_path)
        live = Tab(browser, base)
        page = live.open("/")
        first = page.inner_text('[data-field="cycles"]')
        page.wait_for_function(
            "(first) => document.querySelector('[data-field=\"cycles\"]').textContent !== first",
            arg=first,
            timeout=8000,  # polled every 3 s
        )
        assert live.errors == [] and live.outside == []
        output, _ = agent.communicate(timeout=240)
        assert agent.returncode == 0, output  # a reader never blocked the writer
        page.close()
    finally:
        _stop(agent)
        if server is not None:
            _stop(server)


def _has_cycles(db: Path) -> bool:
    try:
        return bool(_rows(db, "SELECT count(*) FROM cycles")[0][0])
    except sqlite3.OperationalError:
        return False


def test_the_report_charts_work_from_the_file_alone(browser: Any, replay: Path) -> None:
    report = _runner("report", "--db", str(replay), cwd=replay.parent)
    output, _ = report.communicate(timeout=120)
    assert report.returncode == 0, output
    (page_file,) = (replay.parent / "reports").glob("*_report.html")
    tab = Tab(browser, "")
    page = tab.page
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_function("window.AutotraderCharts.registry.market !== undefined")
    for chart in ("#equity-chart", "#drawdown-chart", "#exposure-chart", "#market-chart"):
        assert tab.painted(chart) > 200, chart
    text = page.inner_text("body")
    assert RAW_FLOAT.findall(text) == [] and "Traceback" not in text
    assert tab.errors == [] and tab.outside == []
    page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
    page.close()
