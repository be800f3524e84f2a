"""The fault suite's figures: each storm fixture records what it measured (value beside target)
and the terminal summary prints them as tables, whatever the tests then assert."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

Row = tuple[str, str, str]  # measure, value, target


@dataclass
class Figures:
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, table: str, measure: str, value: object, target: str = "") -> None:
        self.tables.setdefault(table, []).append((measure, str(value), target))


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
