"""From the shadow evidence to the arm worth money now, or cash.

An arm's estimate in a regime is its mean reward per position in that regime's cell, shrunk
toward its mean over all regimes (worth up to SHRINK positions) and toward zero (the prior), so a
cell with little evidence borrows from the arm's whole record. The choice reads the pooled
estimate (BY_REGIME): on the walk-forward windows the cells' differences did not carry forward,
so they stay evidence for the brief and the reports, not the pick. Rewards are already net of both
sides' costs, so an arm has an edge when its estimate clears zero by EDGE_Z standard deviations
of that estimate: the expected edge beats the round trip. No arm with an edge means cash. The
no-trade band: while a position is open, the arm that opened it keeps it (its own rule exits
it, at its own pace) unless its estimate has fallen below minus one side's cost (closing now
costs that; a smaller doubt is not worth it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from autotrader.research.posteriors import PRIOR_KAPPA, ArmStats, posterior
from autotrader.research.regime import POOLED

CASH = "cash"
SHRINK = 5.0  # positions' worth of weight the pooled mean carries inside a regime cell
MIN_POSITIONS = 3  # an arm's pooled positions before its estimate may be trusted with money
EDGE_Z = 1.0  # an edge: estimate above zero by one sd (about 84% sure of a positive mean)
# Whether the choice reads the current regime's cell (True) or the arm's whole record (False).
# Measured on all 32 walk-forward windows x 3 seeds (README): the pooled record gave +0.56% a window
# against +0.31%, 53 of 96 jobs at or above the median arm against 51, and 13% less in fees.
BY_REGIME = False


@dataclass(frozen=True)
class Estimate:
    """An arm's expected net reward per position in one regime, its sd, and the evidence:
    positions in the cell (`count`) and in all regimes (`pooled`)."""

    mean: float
    sd: float
    count: int
    pooled: int

    @property
    def has_edge(self) -> bool:
        return self.pooled >= MIN_POSITIONS and self.mean - EDGE_Z * self.sd > 0


def estimate(cell: ArmStats | None, pooled: ArmStats | None) -> Estimate:
    """The cell's mean reward with the pooled mean standing in for up to SHRINK positions (and
    the prior's zero for PRIOR_KAPPA), and its sd: the pooled posterior's expected per-position
    spread over the square root of that evidence. The pooled cell given as both (the choice,
    unless BY_REGIME) borrows from itself: its sd reads as if up to SHRINK more positions stood
    behind it. Borrowing nothing there measured worse on the walk-forward windows (README)."""
    here, whole = cell or ArmStats(), pooled or ArmStats()
    pooled_post = posterior(whole)
    borrowed = min(SHRINK, whole.weight)
    evidence = PRIOR_KAPPA + here.weight + borrowed
    mean = (here.total + borrowed * pooled_post.mean) / evidence
    spread = math.sqrt(pooled_post.beta / (pooled_post.alpha - 1.0))
    return Estimate(mean, spread / math.sqrt(evidence), here.count, whole.count)


def estimates(
    cells: Mapping[tuple[str, str], ArmStats], arms: list[str], regime: str | None
) -> dict[str, Estimate]:
    """Every arm's estimate in `regime` (None: the pooled cell); cash is exactly 0."""
    where = regime or POOLED
    found = {
        arm: estimate(cells.get((arm, where)), cells.get((arm, POOLED)))
        for arm in arms
        if arm != CASH
    }
    return {**found, CASH: Estimate(0.0, 0.0, 0, 0)}


def choose(found: Mapping[str, Estimate], *, holding: str | None, one_way_cost: float) -> list[str]:
    """The arms for this cycle's plan, best first: the arm holding the open position while
    inside the band; else the arms with an edge, best estimate first; else cash."""
    if holding is not None and holding != CASH:
        kept = found.get(holding)
        if kept is not None and kept.mean > -one_way_cost:
            return [holding]
    ranked = sorted(
        (arm for arm, e in found.items() if arm != CASH and e.has_edge),
        key=lambda arm: (-found[arm].mean, arm),
    )
    return ranked or [CASH]
