"""The research loop's one entry point: what the Planner is shown, the weekly evaluation, a
cycle's proposal recorded as an experiment, and the experiments that came due measured.

The lab knows the arms, how a proposal becomes an experiment (the strategy it followed, the
exposure it leaves, its horizon), the trading costs and the posteriors' half-life; the loop that
calls it knows none of them. Its writes go to the cycle's audit buffer, committed with the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from autotrader.config import Settings
from autotrader.db import AuditBuffer, Database
from autotrader.exchange.base import MarketData
from autotrader.research.arms import ARM_PRESETS, arm_of, best_arm
from autotrader.research.evaluation import evaluate_week, evaluation_due, latest_evaluation
from autotrader.research.outcomes import due_outcomes
from autotrader.research.posteriors import Posterior
from autotrader.research.store import (
    NewExperiment,
    apply_outcomes,
    read_posteriors,
    write_experiment,
)
from autotrader.schemas import Plan, Proposal, Strategy, significant, to_payload

# The position each proposal leaves: long after a BUY, flat after a SELL; a HOLD keeps it.
EXPOSURE_AFTER = {"BUY": 1.0, "SELL": 0.0}


@dataclass(frozen=True)
class ResearchView:
    """Every arm's posterior as of one cycle, and the arm that exploiting them means."""

    posteriors: dict[str, Posterior]
    best: str

    def arms(self) -> dict[str, dict[str, Any]]:
        """What the Planner reads, compactly: per arm, its preset parameters and its posterior
        over the net return per experiment (mean, its sd, the evidence weight and count; the
        posterior follows from them, see Posterior.from_summary)."""
        view: dict[str, dict[str, Any]] = {}
        for arm, p in self.posteriors.items():
            preset = ARM_PRESETS.get(arm)
            view[arm] = {
                "params": to_payload(preset)["params"] if preset else None,
                "mean": significant(p.mean, 6),
                "sd": significant(p.mean_sd, 6),
                "weight": significant(p.weight, 6),
                "count": p.count,
            }
        return view


@dataclass(frozen=True)
class Recorded:
    """What a cycle tried: the arm of the strategy its proposal followed, and whether that was
    exploration (not the arm with the best posterior mean). Stored alike in cycles and
    experiments."""

    arm: str
    explore: bool


def followed_strategy(plan: Plan, proposal: Proposal) -> Strategy:
    """The plan's strategy whose policy the proposal names (else the plan's first)."""
    return next(
        (s for s in plan.strategies if s.policy_id == proposal.policy_id), plan.strategies[0]
    )


class Lab:
    def __init__(
        self,
        db: Database,
        market: MarketData,
        settings: Settings,
        *,
        run_id: str,
        scope: str,
        run_start: datetime,
    ) -> None:
        self._db = db
        self._market = market
        self._settings = settings
        self._run_id = run_id
        self._scope = scope
        self._run_start = run_start
        self._evaluation = latest_evaluation(db, scope)

    def view(self, now: datetime) -> ResearchView:
        posteriors = read_posteriors(self._db, self._scope, now, self._settings.half_life_secs)
        best = best_arm(
            {arm: p.mean for arm, p in posteriors.items()},
            {arm: p.count for arm, p in posteriors.items()},
        )
        return ResearchView(posteriors, best)

    def weekly(self, audit: AuditBuffer, now: datetime) -> dict[str, Any] | None:
        """The latest weekly evaluation, after running a new one when a week has passed (noted
        with the cycle's commit)."""
        if evaluation_due(self._evaluation, now, self._run_start):
            self._evaluation = evaluate_week(
                self._db,
                audit,
                run_id=self._run_id,
                scope=self._scope,
                now=now,
                run_start=self._run_start,
                latest=self._evaluation,
                half_life_secs=self._settings.half_life_secs,
            )
        return self._evaluation

    def tried(self, view: ResearchView, plan: Plan, proposal: Proposal) -> Recorded:
        """What a cycle tries: the arm its proposal follows, and whether that explores."""
        arm = arm_of(followed_strategy(plan, proposal))
        return Recorded(arm, arm != view.best)

    def record(
        self,
        audit: AuditBuffer,
        tried: Recorded,
        *,
        trace_id: str,
        now: datetime,
        price: Decimal,
        plan: Plan,
        proposal: Proposal,
        executed: bool,
        long_now: bool,
        teaches: bool,
    ) -> None:
        """Record the proposal as an experiment of the strategy it followed (unless it is a
        fallback, which teaches nothing)."""
        if not teaches:
            return
        strategy = followed_strategy(plan, proposal)
        horizon = timedelta(
            seconds=self._settings.timeframe_seconds * self._settings.experiment_horizon_candles
        )
        write_experiment(
            audit,
            NewExperiment(
                id="exp_" + trace_id.removeprefix("trace_")[:24],
                scope=self._scope,
                trace_id=trace_id,
                policy_id=proposal.policy_id,
                arm=tried.arm,
                params=to_payload(strategy)["params"],
                hypothesis=proposal.hypothesis,
                confidence=proposal.confidence,
                explore=tried.explore,
                action=proposal.action,
                exposure=EXPOSURE_AFTER.get(proposal.action, float(long_now)),
                qty=proposal.quantity,
                executed=executed,
                entry_ts=now,
                entry_price=price,
                due_ts=now + horizon,
            ),
        )

    def measure(self, audit: AuditBuffer, now: datetime) -> None:
        """Outcomes due by now, folded into the posteriors with the cycle's commit (the next
        Planner sees them)."""
        settings = self._settings
        outcomes = due_outcomes(
            self._db,
            self._market,
            scope=self._scope,
            timeframe=settings.timeframe,
            step_ms=settings.timeframe_seconds * 1000,
            now=now,
            one_way_cost=float(settings.fee_rate + settings.slippage),
        )
        if outcomes:
            audit.then(
                partial(
                    apply_outcomes,
                    outcomes=outcomes,
                    now=now,
                    half_life_secs=settings.half_life_secs,
                )
            )
