"""`make bench`, part 3: how fast the dashboard's pages load on a 30-day run (3,101 cycles).

Replays the bundled month into a fresh database (or reads `--db PATH`), starts `runner.py
serve` on it, and times each page as a browser loads it: the HTML, its stylesheet and scripts,
and the API data its charts fetch, over loopback from a cold start and warm (median of 5).
Beside the 1 s target it prints a baseline measured in the same run (the bare /healthz round
trip), and the largest page the API returns (bounded). With Chromium and Playwright installed
(`make test-ui`'s extra) it also times the overview in the browser, to its charts drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from autotrader.config import load_settings
from autotrader.core.boot import RunOptions, run_agent

TARGET_MS = 1000.0
REPO = Path(__file__).resolve().parent.parent
PAGES = {
    "Overview": ("/", ["/api/series"]),
    "Market": ("/market", ["/api/market"]),
    "Cycles": ("/cycles", []),
    "Research": ("/research", ["/api/research"]),
    "Trades": ("/trades", []),
    "Runs": ("/runs", []),
    "Trace": ("/trace/{trace}", []),
}
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')
WARM_RUNS = 5
CHARTS_DRAWN = "window.AutotraderCharts.registry.equity !== undefined"


def month_db(folder: Path) -> Path:
    path = folder / "month.db"
    settings = load_settings(env_file=None, db_path=path, log_level="WARNING")
    asyncio.run(run_agent(settings, RunOptions(), Console(file=io.StringIO())))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(REPO / "runner.py"), "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the dashboard did not start")


def load_page(client: httpx.Client, path: str, data: list[str]) -> tuple[float, int]:
    """Milliseconds to fetch a page, its assets and its data, as a browser would (assets in
    the order the page names them); and the bytes fetched."""
    started = time.perf_counter()
    page = client.get(path)
    page.raise_for_status()
    size = len(page.content)
    for url in [*ASSET.findall(page.text), *data]:
        answer = client.get(url)
        answer.raise_for_status()
        size += len(answer.content)
    return (time.perf_counter() - started) * 1000, size


def browser_ms(base: str) -> str:
    """The overview in headless Chromium, navigation start to its equity chart drawn."""
    from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped (no Playwright: make test-ui installs it)"
    if not CHROMIUM.exists():
        return f"skipped (no {CHROMIUM})"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        browser.new_page().goto(base + "/healthz")  # start the browser's own machinery first
        context = browser.new_context(viewport={"width": 1280, "height": 860})

        def visit(path: str, drawn: str) -> float:
            page = context.new_page()
            page.goto(base + path)
            page.wait_for_function(drawn)
            elapsed = float(page.evaluate("performance.now()"))
            page.close()
            return elapsed

        # The first visit fetches the scripts; the next have them cached.
        times = [visit("/", CHARTS_DRAWN) for _ in range(1 + 5)]
        blank = statistics.median(visit("/healthz", "true") for _ in range(5))
        browser.close()
    return (
        f"first visit {times[0]:.0f} ms, then {statistics.median(times[1:]):.0f} ms (median of "
        f"5); baseline, a new tab on /healthz: {blank:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, help="a finished database to serve (default: replay the month)"
    )
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or month_db(Path(tmp))
        server, base = start_server(db)
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                cycles = client.get("/api/status").json()["cycles"]
                trace = client.get("/api/cycles", params={"limit": 1}).json()["items"][0][
                    "trace_id"
                ]
                rows = []
                for name, (path, data) in PAGES.items():
                    url = path.format(trace=trace)
                    cold, size = load_page(client, url, data)
                    warm = statistics.median(
                        load_page(client, url, data)[0] for _ in range(WARM_RUNS)
                    )
                    rows.append((name, url, cold, warm, size))
                baseline = statistics.median(
                    _timed(lambda: client.get("/healthz")) for _ in range(20)
                )
                biggest = client.get("/api/cycles", params={"limit": 500}).json()
                too_big = client.get("/api/cycles", params={"limit": 501}).status_code
            in_browser = browser_ms(base)
        finally:
            server.terminate()
            server.wait(timeout=10)

    table = Table(title=f"make bench: dashboard pages, {cycles:,} cycles (runner.py serve)")
    for heading in ("page", "cold", "warm", "fetched", "target 1 s"):
        table.add_column(heading, justify="left" if heading == "page" else "right")
    for name, _, cold, warm, size in rows:
        verdict = "ok" if max(cold, warm) < TARGET_MS else "OVER"
        table.add_row(name, f"{cold:.0f} ms", f"{warm:.0f} ms", f"{size / 1024:.0f} KB", verdict)
    table.add_row("baseline: /healthz", f"{baseline:.1f} ms", "", "", "")
    console.print(table)
    console.print(
        "cold: the first load after start; warm: median of 5; each is the HTML, its stylesheet "
        "and scripts and the data its charts fetch, over loopback."
    )
    console.print(f"overview in Chromium, navigation to its charts drawn: {in_browser}")
    load = os.getloadavg()
    console.print(
        f"machine load while measuring (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} on {os.cpu_count()} cores: above the core count, every figure grows"
    )
    console.print(
        f"API pages are bounded: /api/cycles?limit=500 returned {len(biggest['items'])} of "
        f"{biggest['total']:,}; limit=501 answers {too_big}."
    )


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
