"""The arms as the Research page and the report show them: per arm its experiments, mean
outcome and posterior, the posterior over time (bounded), the weekly evaluations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autotrader.db import Database
from autotrader.research import queries
from autotrader.research.arms import arm_label
from autotrader.research.evaluation import evaluation_key
from autotrader.research.metrics import (
    MeasuredRow,
    PosteriorPoint,
    posterior_paths,
)
from autotrader.research.store import read_posteriors
from autotrader.research.views import utc_seconds

MAX_PATH_POINTS = 1000


@dataclass(frozen=True)
class ArmRow:
    arm: str
    label: str
    experiments: int
    explored: int
    measured: int
    mean_outcome: float | None
    posterior_mean: float
    low: float
    high: float
    evidence: int


def arm_rows(db: Database, scope: str, now: datetime, half_life_secs: float) -> list[ArmRow]:
    """Per arm, best posterior mean first: experiments, measured, mean outcome, posterior."""
    counts = queries.arm_counts(db, scope)
    rows = []
    for arm, post in read_posteriors(db, scope, now, half_life_secs).items():
        seen = counts.get(arm) or queries.ArmCounts(arm, 0, 0, 0, None)
        low, high = post.interval()
        rows.append(
            ArmRow(
                arm,
                arm_label(arm),
                seen.experiments,
                seen.explored,
                seen.measured,
                seen.mean_outcome,
                post.mean,
                low,
                high,
                post.count,
            )
        )
    return sorted(rows, key=lambda row: -row.posterior_mean)


def posterior_history(
    db: Database, scope: str, half_life_secs: float
) -> dict[str, list[PosteriorPoint]]:
    rows = [MeasuredRow(arm, reward, ts) for arm, reward, ts in queries.measured(db, scope)]
    paths = posterior_paths(rows, half_life_secs)
    return {arm: _thin_path(path, MAX_PATH_POINTS) for arm, path in sorted(paths.items())}


def _thin_path(path: list[PosteriorPoint], most: int) -> list[PosteriorPoint]:
    if len(path) <= most:
        return path
    stride = len(path) / most
    return [path[int(i * stride)] for i in range(most - 1)] + [path[-1]]


def posterior_json(paths: dict[str, list[PosteriorPoint]]) -> dict[str, Any]:
    """Per arm (with its label), [time, mean, low, high] in basis points."""
    return {
        arm: {
            "label": arm_label(arm),
            "points": [
                [
                    utc_seconds(p.ts),
                    round(p.mean * 1e4, 3),
                    round(p.low * 1e4, 3),
                    round(p.high * 1e4, 3),
                ]
                for p in path
            ],
        }
        for arm, path in paths.items()
    }


def weekly_evaluations(db: Database, scope: str) -> list[dict[str, Any]]:
    """The weekly evaluations the agent kept, oldest first."""
    return [value for _, value in queries.notes(db, evaluation_key(scope))]
