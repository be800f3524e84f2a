"""The fault suite's figures: each storm fixture records what it measured (value beside target)
and the terminal summary prints them as tables, whatever the tests then assert."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.crash_harness import Invariants

Row = tuple[str, str, str]  # measure, value, target


@dataclass
class Figures:
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, table: str, measure: str, value: object, target: str = "") -> None:
        self.tables.setdefault(table, []).append((measure, str(value), target))

    def promises(
        self,
        table: str,
        ledger: Invariants,
        *,
        duplicates: int,
        lost: tuple[int, int],
        contradicting_venue: int,
    ) -> None:
        """The rows every storm must show at zero; `lost` is (while running, after restart)."""
        for measure, value in (
            ("duplicate orders", duplicates),
            ("cycles with two orders", ledger.cycles_with_two_orders),
            ("lost fills while running", lost[0]),
            ("lost fills after restart", lost[1]),
            ("orders whose status contradicts the ledger", ledger.lying_orders),
            ("orders whose status contradicts the venue", contradicting_venue),
            ("decisions without a cycle", ledger.decisions_without_a_cycle),
            ("a role deciding twice in a cycle", ledger.repeated_decisions),
            ("cycles left open", ledger.open_cycles),
        ):
            self.add(table, measure, value, "0")


FIGURES = pytest.StashKey[Figures]()


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> Figures:
    return request.config.stash.setdefault(FIGURES, Figures())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    recorded = config.stash.get(FIGURES, None)
    if recorded is None:
        return
    for table, rows in recorded.tables.items():
        terminalreporter.write_sep("=", table)
        width = max(len(measure) for measure, _, _ in rows)
        terminalreporter.write_line(f"{'measure':<{width}}  {'value':>14}  target")
        for measure, value, target in rows:
            terminalreporter.write_line(f"{measure:<{width}}  {value:>14}  {target}")
