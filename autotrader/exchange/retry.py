"""How often and how patiently a call to an exchange is retried: the policy only, with no CCXT
import, so the paper path and the trade tool can name one without loading CCXT."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import wait_exponential_jitter


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 8.0
    # How a wait passes: real time, or (a test on a simulated clock) advancing that clock, so
    # back-off and Retry-After are honoured in simulated time without sleeping.
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def wait(self) -> wait_exponential_jitter:
        """Exponential backoff with jitter as large as the first wait (none when it is 0)."""
        return wait_exponential_jitter(
            multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait
        )
