"""The research loop's one entry point: what the Planner is shown, the weekly evaluation, a
cycle's proposal recorded as an experiment, and the experiments that came due measured.

The lab knows the arms, how a proposal becomes an experiment (the strategy it followed, the
exposure it leaves, its horizon), the trading costs and the posteriors' half-life; the loop that
calls it knows none of them. Its writes go to the cycle's audit buffer, committed with the cycle.

What the Planner is shown comes from the shadow research (research/shadow.py): every arm run on
the closed candles, its positions' net rewards by regime, advanced at the end of each cycle. The
proposals' own experiments are still measured after their horizon (what was really traded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import col

from autotrader.clock import to_ms
from autotrader.config import Settings
from autotrader.db import AuditBuffer, Database
from autotrader.db.models import Experiment
from autotrader.exchange.base import MarketData
from autotrader.exchange.feeds import price_of
from autotrader.research.arms import ARM_PRESETS, arm_of
from autotrader.research.choice import BY_REGIME, CASH, Estimate, choose, estimates
from autotrader.research.costs import CostModel, read_cost_model
from autotrader.research.evaluation import evaluate_week, evaluation_due, latest_evaluation
from autotrader.research.outcomes import due_outcomes
from autotrader.research.regime import REGIME_CANDLES, REGIMES, regime_of
from autotrader.research.shadow import advance, candles_to_read
from autotrader.research.shadow_store import (
    ShadowUpdate,
    read_books,
    read_cells,
    with_open_positions,
)
from autotrader.research.store import (
    NewExperiment,
    apply_outcomes,
    write_experiment,
)
from autotrader.schemas import Plan, Proposal, Strategy, significant, to_payload

# The position each proposal leaves: long after a BUY, flat after a SELL; a HOLD keeps it.
EXPOSURE_AFTER = {"BUY": 1.0, "SELL": 0.0}


# The newest executed proposal of a scope: a BUY that was no probe means its arm holds the open
# position (a probe's position is the smallest order, not the arm's); its time is the last trade.
# Ordered by created_ts, which write_experiment sets to entry_ts: the partial index
# ix_experiments_executed (scope, created_ts of executed rows) finds it in one step, where a
# sort of every experiment of the scope (2.2 ms a cycle at 4,000 of them) or a walk back over
# every HOLD since the last trade grew with the run.
LAST_EXECUTED = (
    select_columns(
        col(Experiment.arm),
        col(Experiment.action),
        col(Experiment.explore),
        col(Experiment.created_ts),
    )
    .where(col(Experiment.scope) == bindparam("scope"), col(Experiment.executed))
    .order_by(col(Experiment.created_ts).desc())
    .limit(1)
)
TOP_ARMS = 3  # per regime, what the brief lists


def _summary(e: Estimate) -> dict[str, Any]:
    return {
        "mean": significant(e.mean, 4),
        "sd": significant(e.sd, 4),
        "n": e.count,
        "n_all": e.pooled,
    }


# A row of the brief's research.regimes: the arm, then its summary's fields in their order.
REGIME_COLUMNS = ["arm", *_summary(Estimate(0.0, 0.0, 0, 0))]


@dataclass(frozen=True)
class ResearchView:
    """The shadow research as of one cycle: the current regime, every arm's estimate the choice
    reads (over all regimes unless BY_REGIME) and its estimate in each regime, the arm holding
    the open position, the arms a plan should list, the hours since the account last traded
    (None: never in this scope) and the cost model the research charged."""

    regime: str | None
    current: dict[str, Estimate]
    by_regime: dict[str, dict[str, Estimate]]
    holding: str | None
    chosen: list[str]
    hours_since_trade: float | None
    costs: CostModel

    @property
    def best(self) -> str:
        return self.chosen[0]

    def arms(self) -> dict[str, dict[str, Any]]:
        """Per arm, its preset parameters and the expected net reward per position the choice
        reads (mean, sd; positions behind it, and in all regimes if the choice reads the current
        regime's cell: otherwise the two counts are one)."""
        view: dict[str, dict[str, Any]] = {}
        for arm, e in self.current.items():
            preset = ARM_PRESETS.get(arm)
            summary = _summary(e)
            if not BY_REGIME:
                del summary["n_all"]
            view[arm] = {"params": to_payload(preset)["params"] if preset else None} | summary
        return view

    def state(self) -> dict[str, Any]:
        """The research state in few tokens: the regime, the arm holding the position, the arms
        this evidence picks, and per regime the top arms that have positions of their own there,
        each as one row of REGIME_COLUMNS (an arm without any is the pooled estimate `arms`
        already gives)."""
        regimes = {
            regime: [
                [arm, *_summary(e).values()]
                for arm, e in sorted(
                    ((a, e) for a, e in found.items() if a != CASH and e.count > 0),
                    key=lambda kv: -kv[1].mean,
                )[:TOP_ARMS]
            ]
            for regime, found in self.by_regime.items()
        }
        return {
            "regime": self.regime,
            "holding": self.holding,
            "picks": self.chosen,
            "hours_since_trade": self.hours_since_trade,
            "one_way_cost": float(self.costs.one_way),
            "costs": self.costs.view(),
            "regime_columns": REGIME_COLUMNS,
            "regimes": {r: arms for r, arms in regimes.items() if arms},
        }


@dataclass(frozen=True)
class Recorded:
    """What a cycle tried: the arm of the strategy its proposal followed, and whether that was
    exploration (a probe: see `is_probe`). Stored alike in cycles and experiments."""

    arm: str
    explore: bool


def is_probe(plan: Plan | None, pick: str) -> bool:
    """Whether a plan explores: it may (explore_ratio above 0) and its first arm is not the
    research's pick. A probe trades the smallest valid quantity: it learns the fills and costs
    the shadow research cannot, never the arm's signal."""
    return plan is not None and plan.explore_ratio > 0 and arm_of(plan.strategies[0]) != pick


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
        # Read again only after a fill: a cycle without one leaves the fills as they were (and
        # a resumed cycle's measure sees the costs the fills measured).
        self._costs = self._read_costs()
        self._costs_stale = False

    def _read_costs(self) -> CostModel:
        settings = self._settings
        return read_cost_model(
            self._db, self._scope, settings.symbol, settings.fee_rate, settings.slippage
        )

    def view(self, now: datetime) -> ResearchView:
        settings = self._settings
        if self._costs_stale:
            self._costs, self._costs_stale = self._read_costs(), False
        candles = self._market.ohlcv(settings.timeframe, REGIME_CANDLES)
        regime = regime_of([c.close for c in candles])
        cells = with_open_positions(
            read_cells(self._db, self._scope),
            read_books(self._db, self._scope).values(),
            price_of(candles[-1].close) if candles else None,
            self._one_way_cost,
            now,
        )
        arms = list(ARM_PRESETS)
        current = estimates(cells, arms, regime if BY_REGIME else None)
        found = self._db.read(LAST_EXECUTED, scope=self._scope)
        holding = str(found[0][0]) if found and found[0][1:3] == ("BUY", False) else None
        since = (now - found[0][3]).total_seconds() / 3600 if found else None
        chosen = choose(current, holding=holding, one_way_cost=float(self._one_way_cost))
        by_regime = {r: estimates(cells, arms, r) for r in REGIMES}
        return ResearchView(
            regime,
            current,
            by_regime,
            holding,
            chosen,
            None if since is None else round(since, 1),
            self._costs,
        )

    @property
    def _one_way_cost(self) -> Decimal:
        """What a side costs, as the fills measured it this cycle (research/costs.py)."""
        return self._costs.one_way

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
        """What a cycle tries: the arm its proposal follows, and whether that explores (a
        probe, sized as one: an arm the research picked keeps its full size whichever of the
        plan's arms the Trader followed)."""
        return Recorded(arm_of(followed_strategy(plan, proposal)), is_probe(plan, view.best))

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
        if executed:  # a fill: the next view reads the cost model again
            self._costs_stale = True
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
        """Outcomes due by now, folded into the posteriors, and the shadow books moved over the
        candles closed by now, with the cycle's commit (the next Planner sees them)."""
        settings = self._settings
        self._advance_shadow(audit, now)
        outcomes = due_outcomes(
            self._db,
            self._market,
            scope=self._scope,
            timeframe=settings.timeframe,
            step_ms=settings.timeframe_seconds * 1000,
            now=now,
            one_way_cost=float(self._one_way_cost),
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

    def _advance_shadow(self, audit: AuditBuffer, now: datetime) -> None:
        settings = self._settings
        books = read_books(self._db, self._scope)
        step_ms, now_ms = settings.timeframe_seconds * 1000, to_ms(now)
        strategies = {arm: s for arm, s in ARM_PRESETS.items() if arm != CASH}
        known = [books.get(arm) for arm in strategies]
        wanted = candles_to_read(
            [b for b in known if b is not None] if None not in known else [],
            now_ms,
            step_ms,
            settings.ohlcv_limit,
        )
        candles = self._market.ohlcv(settings.timeframe, wanted)
        moved, positions = advance(
            books,
            strategies,
            candles,
            now_ms=now_ms,
            step_ms=step_ms,
            window=settings.ohlcv_limit,
            one_way_cost=self._one_way_cost,
        )
        if moved == books:
            return
        update = ShadowUpdate(self._scope, moved, positions, now)
        update.stage(audit)
        audit.then(update)
