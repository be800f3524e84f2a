"""Memory: experiments are recorded, measured once, and posteriors come from running sums."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from autotrader.db import Database
from autotrader.research.arms import ARM_PRESETS
from autotrader.research.store import (
    MeasuredOutcome,
    NewExperiment,
    due_experiments,
    read_posteriors,
    write_experiment,
)
from autotrader.tools.memory import note, recall
from tests.helpers import record_outcomes

T0 = datetime(2025, 9, 6, tzinfo=UTC)
DAY = 86_400.0


def _experiment(n: int, arm: str = "breakout:20") -> NewExperiment:
    at = T0 + timedelta(minutes=5 * n)
    return NewExperiment(
        id=f"e{n}",
        scope="run1",
        trace_id=f"t{n}",
        policy_id=arm.split(":")[0],
        arm=arm,
        params={"lookback": 20},
        hypothesis="breakout continues",
        confidence=0.6,
        explore=False,
        action="BUY",
        exposure=1.0,
        qty=Decimal("0.001"),
        executed=True,
        entry_ts=at,
        entry_price=Decimal("110000"),
        due_ts=at + timedelta(minutes=15),
    )


def test_write_experiment_stores_it_open_and_notes_it_in_memory(db: Database) -> None:
    write_experiment(db, _experiment(1))
    [due] = due_experiments(db, "run1", T0 + timedelta(hours=1))
    assert (due.id, due.action, due.entry_price) == ("e1", "BUY", Decimal("110000"))
    noted = recall(db, "experiment:e1")
    assert noted is not None
    assert noted["arm"] == "breakout:20" and noted["qty"] == "0.001"


def test_an_experiment_is_not_due_before_its_horizon(db: Database) -> None:
    write_experiment(db, _experiment(1))
    assert due_experiments(db, "run1", T0 + timedelta(minutes=19)) == []


def test_record_outcome_counts_each_experiment_once(db: Database) -> None:
    write_experiment(db, _experiment(1))
    now = T0 + timedelta(minutes=20)
    outcome = MeasuredOutcome(
        "e1", "run1", "breakout:20", Decimal("110110"), 0.001, 0.0008, -0.0002
    )
    assert record_outcomes(db, [outcome], now=now, half_life_secs=DAY) == 1
    assert record_outcomes(db, [outcome], now=now, half_life_secs=DAY) == 0
    posterior = read_posteriors(db, "run1", now, DAY)["breakout:20"]
    assert posterior.count == 1
    assert posterior.weight == 1.0


def test_arms_without_evidence_read_as_the_prior(db: Database) -> None:
    posteriors = read_posteriors(db, "run1", T0, DAY)
    assert set(posteriors) == set(ARM_PRESETS)
    assert all(p.count == 0 and p.mean == 0.0 for p in posteriors.values())


@contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, int]]]:
    """Every read the block makes, with the number of rows it returned."""
    seen: list[tuple[str, int]] = []
    original = db.read

    def spy(statement: Any, **params: Any) -> list[tuple[Any, ...]]:
        rows = original(statement, **params)
        seen.append((str(statement), len(rows)))
        return rows

    db.read = spy  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        db.read = original  # type: ignore[method-assign]


def test_read_posteriors_cost_does_not_grow_with_stored_experiments(db: Database) -> None:
    def measured(count: int, start: int) -> None:
        for n in range(start, start + count):
            write_experiment(db, _experiment(n))
            outcome = MeasuredOutcome(f"e{n}", "run1", "breakout:20", Decimal(1), 0.0, 0.001, 0.0)
            record_outcomes(db, [outcome], now=T0 + timedelta(hours=n), half_life_secs=DAY)

    measured(5, 0)
    with _statements(db) as few:
        read_posteriors(db, "run1", T0 + timedelta(days=30), DAY)
    measured(300, 5)
    with _statements(db) as many:
        read_posteriors(db, "run1", T0 + timedelta(days=30), DAY)
    assert few and few == many  # the same statements, each reading one aggregate row per arm


def test_a_note_and_recall_return_the_newest_note(db: Database) -> None:
    assert recall(db, "weekly_eval") is None
    note(db, "weekly_eval", {"week": 1}, T0)
    note(db, "weekly_eval", {"week": 2}, T0 + timedelta(days=7))
    assert recall(db, "weekly_eval") == {"week": 2}
    assert json.dumps(recall(db, "weekly_eval"))
