"""`runner.py report`: an evaluation of one run, printed, and written as PNG charts plus one
self-contained HTML file (the charts embedded) in the output folder.

Every number comes from the run's own rows: portfolio snapshots (equity, price), trades,
experiments and posteriors. Nothing is recomputed from market data.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from autotrader.config import Settings, split_symbol
from autotrader.db import Database
from autotrader.db.models import Experiment, PortfolioSnapshot, Run, Trade
from autotrader.errors import ConfigError
from autotrader.research.metrics import (
    MeasuredRow,
    Point,
    TradeRow,
    annualised,
    drawdowns,
    hourly,
    max_drawdown,
    posterior_paths,
    returns_of,
    sharpe,
    sortino,
    win_rate,
)
from autotrader.research.store import read_posteriors
from autotrader.tools.ledger import quote_fee


@dataclass(frozen=True)
class ReportData:
    run: Run
    equity: list[Point]
    price: list[Point]
    trades: list[Trade]
    experiments: list[Experiment]


def load(db: Database, run_id: str | None) -> ReportData:
    with db.session() as session:
        query = select(Run).order_by(col(Run.started_at).desc())
        run = session.get(Run, run_id) if run_id else session.exec(query).first()
        if run is None:
            which = f"run {run_id}" if run_id else "run"
            raise ConfigError(f"no {which} in {db.path}; run the agent first or pass --run")
        snapshots = session.exec(
            select(PortfolioSnapshot)
            .where(PortfolioSnapshot.run_id == run.run_id)
            .order_by(col(PortfolioSnapshot.id))
        ).all()
        trades = session.exec(
            select(Trade).where(Trade.run_id == run.run_id).order_by(col(Trade.id))
        ).all()
        experiments = session.exec(
            select(Experiment)
            .where(Experiment.scope == run.scope)
            .order_by(col(Experiment.created_ts))
        ).all()
    equity = [Point(s.ts_utc, float(s.equity)) for s in snapshots if s.equity is not None]
    price = [Point(s.ts_utc, float(s.price)) for s in snapshots if s.price is not None]
    return ReportData(run, equity, price, list(trades), list(experiments))


def metrics(data: ReportData) -> dict[str, Any]:
    equity, price = data.equity, data.price
    if len(equity) < 2:
        raise ConfigError(
            f"run {data.run.run_id} has fewer than two portfolio snapshots; "
            "let it run longer before reporting"
        )
    total = equity[-1].value / equity[0].value - 1
    hold = price[-1].value / price[0].value - 1
    period = hourly(equity)
    period_returns = returns_of(period)
    wins, sells = win_rate(
        [
            TradeRow(t.side, t.qty, t.price, t.fee, t.fee_asset == split_symbol(t.symbol)[1])
            for t in data.trades
        ]
    )
    return {
        "run": data.run.run_id,
        "period": f"{equity[0].ts:%Y-%m-%d %H:%M} -> {equity[-1].ts:%Y-%m-%d %H:%M} UTC",
        "start_equity": equity[0].value,
        "final_equity": equity[-1].value,
        "total_return": total,
        "annualised_return": annualised(total, equity[0].ts, equity[-1].ts),
        "buy_and_hold_return": hold,
        "max_drawdown": max_drawdown(p.value for p in equity),
        "sharpe": sharpe(period_returns),
        "sortino": sortino(period_returns),
        "trades": len(data.trades),
        "round_trips_won": f"{wins}/{sells}",
        "win_rate": wins / sells if sells else None,
        "fees_paid": float(sum((quote_fee(t) for t in data.trades), Decimal(0))),
        "experiments": len(data.experiments),
        "measured": sum(e.status == "MEASURED" for e in data.experiments),
    }


def family_table(db: Database, data: ReportData, settings: Settings) -> list[dict[str, Any]]:
    """Per arm: experiments run and measured, mean outcome, posterior mean and 95% interval."""
    half_life = settings.half_life_secs
    end = data.equity[-1].ts  # metrics() has checked there are snapshots
    posteriors = read_posteriors(db, data.run.scope, end, half_life)
    rewards: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for experiment in data.experiments:
        counts[experiment.arm] += 1
        if experiment.reward is not None:
            rewards[experiment.arm].append(experiment.reward)
    rows = []
    for arm, post in sorted(posteriors.items(), key=lambda item: -item[1].mean):
        low, high = post.interval()
        measured = rewards.get(arm, [])
        rows.append(
            {
                "arm": arm,
                "experiments": counts.get(arm, 0),
                "measured": len(measured),
                "mean_outcome": sum(measured) / len(measured) if measured else None,
                "posterior_mean": post.mean,
                "interval": (low, high),
            }
        )
    return rows


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:+.{digits}%}"


def _times(points: list[Point]) -> list[datetime]:
    return [p.ts for p in points]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def charts(data: ReportData, settings: Settings) -> dict[str, bytes]:
    """PNG bytes per chart name."""
    out: dict[str, bytes] = {}
    start_equity, start_price = data.equity[0].value, data.price[0].value

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()

    def new(height: float) -> tuple[Figure, Any]:
        figure = Figure(figsize=(9, height))
        axis = figure.subplots()
        figure.autofmt_xdate()
        return figure, axis

    figure, axis = new(3.6)
    axis.plot(_times(data.equity), [p.value for p in data.equity], label="agent equity")
    axis.plot(
        _times(data.price),
        [start_equity * p.value / start_price for p in data.price],
        label="buy & hold",
        alpha=0.7,
    )
    axis.set_ylabel(f"{settings.quote_asset}")
    axis.set_title("Equity against buy & hold")
    axis.legend()
    out["equity"] = png(figure)

    figure, axis = new(2.6)
    dd = drawdowns(data.equity)
    axis.fill_between(_times(dd), [-p.value * 100 for p in dd], color="tab:red", alpha=0.5)
    axis.set_ylabel("% below peak")
    axis.set_title("Drawdown")
    out["drawdown"] = png(figure)

    measured = [
        MeasuredRow(e.arm, e.reward, e.measured_ts)
        for e in data.experiments
        if e.reward is not None and e.measured_ts is not None
    ]
    figure, axis = new(3.6)
    for arm, path in sorted(posterior_paths(measured, settings.half_life_secs).items()):
        axis.plot(_times(path), [p.value * 10_000 for p in path], label=arm)
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set_ylabel("posterior mean (bp per experiment)")
    axis.set_title("Posterior evolution by arm")
    axis.legend(fontsize=7, ncol=2)
    out["posteriors"] = png(figure)
    return out


def render_html(
    summary: dict[str, Any], families: list[dict[str, Any]], images: dict[str, bytes]
) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    family_rows = "".join(
        f"<tr><td>{html.escape(f['arm'])}</td><td>{f['experiments']}</td><td>{f['measured']}</td>"
        f"<td>{_pct(f['mean_outcome'], 3)}</td><td>{_pct(f['posterior_mean'], 3)}</td>"
        f"<td>{_pct(f['interval'][0], 3)} … {_pct(f['interval'][1], 3)}</td></tr>"
        for f in families
    )
    figures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        "</figure>"
        for name, data in images.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>autotrader report {html.escape(str(summary["run"]))}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;
text-align:right}}th{{text-align:left;background:#f5f5f5}}img{{max-width:100%}}</style>
</head><body><h1>autotrader: evaluation of {html.escape(str(summary["run"]))}</h1>
<table>{rows}</table><h2>Strategy families</h2>
<table><tr><th>arm</th><th>experiments</th><th>measured</th><th>mean outcome</th>
<th>posterior mean</th><th>95% interval</th></tr>{family_rows}</table>
<h2>Charts</h2>{figures}</body></html>"""


def write_report(settings: Settings, out_dir: Path, run_id: str | None, console: Console) -> Path:
    db = Database.open(settings.db_path)
    data = load(db, run_id)
    summary = metrics(data)
    families = family_table(db, data, settings)
    images = charts(data, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        (out_dir / f"{data.run.run_id}_{name}.png").write_bytes(image)
    page = out_dir / f"{data.run.run_id}_report.html"
    page.write_text(render_html(summary, families, images), encoding="utf-8")
    _print(console, summary, families)
    console.print(f"wrote {page} and {len(images)} PNG charts beside it")
    db.close()
    return page


def _print(console: Console, summary: dict[str, Any], families: list[dict[str, Any]]) -> None:
    table = Table(title=f"evaluation of {summary['run']}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    shown = {
        "period": summary["period"],
        "final equity": f"{summary['final_equity']:,.2f}",
        "total return": _pct(summary["total_return"]),
        "annualised return": _pct(summary["annualised_return"]),
        "buy & hold": _pct(summary["buy_and_hold_return"]),
        "max drawdown": f"{summary['max_drawdown']:.2%}",
        "Sharpe (hourly, annualised)": _num(summary["sharpe"]),
        "Sortino (hourly, annualised)": _num(summary["sortino"]),
        "trades": str(summary["trades"]),
        "win rate (sells)": "-"
        if summary["win_rate"] is None
        else f"{summary['win_rate']:.0%} ({summary['round_trips_won']})",
        "fees paid": f"{summary['fees_paid']:.2f}",
        "experiments (measured)": f"{summary['experiments']} ({summary['measured']})",
    }
    for key, value in shown.items():
        table.add_row(key, value)
    console.print(table)
    arms = Table(title="strategy families")
    for heading in ("arm", "experiments", "mean outcome", "posterior mean", "95% interval"):
        arms.add_column(heading, justify="right" if heading != "arm" else "left")
    for f in families:
        arms.add_row(
            f["arm"],
            str(f["experiments"]),
            _pct(f["mean_outcome"], 3),
            _pct(f["posterior_mean"], 3),
            f"{_pct(f['interval'][0], 3)} … {_pct(f['interval'][1], 3)}",
        )
    console.print(arms)
