"""The arms the agent learns about: a strategy family in one parameter bucket.

Each arm has a preset (what the offline planner plays) and any parameters an LLM planner picks
fall into one bucket by simple thresholds, so its experiments teach the same posteriors.
"""

from __future__ import annotations

from autotrader.schemas import (
    Breakout,
    BreakoutParams,
    Hold,
    HoldParams,
    MaCrossover,
    MaCrossoverParams,
    RsiMeanReversion,
    RsiMeanReversionParams,
    Strategy,
)

ARM_PRESETS: dict[str, Strategy] = {
    "rsi_mean_reversion:tight": RsiMeanReversion(
        policy_id="rsi_mean_reversion",
        params=RsiMeanReversionParams(period=14, oversold=30, overbought=70),
    ),
    "rsi_mean_reversion:wide": RsiMeanReversion(
        policy_id="rsi_mean_reversion",
        params=RsiMeanReversionParams(period=14, oversold=20, overbought=80),
    ),
    "ma_crossover:fast": MaCrossover(
        policy_id="ma_crossover", params=MaCrossoverParams(fast=5, slow=20)
    ),
    "ma_crossover:slow": MaCrossover(
        policy_id="ma_crossover", params=MaCrossoverParams(fast=20, slow=50)
    ),
    "breakout:short": Breakout(policy_id="breakout", params=BreakoutParams(lookback=20)),
    "breakout:long": Breakout(policy_id="breakout", params=BreakoutParams(lookback=60)),
    "hold": Hold(policy_id="hold", params=HoldParams()),
}


def arm_of(strategy: Strategy) -> str:
    """The bucket a strategy's parameters fall in (presets map to their own arm)."""
    match strategy:
        case RsiMeanReversion(params=params):
            wide = params.oversold <= 25 or params.overbought >= 75
            return "rsi_mean_reversion:wide" if wide else "rsi_mean_reversion:tight"
        case MaCrossover(params=params):
            return "ma_crossover:fast" if params.slow <= 30 else "ma_crossover:slow"
        case Breakout(params=params):
            return "breakout:short" if params.lookback <= 40 else "breakout:long"
        case Hold():
            return "hold"
    raise ValueError(f"unknown strategy {strategy!r}")


def family_of(arm: str) -> str:
    return arm.split(":", 1)[0]


def best_arm(means: dict[str, float], counts: dict[str, int]) -> str:
    """The arm to exploit: highest posterior mean; ties go to the arm with less evidence."""
    return min(means, key=lambda arm: (-means[arm], counts.get(arm, 0), arm))
