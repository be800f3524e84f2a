"""The weekly evaluator: every 7 days of (simulated or real) time, summarise the week and keep
the summary in memory, where the Planner reads the latest one."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from autotrader.db import Database, Sink
from autotrader.db.models import Experiment, PortfolioSnapshot, Trade
from autotrader.research.arms import best_arm
from autotrader.research.metrics import max_drawdown
from autotrader.research.store import read_posteriors
from autotrader.tools.memory import note, recall

WEEK = timedelta(days=7)


def evaluation_key(scope: str) -> str:
    return f"weekly_evaluation:{scope}"


def week_summary(
    db: Database, *, run_id: str, scope: str, start: datetime, end: datetime, half_life_secs: float
) -> dict[str, Any]:
    with db.session() as session:
        snapshots = session.exec(
            select(PortfolioSnapshot)
            .where(
                PortfolioSnapshot.run_id == run_id,
                col(PortfolioSnapshot.ts_utc) >= start,
                col(PortfolioSnapshot.ts_utc) <= end,
            )
            .order_by(col(PortfolioSnapshot.id))
        ).all()
        trades = session.exec(
            select(Trade.id).where(
                Trade.run_id == run_id, col(Trade.ts_utc) >= start, col(Trade.ts_utc) <= end
            )
        ).all()
        measured = session.exec(
            select(Experiment.arm, Experiment.reward).where(
                Experiment.scope == scope,
                Experiment.status == "MEASURED",
                col(Experiment.measured_ts) >= start,
                col(Experiment.measured_ts) <= end,
            )
        ).all()
    rewards: dict[str, list[float]] = defaultdict(list)
    for arm, reward in measured:
        rewards[arm].append(reward or 0.0)
    equity = [float(s.equity) for s in snapshots if s.equity is not None]
    prices = [float(s.price) for s in snapshots if s.price is not None]
    posteriors = read_posteriors(db, scope, end, half_life_secs)
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "return": equity[-1] / equity[0] - 1 if len(equity) > 1 else None,
        "buy_and_hold": prices[-1] / prices[0] - 1 if len(prices) > 1 else None,
        "max_drawdown": max_drawdown(equity),
        "trades": len(trades),
        "arms": {
            arm: {"experiments": len(values), "mean_reward": sum(values) / len(values)}
            for arm, values in sorted(rewards.items())
        },
        "best_arm_by_posterior": best_arm(
            {arm: p.mean for arm, p in posteriors.items()},
            {arm: p.count for arm, p in posteriors.items()},
        ),
    }


def latest_evaluation(db: Database, scope: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = recall(db, evaluation_key(scope))
    return found


def period_start(latest: dict[str, Any] | None, run_start: datetime) -> datetime:
    """Where the next evaluation's week begins: the last one's end, or the run's start."""
    return datetime.fromisoformat(latest["period_end"]) if latest else run_start


def evaluation_due(latest: dict[str, Any] | None, now: datetime, run_start: datetime) -> bool:
    return now - period_start(latest, run_start) >= WEEK


def evaluate_week(
    db: Database,
    sink: Sink,
    *,
    run_id: str,
    scope: str,
    now: datetime,
    run_start: datetime,
    latest: dict[str, Any] | None,
    half_life_secs: float,
) -> dict[str, Any]:
    """Summarise the week since the last evaluation and note it in memory (through `sink`: a
    cycle's buffer, so it is committed with the cycle that ran it)."""
    start = period_start(latest, run_start)
    summary = week_summary(
        db, run_id=run_id, scope=scope, start=start, end=now, half_life_secs=half_life_secs
    )
    note(sink, evaluation_key(scope), summary, now)
    return summary
