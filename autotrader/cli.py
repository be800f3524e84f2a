"""Command-line parsing, and the one place that turns ConfigError into a one-line exit 2.

    python runner.py [run] [--from TIME] [--until TIME] [--hours H] [--replay PATH] [--db PATH]
                     [--seed N]
    python runner.py trace TRACE_ID [--db PATH]
    python runner.py report [--db PATH] [--out DIR] [--run RUN_ID]
    python runner.py report --sweep DIR
    python runner.py sweep SPEC [--out DIR] [--data DIR] [--workers N] [--ray]
    python runner.py doctor [--db PATH]
    python runner.py serve [--host HOST] [--port PORT] [--db PATH] [--replay PATH]
    python runner.py runs | cycles [--run ID] [--last N] [--filter EXPR] | trades [--run ID]
                     [--last N] | decisions TRACE_ID   (each with [--db PATH])

Heavy imports (the Agents SDK takes ~2 s) happen only once settings are valid, so a bad
setting or `--help` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from autotrader.config import Settings, load_settings
from autotrader.errors import (
    AutotraderError,
    ConfigError,
    DatabaseBusy,
    DataError,
    ProviderRefused,
    printable,
)

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 1
EXIT_INTERRUPTED = 130


MAX_HOURS = 24 * 366 * 10  # ten years: longer is a typo, and past what a datetime can add


class Parser(argparse.ArgumentParser):
    """argparse, whose errors are one line (ConfigError) instead of usage plus a message."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see python runner.py --help)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database file (default: DB_PATH, autotrader.db)")


def build_parser() -> argparse.ArgumentParser:
    run = Parser(add_help=False)
    _common(run)
    run.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="replay from this UTC date or datetime (ISO, e.g. 2025-09-20T12:00)",
    )
    run.add_argument("--until", metavar="TIME", help="stop at this UTC date or datetime")
    run.add_argument(
        "--hours",
        type=float,
        metavar="H",
        help="run for H hours (simulated in replay, real otherwise)",
    )
    run.add_argument(
        "--replay",
        metavar="PATH",
        help="replay this candle file: CSV (timestamp_ms,open,high,low,close,volume; .gz ok) "
        "or freqtrade's .feather / .json",
    )
    run.add_argument("--seed", type=int, help="fix randomness (default: SEED)")
    parser = Parser(
        prog="runner.py",
        parents=[run],
        description="autotrader: a research-first autonomous crypto trading agent. "
        "With no command it runs the agent (paper mode on bundled real candles by default).",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", parents=[run], help="run the agent (the default)")
    show = commands.add_parser("trace", help="print one cycle's stored trace as a tree")
    show.add_argument("trace_id", help="a trace id, or a unique prefix of its hex digits")
    _common(show)
    report = commands.add_parser("report", help="evaluate a run: text, HTML and PNG charts")
    _common(report)
    report.add_argument("--out", metavar="DIR", help="output folder (default: beside the database)")
    report.add_argument("--run", dest="run_id", help="which run (default: the latest)")
    serve = commands.add_parser("serve", help="the read-only web dashboard and JSON API")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (8000)")
    serve.add_argument(
        "--replay", metavar="PATH", help="the candle file replay runs are drawn on (REPLAY_PATH)"
    )
    runs = commands.add_parser("runs", help="list the runs in the database")
    _common(runs)
    cycles = commands.add_parser("cycles", help="a run's cycles with their trace ids")
    _common(cycles)
    cycles.add_argument("--run", dest="run_id", help="which run (default: the latest)")
    cycles.add_argument("--last", type=int, default=20, metavar="N", help="how many (20)")
    cycles.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        help="e.g. executed, fallback, explore=no, action=BUY, verdict=REJECT, arm=hold",
    )
    trades = commands.add_parser("trades", help="a run's fills with round-trip PnL")
    _common(trades)
    trades.add_argument("--run", dest="run_id", help="which run (default: the latest)")
    trades.add_argument("--last", type=int, default=20, metavar="N", help="how many (20)")
    decided = commands.add_parser("decisions", help="one cycle's Plan, Proposal and Verdict")
    decided.add_argument("trace_id", help="a trace id, or a unique prefix of its hex digits")
    _common(decided)
    doctor = commands.add_parser(
        "doctor", help="check settings, database, venue and each model, then exit"
    )
    _common(doctor)
    report.add_argument("--sweep", metavar="DIR", help="report a sweep's output folder instead")
    prune = commands.add_parser(
        "prune", help="delete traces older than TRACE_RETENTION_DAYS (never decisions or trades)"
    )
    _common(prune)
    prune.add_argument(
        "--days", type=int, metavar="N", help="keep N days (default: TRACE_RETENTION_DAYS)"
    )
    sweep = commands.add_parser(
        "sweep", help="run a grid of replays (windows x symbols x settings x seeds) in parallel"
    )
    sweep.add_argument("spec", help="the sweep spec (TOML), e.g. sweeps/dev.toml")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default: sweep_NAME)")
    sweep.add_argument(
        "--data",
        metavar="DIR",
        help="folder the spec's candle files are in (default: $AUTOTRADER_DATA, ../shared/data)",
    )
    sweep.add_argument("--workers", type=int, metavar="N", help="parallel jobs (default: cores)")
    sweep.add_argument(
        "--ray", action="store_true", help="run on Ray (local, or the cluster at RAY_ADDRESS)"
    )
    return parser


def parse_time(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r} is not an ISO date or datetime; "
            "use e.g. 2025-09-20 or 2025-09-20T12:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def settings_from(args: argparse.Namespace) -> Settings:
    replay = getattr(args, "replay", None)
    if replay is not None and not Path(replay).is_file():
        raise ConfigError(
            f"--replay {replay!r} is not a file; give a candle file (CSV .csv/.csv.gz, or "
            "freqtrade .feather/.json)"
        )
    return load_settings(db_path=args.db, seed=getattr(args, "seed", None), replay_path=replay)


def main(argv: Sequence[str]) -> int:
    settings: Settings | None = None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "sweep":
            return _sweep(args)
        settings = settings_from(args)
        command = args.command or "run"
        if command == "trace":
            return _trace(settings, args.trace_id)
        if command == "report":
            return _report(settings, args)
        if command == "serve":
            return _serve(settings, args)
        if command in ("runs", "cycles", "trades", "decisions"):
            return _inspect(settings, command, args)
        if command == "doctor":
            return _doctor(settings)
        if command == "prune":
            return _prune(settings, args.days)
        return _run(settings, args)
    except (ConfigError, DataError) as error:
        return _fail(str(error), EXIT_CONFIG)
    except (DatabaseBusy, ProviderRefused) as error:
        return _fail(str(error), EXIT_UNAVAILABLE)
    except AutotraderError as error:  # e.g. the venue unreachable at boot (cycles retry)
        return _fail(
            f"cannot start: {error}; check the network and the exchange's status",
            EXIT_UNAVAILABLE,
        )
    except Exception as error:  # SQLite's lock, held by another program past the busy timeout
        from autotrader.db import is_locked

        if not is_locked(error):
            raise
        where = settings.db_path if settings is not None else "the database"
        return _fail(
            f"{where} is locked by another program; close whatever holds it (an sqlite3 "
            "shell, a backup tool) and try again",
            EXIT_UNAVAILABLE,
        )
    except KeyboardInterrupt:  # before the loop's own signal handling is in place
        print("autotrader: interrupted before the loop started", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(message: str, code: int) -> int:
    """One line on stderr, as text: what came from outside (a server's message, a path) may
    hold control characters, which are shown escaped."""
    print(f"autotrader: {printable(message)}", file=sys.stderr)
    return code


def _run(settings: Settings, args: argparse.Namespace) -> int:
    hours = args.hours
    if hours is not None and not (0 < hours <= MAX_HOURS):  # also refuses nan and inf
        raise ConfigError(f"--hours {hours} must be positive, and at most {MAX_HOURS} (ten years)")
    start, until = parse_time("--from", args.start), parse_time("--until", args.until)
    if settings.db_path.exists():  # a database that is not ours, before the heavy imports
        from autotrader.db.migrations import refuse_if_not_ours

        refuse_if_not_ours(settings.db_path)
    replay = None
    if settings.resolved_feed == "replay":  # and bad data and spans
        from autotrader.core.replay import load_replay, replay_span

        replay = load_replay(settings)
        replay_span(replay, start, until, hours)
    from rich.console import Console

    from autotrader.core.boot import RunOptions, run_agent

    options = RunOptions(start=start, until=until, hours=hours, replay=replay)
    return asyncio.run(run_agent(settings, options, Console()))


def _trace(settings: Settings, trace_id: str) -> int:
    from rich.console import Console

    from autotrader.core.console import print_trace
    from autotrader.db.readonly import open_readonly

    print_trace(open_readonly(settings.db_path), trace_id, Console())
    return 0


def _prune(settings: Settings, days: int | None) -> int:
    keep = settings.trace_retention_days if days is None else days
    if keep < 0:
        raise ConfigError(f"--days {keep} must be 0 or more")
    if not settings.db_path.is_file():
        raise ConfigError(f"no database at {settings.db_path}; give --db or set DB_PATH")
    if keep == 0:
        print("retention is 0 days: traces are kept forever; nothing pruned")
        return 0
    from autotrader.db import Database
    from autotrader.db.retention import newest_cycle, prune_traces

    db = Database.open(settings.db_path)
    newest = newest_cycle(db)
    if newest is None:
        print(f"no traces in {printable(str(settings.db_path))}; nothing pruned")
        return 0
    cutoff = newest - timedelta(days=keep)
    pruned = prune_traces(db, cutoff)
    db.close()
    print(
        f"pruned {pruned.traces} traces ({pruned.spans} span rows, {pruned.inputs} inputs) "
        f"of cycles before {cutoff.isoformat()}: {keep} days before the newest"
    )
    return 0


def _doctor(settings: Settings) -> int:
    from rich.console import Console

    from autotrader.core.doctor import run_doctor

    return asyncio.run(run_doctor(settings, Console()))


def _sweep(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers} must be at least 1")
    from autotrader.sweep.command import sweep_command

    return sweep_command(Path(args.spec), args.out, args.data, args.workers, use_ray=args.ray)


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.sweep is not None:
        from autotrader.sweep.report import sweep_console, write_sweep_report

        write_sweep_report(Path(args.sweep), sweep_console())
        return 0

    from autotrader.research.report import write_report

    if not settings.db_path.exists():
        raise ConfigError(f"no database at {settings.db_path}; run the agent first or pass --db")
    out = Path(args.out) if args.out else settings.db_path.resolve().parent / "reports"
    found = next(folder for folder in (out, *out.parents) if folder.exists())
    if not found.is_dir():
        raise ConfigError(f"--out {str(out)!r}: {found} is a file; give a folder (made if missing)")
    try:
        write_report(settings, out, args.run_id, Console())
    except OSError as error:
        raise ConfigError(
            f"cannot write the report in {out} ({error.strerror}); choose a writable --out"
        ) from None
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from autotrader.web.serve import AddressInUse, serve

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a port; give 1..65535 (e.g. 8000)")
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    try:
        serve(settings, args.host, args.port, token)
    except AddressInUse as error:
        return _fail(str(error), EXIT_UNAVAILABLE)
    return 0


def _inspect(settings: Settings, command: str, args: argparse.Namespace) -> int:
    from rich.console import Console

    from autotrader.core import inspect
    from autotrader.db.readonly import open_readonly
    from autotrader.research.queries import CycleFilter

    last = getattr(args, "last", 1)
    if last <= 0:
        raise ConfigError(f"--last {last} must be positive")
    db = open_readonly(settings.db_path)
    if command == "runs":
        shown = inspect.runs_table(db)
    elif command == "cycles":
        shown = inspect.cycles_table(db, args.run_id, last, CycleFilter.parse(args.filter))
    elif command == "trades":
        shown = inspect.trades_table(db, args.run_id, last)
    else:
        shown = inspect.decisions_view(db, args.trace_id)
    inspect.show(Console(), shown)
    db.close()
    return 0
