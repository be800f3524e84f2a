"""`runner.py report --sweep DIR`: a sweep's results read back from DIR/sweep.csv (and the
jobs' curves from DIR/jobs/*.json): a table per window with the median and spread across seeds,
which configuration and planner won each window, and two charts in DIR/report/: each window's
returns against buy & hold, and the agent's regret against the window's best fixed arm over time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autotrader.errors import ConfigError
from autotrader.sweep.plan import AGENT
from autotrader.sweep.results import RESULTS_FILE, Row, read_curve, read_rows


def sweep_console() -> Console:
    """The terminal as it is; a file or pipe gets room for the tables' columns (rich's default
    there is 80)."""
    console = Console()
    return console if console.is_terminal else Console(width=170)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _rank(value: float | None) -> float:
    """A median as a sort key: unknown sorts last (and 0.0 is a value, not unknown)."""
    return float("-inf") if value is None else value


def _spread(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return "-"
    return f"{min(known):+.2%} .. {max(known):+.2%}"


def _by(rows: Sequence[Row], *keys: str) -> dict[tuple[str, ...], list[Row]]:
    groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(str(row[key]) for key in keys)].append(row)
    return dict(groups)


WINDOW_COLUMNS = (
    "config", "planner", "runs", "return (median)", "spread across seeds", "exp.-matched B&H",
    "max DD", "Sharpe", "trades", "fees", "regret", "on best arm: Q1 -> Q4",
)  # fmt: skip


def _window_row(config: str, planner: str, group: Sequence[Row]) -> list[Text | str]:
    ok = [r for r in group if r["status"] == "done"]
    failed = len(group) - len(ok)
    first = _median([r["best_arm_share_first_quarter"] for r in ok])
    last = _median([r["best_arm_share_last_quarter"] for r in ok])
    sharpe = _median([r["sharpe"] for r in ok])
    agent = planner == AGENT
    return [
        Text(config),
        Text(planner),
        f"{len(ok)}" + (f" ({failed} failed)" if failed else ""),
        _pct(_median([r["return"] for r in ok])),
        _spread([r["return"] for r in ok]),
        _pct(_median([r["exposure_matched_buy_hold"] for r in ok])),
        f"{_median([r['max_drawdown'] for r in ok]) or 0:.2%}",
        "-" if sharpe is None else f"{sharpe:.2f}",
        f"{_median([r['trades'] for r in ok]) or 0:.0f}",
        f"{_median([r['fees'] for r in ok]) or 0:.2f}",
        _pct(_median([r["regret"] for r in ok])) if agent else "",
        f"{first:.0%} -> {last:.0%}" if agent and first is not None and last is not None else "",
    ]


def window_tables(rows: Sequence[Row]) -> list[Table]:
    """Per window: each configuration x planner, median and spread of its return across seeds."""
    tables = []
    for (window,), in_window in _by(rows, "window").items():
        hold = _median([r["buy_hold"] for r in in_window if r["status"] == "done"])
        table = Table(title=Text(f"{window}  (buy & hold {_pct(hold)})"))
        for heading in WINDOW_COLUMNS:
            table.add_column(
                heading, justify="left" if heading in {"config", "planner"} else "right"
            )
        groups = _by(in_window, "config", "planner")
        ranked = sorted(
            groups.items(),
            key=lambda item: -_rank(_median([r["return"] for r in item[1]])),
        )
        for (config, planner), group in ranked:
            table.add_row(*_window_row(config, planner, group))
        tables.append(table)
    return tables


def winners_table(rows: Sequence[Row]) -> Table:
    """Which configuration and planner had the best median return in each window."""
    table = Table(title="which setting won where (best median return across seeds)")
    for heading in ("window", "winner", "return", "agent's best config", "agent", "buy & hold"):
        text = heading in {"window", "winner", "agent's best config"}
        table.add_column(heading, justify="left" if text else "right")
    for (window,), in_window in _by(rows, "window").items():
        done = [r for r in in_window if r["status"] == "done"]
        if not done:
            continue
        medians = {
            key: _median([r["return"] for r in group])
            for key, group in _by(done, "config", "planner").items()
        }
        (config, planner), best = max(medians.items(), key=lambda kv: _rank(kv[1]))
        agents = {key: value for key, value in medians.items() if key[1] == AGENT}
        agent_key = max(agents, key=lambda k: _rank(agents[k])) if agents else None
        table.add_row(
            Text(window),
            Text(f"{planner} ({config})"),
            _pct(best),
            Text(agent_key[0]) if agent_key else "-",
            _pct(agents[agent_key]) if agent_key else "-",
            _pct(_median([r["buy_hold"] for r in done])),
        )
    return table


def returns_chart(rows: Sequence[Row], path: Path) -> None:
    windows = list(_by(rows, "window"))
    figure = Figure(figsize=(max(6.0, 0.9 * len(windows) + 3), 4.5), layout="constrained")
    axes = figure.subplots()
    series: dict[str, list[float]] = defaultdict(list)
    for (window,) in windows:
        done = [r for r in rows if r["window"] == window and r["status"] == "done"]
        agent = [r["return"] for r in done if r["planner"] == AGENT]
        arms = [r for r in done if r["planner"] != AGENT]
        series["agent (median of seeds)"].append(_median(agent) or 0.0)
        series["best fixed arm"].append(max((r["return"] for r in arms), default=0.0))
        series["exposure-matched buy & hold"].append(
            _median([r["exposure_matched_buy_hold"] for r in done if r["planner"] == AGENT]) or 0.0
        )
        series["buy & hold"].append(_median([r["buy_hold"] for r in done]) or 0.0)
    width = 0.8 / len(series)
    places = range(len(windows))
    for index, (label, values) in enumerate(series.items()):
        shifted = [i + index * width for i in places]
        axes.bar(shifted, [100 * v for v in values], width, label=label)
    names = [window for (window,) in windows]
    axes.set_xticks([i + 0.4 - width / 2 for i in places], names, rotation=30, ha="right")
    axes.tick_params(axis="x", labelsize=7)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylabel("return over the window (%)")
    axes.set_title("return against buy & hold, per window")
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=110)


def regret_chart(rows: Sequence[Row], folder: Path, path: Path) -> None:
    """Per window: the best fixed arm's cumulative return minus the agent's (median of seeds)."""
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.subplots()
    for (window, config), group in _by(rows, "window", "config").items():
        done = [r for r in group if r["status"] == "done"]
        best = next((r["best_arm"] for r in done if r.get("best_arm")), None)
        best_row = next((r for r in done if r["planner"] == best), None)
        agents = [r for r in done if r["planner"] == AGENT]
        if best_row is None or not agents:
            continue
        arm_curve = dict(read_curve(folder, best_row["job_id"]))
        curves = [dict(read_curve(folder, r["job_id"])) for r in agents]
        stamps = sorted(set(arm_curve).intersection(*curves))
        if not stamps:
            continue
        start = datetime.fromisoformat(str(group[0]["start"]))
        days = [(ts - start).total_seconds() / 86400 for ts in stamps]
        gaps = [100 * (arm_curve[ts] - statistics.median(c[ts] for c in curves)) for ts in stamps]
        axes.plot(days, gaps, linewidth=1, label=f"{window} ({config})")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xlabel("days into the window")
    axes.set_ylabel("regret: best arm - agent (% points)")
    axes.set_title("cumulative regret against the best fixed arm in hindsight")
    if axes.lines:
        axes.legend(fontsize=6, ncol=2)
    figure.savefig(path, dpi=110)


def load_sweep(folder: Path) -> list[Row]:
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {RESULTS_FILE} in {folder}; run `runner.py sweep SPEC --out {folder}` first"
        )
    return read_rows(path)


def print_summary(rows: Sequence[Row], console: Console) -> None:
    for table in window_tables(rows):
        console.print(table)
    console.print(winners_table(rows))


def write_sweep_report(folder: Path, console: Console) -> Path:
    rows = load_sweep(folder)
    print_summary(rows, console)
    out = folder / "report"
    out.mkdir(exist_ok=True)
    returns_chart(rows, out / "returns.png")
    regret_chart(rows, folder, out / "regret.png")
    console.print(Text(f"charts: {out / 'returns.png'}, {out / 'regret.png'}"))
    return out
