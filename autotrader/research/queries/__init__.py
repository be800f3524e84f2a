"""The one read layer over the audit trail, shared by the dashboard, `report` and the inspection
commands: runs, cycles with their decisions, fills and experiments, portfolio marks, trades,
traces. Pure reads (it never writes); every list it returns whole is one run's, every other is a
bounded page. A run, trace or value that is not there raises NotFound (a ConfigError: one line).

Callers use `queries.<name>`; the modules are `common`, `runs`, `cycles`, `traces` and
`experiments`.
"""

from autotrader.research.queries.common import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SHORT_TRACE,
    NotFound,
    Page,
    bounded,
    short_trace,
)
from autotrader.research.queries.cycles import (
    CHOICES,
    FLAGS,
    AgentDecision,
    CycleDetail,
    CycleFilter,
    cycle_of,
    cycles_page,
    decisions,
    details,
    last_cycles,
)
from autotrader.research.queries.experiments import (
    ArmCounts,
    arm_counts,
    experiment_count,
    measured,
    notes,
)
from autotrader.research.queries.runs import (
    RunOverview,
    first_mark,
    last_mark,
    marks,
    run_overview,
    run_state,
    runs,
    trade_rows,
    trades,
    trades_page,
    trips,
)
from autotrader.research.queries.traces import SpanNode, TraceView, resolve_trace, trace_view

__all__ = [
    "CHOICES",
    "DEFAULT_LIMIT",
    "FLAGS",
    "MAX_LIMIT",
    "SHORT_TRACE",
    "AgentDecision",
    "ArmCounts",
    "CycleDetail",
    "CycleFilter",
    "NotFound",
    "Page",
    "RunOverview",
    "SpanNode",
    "TraceView",
    "arm_counts",
    "bounded",
    "cycle_of",
    "cycles_page",
    "decisions",
    "details",
    "experiment_count",
    "first_mark",
    "last_cycles",
    "last_mark",
    "marks",
    "measured",
    "notes",
    "resolve_trace",
    "run_overview",
    "run_state",
    "runs",
    "short_trace",
    "trace_view",
    "trade_rows",
    "trades",
    "trades_page",
    "trips",
]
