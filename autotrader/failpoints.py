"""Named points in a cycle's life where a crash test makes the process die at once, to prove that
each stage survives a crash: persisted state is finished on restart, never decided again.

Inert unless the environment sets AUTOTRADER_FAILPOINT to `name` or `name:n` (die the n-th time
`name` is reached, counting from 1): then the process sends itself SIGKILL there, as a power cut
would. In-process tests may `arm` a point with an action of their own instead.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

ENVIRONMENT = "AUTOTRADER_FAILPOINT"
# Every point, in the order a cycle (or a boot) reaches them.
POINTS = (
    "migration",  # between two statements of a schema step
    "reconcile",  # inside boot reconciliation, after its first repair
    "decided",  # a trading cycle's decisions and intent are committed
    "sent",  # the order is marked sent, before the venue call
    "filled",  # the venue has filled it, nothing of the fill is booked yet
    "closing",  # the cycle's last rows are buffered, before their commit
    "closed",  # the cycle is committed
)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Failpoints:
    def __init__(self, spec: str) -> None:
        name, _, count = spec.partition(":")
        self._armed: dict[str, tuple[int, Callable[[], None]]] = {}
        self._seen: dict[str, int] = {}
        if name:
            self.arm(name, int(count or 1), _die)

    def arm(self, name: str, nth: int, action: Callable[[], None]) -> None:
        if name not in POINTS:
            raise ValueError(f"no failpoint {name!r}; known: {', '.join(POINTS)}")
        self._armed[name], self._seen[name] = (nth, action), 0

    def disarm(self) -> None:
        self._armed.clear()
        self._seen.clear()

    def reached(self, name: str) -> None:
        if name not in self._armed:
            return
        self._seen[name] += 1
        nth, action = self._armed[name]
        if self._seen[name] == nth:
            action()


FAILPOINTS = Failpoints(os.environ.get(ENVIRONMENT, ""))


def failpoint(name: str) -> None:
    """Die here if a crash test armed this point; otherwise nothing at all."""
    FAILPOINTS.reached(name)
