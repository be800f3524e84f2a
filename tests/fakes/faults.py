"""What goes wrong at the fake exchange, and when: a seeded schedule drawn request by request.

Every draw comes from one `random.Random(seed)` in the order requests arrive, so a storm on the
same seed is the same storm. A fault either stops a request before the exchange sees it, or (an
order POST only) lets the order execute and then loses or garbles the answer, as Binance's own
"execution status unknown" errors do. Maintenance windows answer 503 to everything for a span of
simulated time; lookups of an order that lags answer -2013 until it becomes visible.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Every kind, as the storm's table names them.
TIMEOUT = "timeout before acceptance"
DROP = "connection drop before acceptance"
TIMEOUT_AFTER = "timeout after acceptance"
DROP_AFTER = "connection drop after acceptance"
HTTP_500, HTTP_502, HTTP_503, HTTP_504 = "HTTP 500", "HTTP 502", "HTTP 503", "HTTP 504"
HTTP_429, HTTP_418 = "HTTP 429 + Retry-After", "HTTP 418 + Retry-After"
CODE_1000, CODE_1006, CODE_1007 = "-1000 UNKNOWN", "-1006 UNEXPECTED_RESP", "-1007 TIMEOUT"
CODE_1021 = "-1021 INVALID_TIMESTAMP"
LAG_2013 = "-2013 on a lagging lookup"
MAINTENANCE = "maintenance 503"

# Binance documents these as "execution status unknown": an order may or may not have executed.
MAYBE_EXECUTED = frozenset({HTTP_500, HTTP_504, CODE_1000, CODE_1006, CODE_1007})
EXECUTED = frozenset({TIMEOUT_AFTER, DROP_AFTER})
PUBLIC_KINDS = (TIMEOUT, DROP, HTTP_500, HTTP_502, HTTP_503, HTTP_504, HTTP_429, HTTP_418)
SIGNED_KINDS = (*PUBLIC_KINDS, CODE_1000, CODE_1007, CODE_1021)
ORDER_KINDS = (*SIGNED_KINDS, TIMEOUT_AFTER, DROP_AFTER, CODE_1006)
ORDER_POST = "POST /api/v3/order"


@dataclass(frozen=True)
class Fault:
    kind: str
    executes: bool = False  # an order POST: executed before the answer is lost
    retry_after: int | None = None  # seconds, on 429 and 418


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass
class FaultPlan:
    """The schedule. `rate` is the chance that a request fails, `order_rate` that an order POST
    does; `lagging` the chance that an executed order's lookups lag (half of them past what the
    trade tool's bounded lookups wait, by default)."""

    seed: int
    rate: float = 0.15
    order_rate: float = 0.6
    lagging: float = 0.5
    long_lags: float = 0.5  # of the lagging orders, those that lag past the trade tool's lookups
    maintenance: tuple[Window, ...] = ()
    enabled: bool = True
    # Scripted, before anything is drawn: the faults of the first requests to an endpoint
    # (keyed "POST /api/v3/order"; None: no fault), and the first executions' lags.
    script: dict[str, list[Fault | None]] = field(default_factory=dict)
    lag_script: list[float] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    on_orders: int = 0  # of them, faults on an order POST

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @classmethod
    def quiet(
        cls,
        script: dict[str, list[Fault | None]] | None = None,
        lag_script: list[float] | None = None,
    ) -> FaultPlan:
        """No drawn faults: only what `script` and `lag_script` say."""
        return cls(
            0, rate=0, order_rate=0, lagging=0, script=script or {}, lag_script=lag_script or []
        )

    @classmethod
    def with_maintenance(
        cls,
        seed: int,
        start: datetime,
        hours: float,
        windows: int,
        *,
        rate: float,
        order_rate: float,
    ) -> FaultPlan:
        """A plan with `windows` maintenance spans of 10 to 40 minutes placed at random in
        `hours` from `start`."""
        draw = random.Random(seed * 7919 + 1)
        spans = []
        for _ in range(windows):
            begin = start + timedelta(seconds=draw.uniform(0, hours * 3600))
            spans.append(Window(begin, begin + timedelta(minutes=draw.uniform(10, 40))))
        maintenance = tuple(sorted(spans, key=lambda w: w.start))
        return cls(seed, rate=rate, order_rate=order_rate, maintenance=maintenance)

    def draw(self, endpoint: str, *, signed: bool, now: datetime) -> Fault | None:
        """The fault for one request to `endpoint` ("POST /api/v3/order") at `now`, or None."""
        if not self.enabled:
            return None
        if any(now in window for window in self.maintenance):
            return self.count(Fault(MAINTENANCE))
        order = endpoint == ORDER_POST
        if self.script.get(endpoint):
            fault = self.script[endpoint].pop(0)
        elif self._random.random() >= (self.order_rate if order else self.rate):
            return None
        else:
            fault = self._drawn(order=order, signed=signed)
        if fault is not None:
            self.on_orders += order
            self.count(fault)
        return fault

    def _drawn(self, *, order: bool, signed: bool) -> Fault:
        kinds = ORDER_KINDS if order else SIGNED_KINDS if signed else PUBLIC_KINDS
        kind = self._random.choice(kinds)
        executes = order and (
            kind in EXECUTED or (kind in MAYBE_EXECUTED and self._random.random() < 0.5)
        )
        retry_after = {HTTP_429: (1, 10), HTTP_418: (30, 120)}.get(kind)
        wait = self._random.randint(*retry_after) if retry_after else None
        return Fault(kind, executes, wait)

    def lag_secs(self) -> float:
        """How long a newly executed order stays invisible to lookups (seconds)."""
        if self.lag_script:
            return self.lag_script.pop(0)
        if not self.enabled or self._random.random() >= self.lagging:
            return 0.0
        if self._random.random() >= self.long_lags:
            return self._random.uniform(0.5, 3.0)  # within the trade tool's lookups
        return self._random.uniform(20.0, 180.0)  # past them: left UNKNOWN, resolved later

    def count(self, fault: Fault) -> Fault:
        self.counts[fault.kind] += 1
        return fault

    @property
    def total(self) -> int:
        return sum(self.counts.values())
