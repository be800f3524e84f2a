"""`make bench`, prompt size: what a cycle sends its models, per agent, beside the targets.

One simulated day of the bundled data on the offline model (which reads exactly what an LLM
would: instructions, schemas, briefs and tool outputs, as the wire carries them). Characters are
those the guarded model counts on each request (`ModelCall.chars`); tokens are what the provider
reports, which the offline model does not (0), so run it with a real provider to see them.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from autotrader.agents.graph import AgentGraph, CycleOutcome
from autotrader.config import load_settings
from autotrader.core.boot import RunOptions, run_agent
from autotrader.cycle import CycleContext
from autotrader.schemas import ROLES

HOURS = 24
TARGETS = {"HOLD": 10_000, "trading": 14_000}  # mean characters a cycle sends (issue 10)


def measure(hours: float = HOURS) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """Per decided cycle: HOLD or trading, and per role the characters and tokens sent."""
    cycles: list[tuple[str, dict[str, tuple[int, int]]]] = []
    run = AgentGraph.run

    async def recorded(self: AgentGraph, cycle: CycleContext, brief: dict[str, Any]) -> Any:
        outcome: CycleOutcome = await run(self, cycle, brief)
        sent: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
        for call in cycle.calls:
            chars, tokens = sent[call.role]
            sent[call.role] = (chars + call.chars, tokens + call.input_tokens)
        kind = "HOLD" if outcome.proposal.action == "HOLD" else "trading"
        cycles.append((kind, dict(sent)))
        return outcome

    AgentGraph.run = recorded  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                env_file=None, db_path=Path(tmp) / "prompt.db", log_level="WARNING"
            )
            options = RunOptions(hours=hours)
            asyncio.run(run_agent(settings, options, Console(file=io.StringIO())))
    finally:
        AgentGraph.run = run  # type: ignore[method-assign]
    return cycles


def main() -> None:
    cycles = measure()
    table = Table(
        title=f"make bench: characters a cycle sends, per agent (mean; {HOURS} simulated hours, "
        "offline model; tokens as the provider reports them: none offline)"
    )
    for heading in ("cycles", "n", *ROLES, "all (max)", "tokens", "target"):
        table.add_column(heading, justify="right")
    for kind, target in TARGETS.items():
        rows = [sent for k, sent in cycles if k == kind]
        if not rows:
            continue
        per_role = [statistics.mean(sent.get(role, (0, 0))[0] for sent in rows) for role in ROLES]
        whole = [sum(chars for chars, _ in sent.values()) for sent in rows]
        tokens = statistics.mean(sum(t for _, t in sent.values()) for sent in rows)
        verdict = "met" if statistics.mean(whole) <= target else "missed"
        table.add_row(
            kind,
            str(len(rows)),
            *(f"{chars:,.0f}" for chars in per_role),
            f"{statistics.mean(whole):,.0f} ({max(whole):,})",
            f"{tokens:,.0f}",
            f"<= {target:,}: {verdict}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
