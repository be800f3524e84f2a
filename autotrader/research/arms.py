"""The arms the agent learns about: a strategy family in one parameter bucket.

Each arm has a preset (what the offline planner plays) and any parameters an LLM planner picks
fall into one bucket by simple thresholds, so its experiments teach the same posteriors. A key
names what its preset does (`breakout:60` buys a break of the 60-candle high; `cash` holds no
position: the seed's `hold` policy, read as "hold cash"); `arm_label` and `arm_short` say it for
a reader (every family is long or flat: the bot never sells short).
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
    "rsi_mean_reversion:30-70": RsiMeanReversion(
        policy_id="rsi_mean_reversion",
        params=RsiMeanReversionParams(period=14, oversold=30, overbought=70),
    ),
    "rsi_mean_reversion:20-80": RsiMeanReversion(
        policy_id="rsi_mean_reversion",
        params=RsiMeanReversionParams(period=14, oversold=20, overbought=80),
    ),
    "ma_crossover:5-20": MaCrossover(
        policy_id="ma_crossover", params=MaCrossoverParams(fast=5, slow=20)
    ),
    "ma_crossover:20-50": MaCrossover(
        policy_id="ma_crossover", params=MaCrossoverParams(fast=20, slow=50)
    ),
    "breakout:20": Breakout(policy_id="breakout", params=BreakoutParams(lookback=20)),
    "breakout:60": Breakout(policy_id="breakout", params=BreakoutParams(lookback=60)),
    "cash": Hold(policy_id="hold", params=HoldParams()),
}
# The keys arms were stored under before they were named by what they do (migration 8).
RENAMED = {
    "rsi_mean_reversion:tight": "rsi_mean_reversion:30-70",
    "rsi_mean_reversion:wide": "rsi_mean_reversion:20-80",
    "ma_crossover:fast": "ma_crossover:5-20",
    "ma_crossover:slow": "ma_crossover:20-50",
    "breakout:short": "breakout:20",
    "breakout:long": "breakout:60",
    "hold": "cash",
}


def arm_of(strategy: Strategy) -> str:
    """The bucket a strategy's parameters fall in (presets map to their own arm)."""
    match strategy:
        case RsiMeanReversion(params=params):
            wide = params.oversold <= 25 or params.overbought >= 75
            return "rsi_mean_reversion:20-80" if wide else "rsi_mean_reversion:30-70"
        case MaCrossover(params=params):
            return "ma_crossover:5-20" if params.slow <= 30 else "ma_crossover:20-50"
        case Breakout(params=params):
            return "breakout:20" if params.lookback <= 40 else "breakout:60"
        case Hold():
            return "cash"
    raise ValueError(f"unknown strategy {strategy!r}")


def family_of(arm: str) -> str:
    """The policy_id an arm's strategies carry (`cash` is the seed's `hold` policy)."""
    preset = ARM_PRESETS.get(arm)
    return preset.policy_id if preset is not None else arm.split(":", 1)[0]


def best_arm(means: dict[str, float], counts: dict[str, int]) -> str:
    """The arm to exploit: highest posterior mean; ties go to the arm with less evidence."""
    return min(means, key=lambda arm: (-means[arm], counts.get(arm, 0), arm))


def arm_label(arm: str) -> str:
    """What the arm does, in words: `breakout:short` -> 'breakout above the 20-candle high
    (long only)'. An arm without a preset is shown by its key."""
    match ARM_PRESETS.get(arm):
        case RsiMeanReversion(params=p):
            return (
                f"RSI({p.period}) mean reversion: buy below {p.oversold:g}, "
                f"sell above {p.overbought:g}"
            )
        case MaCrossover(params=p):
            return f"MA {p.fast}/{p.slow} crossover: long while MA{p.fast} > MA{p.slow}"
        case Breakout(params=p):
            return f"breakout above the {p.lookback}-candle high (long only)"
        case Hold():
            return "cash: no position (sells what is held, never buys)"
    return arm


def arm_short(arm: str | None) -> str:
    """At most 9 characters for the console and narrow tables: 'RSI 30/70', 'break 20'."""
    match ARM_PRESETS.get(arm or ""):
        case RsiMeanReversion(params=p):
            return f"RSI {p.oversold:g}/{p.overbought:g}"
        case MaCrossover(params=p):
            return f"MA {p.fast}/{p.slow}"
        case Breakout(params=p):
            return f"break {p.lookback}"
        case Hold():
            return "cash"
    return (arm or "-")[:9]
