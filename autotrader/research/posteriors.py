"""Normal-Inverse-Gamma posteriors over an arm's reward, from discounted running sums.

An arm keeps three exponentially discounted sums (weight, sum, sum of squares) and the time they
were last brought up to date; `decay` ages them by a half-life, `add` folds one reward in, and
`posterior` turns them into NIG parameters. Every operation is O(1) whatever the history length.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import datetime

# Prior: rewards are per-trade net returns (fractions, e.g. 0.002 = +0.2%). Centred on zero edge,
# worth one observation, with a prior spread of about 0.5% per trade.
PRIOR_MEAN = 0.0
PRIOR_KAPPA = 1.0
PRIOR_ALPHA = 2.0
PRIOR_BETA = 2.0 * 0.005**2


@dataclass(frozen=True)
class ArmStats:
    """Discounted sufficient statistics of one arm's rewards."""

    weight: float = 0.0
    total: float = 0.0
    total_sq: float = 0.0
    count: int = 0
    last_ts: datetime | None = None

    def decay(self, now: datetime, half_life_secs: float) -> ArmStats:
        """Age the evidence to `now`: each sum shrinks by 0.5 ** (elapsed / half_life)."""
        if self.last_ts is None:
            return replace(self, last_ts=now)
        elapsed = max(0.0, (now - self.last_ts).total_seconds())
        factor = 0.5 ** (elapsed / half_life_secs)
        return ArmStats(
            self.weight * factor, self.total * factor, self.total_sq * factor, self.count, now
        )

    def add(self, reward: float, now: datetime, half_life_secs: float) -> ArmStats:
        aged = self.decay(now, half_life_secs)
        return ArmStats(
            aged.weight + 1.0,
            aged.total + reward,
            aged.total_sq + reward * reward,
            aged.count + 1,
            now,
        )


@dataclass(frozen=True)
class Posterior:
    """NIG(mu, kappa, alpha, beta): the mean reward is Student-t around mu."""

    mu: float
    kappa: float
    alpha: float
    beta: float
    weight: float
    count: int

    @property
    def mean(self) -> float:
        return self.mu

    @property
    def mean_sd(self) -> float:
        """Standard deviation of the mean reward (the t scale times its variance factor)."""
        scale_sq = self.beta / (self.alpha * self.kappa)
        dof = 2.0 * self.alpha
        return math.sqrt(scale_sq * dof / (dof - 2.0)) if dof > 2 else math.inf

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """An approximate 95% interval for the mean reward."""
        spread = z * self.mean_sd
        return self.mu - spread, self.mu + spread

    @classmethod
    def from_summary(cls, mean: float, sd: float, weight: float, count: int) -> Posterior:
        """The posterior a summary (mean, its sd, the evidence weight) stands for: the inverse
        of `mean_sd` under this module's prior, so a brief need not carry the NIG itself."""
        kappa = PRIOR_KAPPA + weight
        alpha = PRIOR_ALPHA + weight / 2.0
        return cls(mean, kappa, alpha, sd * sd * kappa * (alpha - 1.0), weight, count)

    def sample_mean(self, rng: random.Random) -> float:
        """Thompson draw: sigma^2 ~ InvGamma(alpha, beta), then mean ~ N(mu, sigma^2 / kappa)."""
        variance = self.beta / rng.gammavariate(self.alpha, 1.0)
        return rng.gauss(self.mu, math.sqrt(variance / self.kappa))


def posterior(stats: ArmStats) -> Posterior:
    """Conjugate update of the prior with the (discounted) weighted sums."""
    weight = stats.weight
    kappa = PRIOR_KAPPA + weight
    mu = (PRIOR_KAPPA * PRIOR_MEAN + stats.total) / kappa
    if weight > 0:
        sample_mean = stats.total / weight
        within = max(0.0, stats.total_sq - stats.total * sample_mean)
        between = PRIOR_KAPPA * weight * (sample_mean - PRIOR_MEAN) ** 2 / kappa
    else:
        within = between = 0.0
    return Posterior(
        mu=mu,
        kappa=kappa,
        alpha=PRIOR_ALPHA + weight / 2.0,
        beta=PRIOR_BETA + 0.5 * (within + between),
        weight=weight,
        count=stats.count,
    )
