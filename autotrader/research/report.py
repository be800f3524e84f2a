"""`runner.py report`: an evaluation of one run a trader reads, printed, and written as three PNG
charts plus one self-contained HTML page: the figures written as a person writes them, the
agent against buy & hold and against buy & hold at its own mean exposure, the round trips with
their PnL, daily and monthly returns, exposure over time, the arms, and the dashboard's charts,
interactive (the vendored chart library is inlined, so the page works offline and alone).

Every number comes from the run's own rows, read through the query layer (the dashboard reads
the same); the candles are the replayed file's, checked against the run's prices. The metric
definitions are in research/metrics.py and on the page.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.config import Settings
from autotrader.db import Database
from autotrader.db.models import Trade
from autotrader.db.readonly import open_readonly
from autotrader.errors import ConfigError, DataError
from autotrader.exchange.candles import load_candles
from autotrader.research import arm_view, formats, market_view, queries, views
from autotrader.research.arm_view import ArmRow
from autotrader.research.arms import arm_label
from autotrader.research.market_view import MarketView
from autotrader.research.metrics import (
    Mark,
    PeriodReturn,
    PosteriorPoint,
    RoundTrip,
    buy_and_hold,
    drawdowns,
    equity_points,
    period_returns,
)
from autotrader.research.queries import RunOverview
from autotrader.research.views import Performance

TEMPLATES = Path(__file__).parent / "templates"
# The dashboard's chart files (package data of autotrader/web, read as files, not imported).
CHART_ASSETS = Path(__file__).parent.parent / "web" / "static"
CHART_SCRIPTS = ("vendor/lightweight-charts.standalone.production.js", "charts.js")


@dataclass(frozen=True)
class ReportData:
    overview: RunOverview
    marks: list[Mark]
    fills: list[Trade]
    trips: list[RoundTrip]
    performance: Performance
    arms: list[ArmRow]
    paths: dict[str, list[PosteriorPoint]]
    weekly: list[dict[str, Any]]
    experiments: tuple[int, int]
    market: MarketView


def load(db: Database, run_id: str | None, settings: Settings) -> ReportData:
    overview = queries.run_overview(db, run_id)
    run = overview.run
    marks = queries.marks(db, run)
    if len(marks) < 2:
        raise ConfigError(
            f"run {run.run_id} has fewer than two portfolio snapshots; "
            "let it run longer before reporting"
        )
    fills = queries.trades(db, run.run_id)
    trips = queries.trips(fills)
    half_life = settings.half_life_secs
    try:
        candles = load_candles(settings.resolved_replay_path)
    except (DataError, OSError):
        candles = None
    return ReportData(
        overview=overview,
        marks=marks,
        fills=fills,
        trips=trips,
        performance=views.performance(marks, fills, trips),
        arms=arm_view.arm_rows(db, run.scope, marks[-1].ts, half_life),
        paths=arm_view.posterior_history(db, run.scope, half_life),
        weekly=arm_view.weekly_evaluations(db, run.scope),
        experiments=queries.experiment_count(db, run.scope),
        market=market_view.market_view(run, marks, candles, settings.resolved_replay_path),
    )


def headline(data: ReportData) -> list[tuple[str, str]]:
    """The figures, as a trader writes them."""
    p, quote = data.performance, data.overview.run.symbol.split("/")[1]
    hours = (p.end - p.start).total_seconds() / 3600 if p.start and p.end else 0.0
    measured = data.experiments
    exposure = formats.pct(p.mean_exposure, 1, signed=False)
    return [
        ("period", f"{formats.when(p.start)} → {formats.when(p.end)} UTC ({hours:,.1f} h)"),
        (
            "final equity",
            f"{formats.money(p.final_equity)} {quote} (from {formats.money(p.start_equity)})",
        ),
        ("PnL", f"{formats.money(p.pnl, signed=True)} {quote}"),
        ("total return", formats.pct(p.total_return)),
        ("annualised return", formats.pct(p.annualised_return)),
        ("buy & hold (all in)", formats.pct(p.buy_and_hold)),
        (
            f"buy & hold at the agent's mean exposure ({exposure})",
            formats.pct(p.exposure_matched),
        ),
        ("agent against buy & hold", formats.points(p.against_hold)),
        ("agent against exposure-matched buy & hold", formats.points(p.against_matched)),
        ("max drawdown", formats.pct(p.max_drawdown, signed=False)),
        ("Sharpe (hourly returns, annualised)", formats.ratio(p.sharpe)),
        ("Sortino (hourly returns, annualised)", formats.ratio(p.sortino)),
        ("trades", formats.count(p.trades)),
        ("fees paid", f"{formats.money(p.fees)} {quote}"),
        ("round trips", p.record),
        ("realized PnL of round trips", f"{formats.money(p.realized_pnl, signed=True)} {quote}"),
        ("experiments (measured)", f"{formats.count(measured[0])} ({formats.count(measured[1])})"),
    ]


def exact_figures(data: ReportData) -> dict[str, str]:
    """The ledger's exact amounts (Decimal, unrounded) and counts, to reconcile with the
    database; named as the JSON API names them."""
    p = data.performance

    def text(value: Decimal | None) -> str:
        return "" if value is None else format(value, "f")

    return {
        "run": data.overview.run.run_id,
        "trades": str(p.trades),
        "fees_paid": text(p.fees),
        "start_equity": text(p.start_equity),
        "final_equity": text(p.final_equity),
        "pnl": text(p.pnl),
        "realized_pnl": text(p.realized_pnl),
        "position": text(p.position),
        "round_trips_closed": str(p.round_trips),
        "round_trips_won": str(p.won),
    }


# --- PNG charts (kept for the README and for readers without JavaScript) ---


def charts(data: ReportData, settings: Settings) -> dict[str, bytes]:
    """PNG bytes per chart name: equity (with exposure beneath), drawdown, posteriors."""
    out: dict[str, bytes] = {}
    marks, perf = data.marks, data.performance
    times = [m.ts for m in marks]

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()

    figure = Figure(figsize=(9, 4.6))
    axes: Any = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top, bottom = axes
    top.plot(times, [p.value for p in equity_points(marks)], label="agent", color="#2563eb")
    top.plot(times, [p.value for p in buy_and_hold(marks)], label="buy & hold", color="#9ca3af")
    exposure = perf.mean_exposure
    matched = buy_and_hold(marks, exposure)
    top.plot(
        times, [p.value for p in matched], label=f"buy & hold at {exposure:.1%}", color="#d97706"
    )
    top.set_ylabel(settings.quote_asset)
    top.set_title("Equity against buy & hold")
    top.legend(fontsize=8)
    bottom.fill_between(
        times, [m.exposure * 100 for m in marks], step="post", color="#7c3aed", alpha=0.4
    )
    bottom.set_ylabel("exposure %")
    figure.autofmt_xdate()
    out["equity"] = png(figure)

    figure = Figure(figsize=(9, 2.6))
    axis: Any = figure.subplots()
    dd = drawdowns(equity_points(marks))
    axis.fill_between([p.ts for p in dd], [-p.value * 100 for p in dd], color="tab:red", alpha=0.5)
    axis.set_ylabel("% below peak")
    axis.set_title("Drawdown")
    figure.autofmt_xdate()
    out["drawdown"] = png(figure)

    figure = Figure(figsize=(9, 3.8))
    axis = figure.subplots()
    for arm, path in data.paths.items():
        axis.plot([p.ts for p in path], [p.mean * 10_000 for p in path], label=arm_label(arm))
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_ylabel("posterior mean (bp per experiment)")
    axis.set_title("Posterior mean by arm")
    axis.legend(fontsize=7, ncol=2)
    figure.autofmt_xdate()
    out["posteriors"] = png(figure)
    return out


# --- the HTML page ---


def chart_data(data: ReportData) -> dict[str, Any]:
    """What the page's interactive charts draw: the same shapes as the dashboard's API."""
    return {
        "series": views.chart_series(data.marks),
        "market": market_view.market_chart(data.market, data.marks, data.fills),
        "posteriors": arm_view.posterior_json(data.paths),
    }


def render_html(data: ReportData, images: dict[str, bytes], half_life_hours: float) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters.update(views.template_filters())
    scripts = "\n".join(
        (CHART_ASSETS / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
        for name in CHART_SCRIPTS
    )
    return env.get_template("report.html").render(
        data=data,
        run=data.overview.run,
        headline=headline(data),
        exact=exact_figures(data),
        monthly=period_returns(data.marks, "month"),
        daily=period_returns(data.marks, "day"),
        trips=data.trips[::-1],
        fills=data.fills[::-1],
        images={name: base64.b64encode(png).decode() for name, png in images.items()},
        chart_json=views.script_json(chart_data(data)),
        scripts=scripts,
        generated=datetime.now(data.marks[-1].ts.tzinfo),
        half_life_hours=half_life_hours,
    )


def write_report(settings: Settings, out_dir: Path, run_id: str | None, console: Console) -> Path:
    db = open_readonly(settings.db_path)
    try:
        data = load(db, run_id, settings)
    finally:
        db.close()
    images = charts(data, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = data.overview.run.run_id
    for name, image in images.items():
        (out_dir / f"{run}_{name}.png").write_bytes(image)
    page = out_dir / f"{run}_report.html"
    page.write_text(render_html(data, images, settings.posterior_half_life_hours), encoding="utf-8")
    _print(console, data)
    console.print(Text(f"wrote {page} and {len(images)} PNG charts beside it"))
    return page


def _returns_table(title: str, rows: list[PeriodReturn]) -> Table:
    table = Table(title=title)
    for heading in ("period", "agent", "buy & hold"):
        table.add_column(heading, justify="left" if heading == "period" else "right")
    for row in rows:
        table.add_row(row.label, formats.pct(row.agent), formats.pct(row.hold))
    return table


def _print(console: Console, data: ReportData) -> None:
    table = Table(title=f"evaluation of {data.overview.run.run_id}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in headline(data):
        table.add_row(key, value)
    console.print(table)
    console.print(_returns_table("monthly returns", period_returns(data.marks, "month")))
    arms = Table(title="strategy families (arms)", box=box.SIMPLE_HEAD, padding=(0, 1))
    for heading in ("arm", "tried", "mean outcome", "posterior", "95% interval"):
        arms.add_column(heading, justify="right" if heading != "arm" else "left")
    for a in data.arms:
        arms.add_row(
            Text(a.label),
            formats.count(a.experiments),
            formats.bp(a.mean_outcome),
            formats.bp(a.posterior_mean),
            f"{a.low * 1e4:+.1f} … {a.high * 1e4:+.1f} bp",
        )
    console.print(arms)
