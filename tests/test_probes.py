"""Probes: the smallest real orders, until the cost model has its fills and then at most about one
round trip a day, only where a refresh can change a plan (an arm has an edge, or the charge is
above the configured cost), and never a label on a position the research picked (which keeps
its full size and its arm)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autotrader.agents.offline import PROBE_AFTER_HOURS, plan_decision
from autotrader.research.arms import ARM_PRESETS, arm_of
from autotrader.research.costs import COST_FILLS
from autotrader.research.lab import is_probe
from autotrader.schemas import Plan, to_payload
from tests.helpers import run_replay

EDGE_ARM = "breakout:20"  # the arm the briefs below give an edge, when they give one


def _brief(
    hours_since_trade: float | None,
    fills: int,
    now: str = "2025-09-20T00:00:00+00:00",
    *,
    edge: bool = True,
    charged: float = 0.0015,
) -> dict[str, Any]:
    """A flat Planner's brief where EDGE_ARM has an edge (its mean clears its sd) or, with
    `edge` False, no arm has one (the research picks cash); costs are configured at 0.15% a
    side and `charged` at that or above."""
    arms = {
        arm: {"params": to_payload(preset)["params"], "mean": 0.0, "sd": 0.001, "n": 5, "n_all": 9}
        for arm, preset in ARM_PRESETS.items()
    }
    if edge:
        arms[EDGE_ARM]["mean"] = 0.0015
    return {
        "now": now,
        "arms": arms,
        "research": {
            "holding": None,
            "one_way_cost": charged,
            "hours_since_trade": hours_since_trade,
            "costs": {"configured": 0.0015, "fills": fills},
        },
        "regime": {"vol_ratio": 1.0, "shock": 1.0},
        "timeframe_secs": 300,
    }


def _probes(
    hours_since_trade: float | None,
    fills: int = COST_FILLS,
    *,
    edge: bool = True,
    charged: float = 0.0015,
) -> int:
    """How many of a day of 5m plans probe (are led by an arm the research did not pick)."""
    pick = EDGE_ARM if edge else "cash"
    plans = [
        plan_decision(
            _brief(
                hours_since_trade,
                fills,
                f"2025-09-20T{h:02d}:{m:02d}:00+00:00",
                edge=edge,
                charged=charged,
            ),
            seed=1,
        )
        for h in range(24)
        for m in range(0, 60, 5)
    ]
    assert all(arm_of(plan.strategies[0]) == pick for plan in plans if plan.explore_ratio == 0)
    return sum(is_probe(plan, pick) for plan in plans)


def test_a_flat_planner_probes_only_after_a_day_without_a_trade() -> None:
    assert _probes(PROBE_AFTER_HOURS - 0.1) == 0
    assert _probes(PROBE_AFTER_HOURS) > 0 and _probes(None, fills=0) > 0


def test_a_planner_probes_until_the_cost_model_has_its_fills() -> None:
    assert _probes(0.5, fills=COST_FILLS - 1) > 0
    assert _probes(0.5, fills=COST_FILLS) == 0


def test_a_planner_in_cash_at_the_configured_cost_probes_only_for_its_first_fills() -> None:
    # Costs are never charged below the configured rate: a refresh cannot give an arm an edge.
    assert _probes(None, fills=COST_FILLS - 1, edge=False) > 0
    assert _probes(None, fills=COST_FILLS, edge=False) == 0
    assert _probes(PROBE_AFTER_HOURS, fills=COST_FILLS, edge=False) == 0


def test_a_planner_in_cash_probes_a_charge_above_the_configured_cost_after_a_day() -> None:
    # Dear fills priced every arm out; only fresh fills can bring the charge back down.
    assert _probes(PROBE_AFTER_HOURS, fills=COST_FILLS, edge=False, charged=0.003) > 0
    assert _probes(PROBE_AFTER_HOURS - 0.1, fills=COST_FILLS, edge=False, charged=0.003) == 0


def test_a_plan_led_by_the_research_pick_is_no_probe_whichever_arm_trades() -> None:
    picked, other = "rsi_mean_reversion:30-70", "ma_crossover:20-50"
    strategies = [to_payload(ARM_PRESETS[picked]), to_payload(ARM_PRESETS[other])]
    plan = Plan.model_validate(
        {
            "mode": "TRADE",
            "explore_ratio": 0.15,
            "next_wakeup_secs": 300,
            "strategies": strategies,
        }
    )
    assert arm_of(plan.strategies[1]) == other
    assert not is_probe(plan, picked)  # the Trader may follow the second arm at full size
    assert is_probe(plan, other)  # led by an arm the research did not pick
    assert not is_probe(plan.model_copy(update={"explore_ratio": 0.0}), other)


def test_a_replay_probes_among_its_first_fills(tmp_path: Path) -> None:
    db_path = tmp_path / "probes.db"
    # The rally to the October high: 24 fills in 72 hours, the cost model's 20 among them.
    code, _ = run_replay(db_path, hours=72, start=datetime(2025, 10, 1, tzinfo=UTC))
    assert code == 0
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT cycle_ts, explore FROM cycles WHERE executed = 1 ORDER BY cycle_ts"
        ).fetchall()
    probes = [i for i, (_, explore) in enumerate(rows) if explore]
    assert len(rows) > COST_FILLS and probes, "the replay probed for its cost model"
    # No day passes without a trade once it has its fills, so no probe comes after them.
    assert max(probes) < COST_FILLS
