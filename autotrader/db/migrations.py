"""Versioned schema steps: a database of any older version upgrades in place, rows kept.

The version lives in SQLite's `PRAGMA user_version`. Each step runs in its own transaction and
is never edited once shipped; a new need is a new step at the end. A database made with the
seed's DDL (its four audit tables, no version) is adopted: upgraded to the newest schema with its
rows, in one transaction. Any other file with tables but no version is not ours and is refused
untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, text

from autotrader.errors import ConfigError
from autotrader.failpoints import failpoint

# The seed's section 4 DDL, as the seed document gives it: the contract users' own SQL is written
# against. Adoption recognises these tables by their column names.
SEED_DDL: tuple[str, ...] = (
    """CREATE TABLE decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_utc TEXT NOT NULL,
  agent TEXT NOT NULL CHECK (agent IN ('PLANNER','TRADER','JUDGE')),
  trace_id TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  plan_id INTEGER,
  proposal_id INTEGER
)""",
    """CREATE TABLE trades (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_utc TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('BUY','SELL')),
  qty TEXT NOT NULL,
  price TEXT NOT NULL,
  fee TEXT NOT NULL,
  order_id TEXT,
  idempotency_key TEXT NOT NULL UNIQUE,
  proposal_id INTEGER,
  status TEXT NOT NULL
)""",
    """CREATE TABLE portfolio (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_utc TEXT NOT NULL,
  balance_usdt TEXT NOT NULL,
  balance_btc TEXT NOT NULL,
  unrealized_pnl_usdt TEXT NOT NULL,
  realized_pnl_usdt TEXT NOT NULL
)""",
    """CREATE TABLE memory (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_utc TEXT NOT NULL,
  key TEXT NOT NULL,
  value_json TEXT NOT NULL
)""",
)
SEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "decisions": ("id", "ts_utc", "agent", "trace_id", "payload_json", "plan_id", "proposal_id"),
    "trades": (
        "id",
        "ts_utc",
        "side",
        "qty",
        "price",
        "fee",
        "order_id",
        "idempotency_key",
        "proposal_id",
        "status",
    ),
    "portfolio": (
        "id",
        "ts_utc",
        "balance_usdt",
        "balance_btc",
        "unrealized_pnl_usdt",
        "realized_pnl_usdt",
    ),
    "memory": ("id", "ts_utc", "key", "value_json"),
}


def _linked(table: str, agent: str) -> str:
    """SQL for the id of the newest `agent` decision in the same trace as a row of `table`."""
    return (
        f"(SELECT max(l.id) FROM decisions l WHERE l.trace_id = {table}.trace_id "
        f"AND l.agent = '{agent}')"
    )


# Version 8 names the arms by what they do (research/arms.py RENAMED; 'hold' means cash).
_ARM_RENAMES = " ".join(
    f"WHEN '{old}' THEN '{new}'"
    for old, new in (
        ("rsi_mean_reversion:tight", "rsi_mean_reversion:30-70"),
        ("rsi_mean_reversion:wide", "rsi_mean_reversion:20-80"),
        ("ma_crossover:fast", "ma_crossover:5-20"),
        ("ma_crossover:slow", "ma_crossover:20-50"),
        ("breakout:short", "breakout:20"),
        ("breakout:long", "breakout:60"),
        ("hold", "cash"),
    )
)

MIGRATIONS: tuple[tuple[str, Sequence[str]], ...] = (
    (
        "the seed's tables",
        (
            """CREATE TABLE decisions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                agent TEXT NOT NULL CHECK (agent IN ('PLANNER', 'TRADER', 'JUDGE')),
                trace_id TEXT NOT NULL,
                payload_json TEXT NOT NULL,
                plan_id TEXT,
                proposal_id TEXT)""",
            "CREATE INDEX ix_decisions_trace_id ON decisions (trace_id)",
            """CREATE TABLE trades (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                price TEXT NOT NULL,
                fee TEXT NOT NULL,
                order_id TEXT,
                idempotency_key TEXT NOT NULL UNIQUE,
                proposal_id TEXT,
                status TEXT NOT NULL)""",
            """CREATE TABLE portfolio (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                balances_json TEXT NOT NULL,
                unrealized_pnl TEXT NOT NULL,
                realized_pnl TEXT NOT NULL)""",
            """CREATE TABLE memory (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                key TEXT NOT NULL,
                value_json TEXT NOT NULL)""",
            "CREATE INDEX ix_memory_key ON memory (key, id)",
        ),
    ),
    (
        "execution and research: orders persisted before sending, paper books, experiments",
        (
            "ALTER TABLE trades ADD COLUMN symbol TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE trades ADD COLUMN client_order_id TEXT",
            "ALTER TABLE trades ADD COLUMN fee_asset TEXT NOT NULL DEFAULT 'USDT'",
            "ALTER TABLE trades ADD COLUMN trace_id TEXT",
            "ALTER TABLE portfolio ADD COLUMN symbol TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE portfolio ADD COLUMN price TEXT",
            "ALTER TABLE portfolio ADD COLUMN equity TEXT",
            """CREATE TABLE orders (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_ts TEXT NOT NULL,
                updated_ts TEXT NOT NULL,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                client_order_id TEXT NOT NULL UNIQUE,
                idempotency_key TEXT NOT NULL UNIQUE,
                trace_id TEXT,
                proposal_id TEXT,
                status TEXT NOT NULL
                    CHECK (status IN ('PENDING', 'FILLED', 'REJECTED', 'UNKNOWN')),
                venue_order_id TEXT,
                error TEXT)""",
            "CREATE INDEX ix_orders_status ON orders (status)",
            """CREATE TABLE paper_accounts (
                account TEXT PRIMARY KEY,
                balances_json TEXT NOT NULL,
                position_cost TEXT NOT NULL,
                realized_pnl TEXT NOT NULL,
                updated_ts TEXT NOT NULL)""",
            """CREATE TABLE paper_fills (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                account TEXT NOT NULL REFERENCES paper_accounts (account),
                symbol TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                price TEXT NOT NULL,
                fee TEXT NOT NULL,
                fee_asset TEXT NOT NULL,
                client_order_id TEXT NOT NULL UNIQUE,
                order_id TEXT NOT NULL UNIQUE)""",
            """CREATE TABLE experiments (
                id TEXT PRIMARY KEY,
                scope TEXT NOT NULL,
                created_ts TEXT NOT NULL,
                trace_id TEXT NOT NULL,
                plan_id TEXT,
                proposal_id TEXT,
                policy_id TEXT NOT NULL,
                arm TEXT NOT NULL,
                params_json TEXT NOT NULL,
                hypothesis TEXT NOT NULL,
                confidence REAL NOT NULL,
                explore INTEGER NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('BUY', 'SELL', 'HOLD')),
                exposure REAL NOT NULL,
                qty TEXT NOT NULL,
                executed INTEGER NOT NULL,
                entry_ts TEXT NOT NULL,
                entry_price TEXT NOT NULL,
                due_ts TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('OPEN', 'MEASURED')),
                exit_price TEXT,
                market_return REAL,
                reward REAL,
                excess_return REAL,
                measured_ts TEXT)""",
            "CREATE INDEX ix_experiments_open_due ON experiments (scope, status, due_ts)",
            "CREATE INDEX ix_experiments_scope_created ON experiments (scope, created_ts)",
            """CREATE TABLE posteriors (
                scope TEXT NOT NULL,
                arm TEXT NOT NULL,
                policy_id TEXT NOT NULL,
                weight REAL NOT NULL,
                total REAL NOT NULL,
                total_sq REAL NOT NULL,
                count INTEGER NOT NULL,
                last_ts TEXT NOT NULL,
                PRIMARY KEY (scope, arm))""",
        ),
    ),
    (
        "agent graph: what produced each decision, and the local trace store",
        (
            "ALTER TABLE decisions ADD COLUMN model TEXT",
            "ALTER TABLE decisions ADD COLUMN prompt_hash TEXT",
            "ALTER TABLE decisions ADD COLUMN fallback_reason TEXT",
            """CREATE TABLE traces (
                trace_id TEXT PRIMARY KEY,
                workflow_name TEXT NOT NULL,
                group_id TEXT,
                metadata_json TEXT NOT NULL,
                started_at TEXT,
                ended_at TEXT)""",
            """CREATE TABLE spans (
                span_id TEXT PRIMARY KEY,
                trace_id TEXT NOT NULL,
                parent_id TEXT,
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                started_at TEXT,
                ended_at TEXT,
                data_json TEXT NOT NULL,
                error_json TEXT)""",
            "CREATE INDEX ix_spans_trace_id ON spans (trace_id)",
        ),
    ),
    (
        "the loop: runs, their cycles, and run-scoped trades and snapshots",
        (
            """CREATE TABLE runs (
                run_id TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                status TEXT NOT NULL CHECK (status IN ('RUNNING', 'STOPPED', 'DONE', 'FAILED')),
                mode TEXT NOT NULL,
                feed TEXT NOT NULL,
                symbol TEXT NOT NULL,
                timeframe TEXT NOT NULL,
                provider TEXT NOT NULL,
                models_json TEXT NOT NULL,
                seed INTEGER NOT NULL,
                scope TEXT NOT NULL,
                paper_account TEXT,
                sim_start TEXT,
                sim_end TEXT)""",
            "CREATE INDEX ix_runs_fingerprint ON runs (fingerprint, started_at)",
            """CREATE TABLE cycles (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL REFERENCES runs (run_id),
                trace_id TEXT NOT NULL UNIQUE,
                cycle_ts TEXT NOT NULL,
                wall_ts TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('OK', 'ERROR')),
                plan_mode TEXT,
                arm TEXT,
                explore INTEGER,
                action TEXT,
                qty TEXT,
                verdict TEXT,
                executed INTEGER NOT NULL DEFAULT 0,
                fill_price TEXT,
                equity TEXT,
                wakeup_secs INTEGER NOT NULL,
                model_calls INTEGER NOT NULL DEFAULT 0,
                duration_ms REAL NOT NULL,
                fallbacks INTEGER NOT NULL DEFAULT 0,
                guardrail TEXT,
                error TEXT)""",
            "CREATE INDEX ix_cycles_run_ts ON cycles (run_id, cycle_ts)",
            "ALTER TABLE trades ADD COLUMN run_id TEXT",
            "ALTER TABLE portfolio ADD COLUMN run_id TEXT",
            "CREATE INDEX ix_trades_run ON trades (run_id, id)",
            "CREATE INDEX ix_portfolio_run ON portfolio (run_id, id)",
        ),
    ),
    (
        "the seed's audit columns exactly: ts_utc, portfolio balances and PnL in USDT, decision "
        "links as row ids; books folded from the ledger, not kept by the paper venue",
        (
            # decisions: ts -> ts_utc; plan_id / proposal_id become the ids of the same cycle's
            # PLANNER and TRADER rows (they were text handles derived from the trace id).
            """CREATE TABLE decisions_v5 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts_utc TEXT NOT NULL,
                agent TEXT NOT NULL CHECK (agent IN ('PLANNER', 'TRADER', 'JUDGE')),
                trace_id TEXT NOT NULL,
                payload_json TEXT NOT NULL,
                plan_id INTEGER,
                proposal_id INTEGER,
                model TEXT,
                prompt_hash TEXT,
                fallback_reason TEXT)""",
            f"""INSERT INTO decisions_v5 (id, ts_utc, agent, trace_id, payload_json, plan_id,
                proposal_id, model, prompt_hash, fallback_reason)
                SELECT d.id, d.ts, d.agent, d.trace_id, d.payload_json,
                    CASE WHEN d.agent = 'PLANNER' THEN NULL ELSE {_linked("d", "PLANNER")} END,
                    CASE WHEN d.agent = 'JUDGE' THEN {_linked("d", "TRADER")} END,
                    d.model, d.prompt_hash, d.fallback_reason
                FROM decisions d""",
            "DROP TABLE decisions",
            "ALTER TABLE decisions_v5 RENAME TO decisions",
            "CREATE INDEX ix_decisions_trace_id ON decisions (trace_id)",
            # trades: ts -> ts_utc; proposal_id is the TRADER row of the trade's cycle.
            """CREATE TABLE trades_v5 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts_utc TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                price TEXT NOT NULL,
                fee TEXT NOT NULL,
                order_id TEXT,
                idempotency_key TEXT NOT NULL UNIQUE,
                proposal_id INTEGER,
                status TEXT NOT NULL,
                symbol TEXT NOT NULL DEFAULT '',
                client_order_id TEXT,
                fee_asset TEXT NOT NULL DEFAULT 'USDT',
                trace_id TEXT,
                run_id TEXT)""",
            f"""INSERT INTO trades_v5 (id, ts_utc, side, qty, price, fee, order_id,
                idempotency_key, proposal_id, status, symbol, client_order_id, fee_asset,
                trace_id, run_id)
                SELECT t.id, t.ts, t.side, t.qty, t.price, t.fee, t.order_id, t.idempotency_key,
                    {_linked("t", "TRADER")}, t.status, t.symbol, t.client_order_id,
                    t.fee_asset, t.trace_id, t.run_id
                FROM trades t""",
            "DROP TABLE trades",
            "ALTER TABLE trades_v5 RENAME TO trades",
            "CREATE INDEX ix_trades_run ON trades (run_id, id)",
            # portfolio: the seed's columns (USDT and BTC balances, PnL in USDT), with every
            # asset still in balances_json.
            """CREATE TABLE portfolio_v5 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts_utc TEXT NOT NULL,
                balance_usdt TEXT NOT NULL,
                balance_btc TEXT NOT NULL,
                unrealized_pnl_usdt TEXT NOT NULL,
                realized_pnl_usdt TEXT NOT NULL,
                balances_json TEXT NOT NULL,
                symbol TEXT NOT NULL DEFAULT '',
                price TEXT,
                equity TEXT,
                run_id TEXT)""",
            """INSERT INTO portfolio_v5 (id, ts_utc, balance_usdt, balance_btc,
                unrealized_pnl_usdt, realized_pnl_usdt, balances_json, symbol, price, equity,
                run_id)
                SELECT id, ts, coalesce(json_extract(balances_json, '$.USDT'), '0'),
                    coalesce(json_extract(balances_json, '$.BTC'), '0'), unrealized_pnl,
                    realized_pnl, balances_json, symbol, price, equity, run_id
                FROM portfolio""",
            "DROP TABLE portfolio",
            "ALTER TABLE portfolio_v5 RENAME TO portfolio",
            "CREATE INDEX ix_portfolio_run ON portfolio (run_id, id)",
            "ALTER TABLE memory RENAME COLUMN ts TO ts_utc",
            # orders and experiments: the same integer links as trades.
            """CREATE TABLE orders_v5 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_ts TEXT NOT NULL,
                updated_ts TEXT NOT NULL,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                client_order_id TEXT NOT NULL UNIQUE,
                idempotency_key TEXT NOT NULL UNIQUE,
                trace_id TEXT,
                proposal_id INTEGER,
                status TEXT NOT NULL
                    CHECK (status IN ('PENDING', 'FILLED', 'REJECTED', 'UNKNOWN')),
                venue_order_id TEXT,
                error TEXT)""",
            f"""INSERT INTO orders_v5 SELECT o.id, o.created_ts, o.updated_ts, o.symbol, o.side,
                o.qty, o.client_order_id, o.idempotency_key, o.trace_id,
                {_linked("o", "TRADER")}, o.status, o.venue_order_id, o.error
                FROM orders o""",
            "DROP TABLE orders",
            "ALTER TABLE orders_v5 RENAME TO orders",
            "CREATE INDEX ix_orders_status ON orders (status)",
            "ALTER TABLE experiments DROP COLUMN plan_id",
            "ALTER TABLE experiments DROP COLUMN proposal_id",
            "ALTER TABLE experiments ADD COLUMN plan_id INTEGER",
            "ALTER TABLE experiments ADD COLUMN proposal_id INTEGER",
            f"""UPDATE experiments SET plan_id = {_linked("experiments", "PLANNER")},
                proposal_id = {_linked("experiments", "TRADER")}""",
            # The paper venue reports balances only; cost basis and realized PnL come from the
            # ledger's trades (one source of truth for both venues).
            "ALTER TABLE paper_accounts DROP COLUMN position_cost",
            "ALTER TABLE paper_accounts DROP COLUMN realized_pnl",
        ),
    ),
    (
        "a decision is made once: open cycles, orders that are NEW until sent, send attempts",
        (
            # cycles: OPEN from the commit of its decisions until its last rows are written, so a
            # restart finishes it instead of deciding it again; the price it decided at.
            """CREATE TABLE cycles_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL REFERENCES runs (run_id),
                trace_id TEXT NOT NULL UNIQUE,
                cycle_ts TEXT NOT NULL,
                wall_ts TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('OPEN', 'OK', 'ERROR')),
                plan_mode TEXT,
                arm TEXT,
                explore INTEGER,
                action TEXT,
                qty TEXT,
                verdict TEXT,
                executed INTEGER NOT NULL DEFAULT 0,
                fill_price TEXT,
                equity TEXT,
                wakeup_secs INTEGER NOT NULL,
                model_calls INTEGER NOT NULL DEFAULT 0,
                duration_ms REAL NOT NULL,
                fallbacks INTEGER NOT NULL DEFAULT 0,
                guardrail TEXT,
                error TEXT,
                price TEXT)""",
            """INSERT INTO cycles_v6 (id, run_id, trace_id, cycle_ts, wall_ts, status, plan_mode,
                arm, explore, action, qty, verdict, executed, fill_price, equity, wakeup_secs,
                model_calls, duration_ms, fallbacks, guardrail, error)
                SELECT id, run_id, trace_id, cycle_ts, wall_ts, status, plan_mode, arm, explore,
                    action, qty, verdict, executed, fill_price, equity, wakeup_secs, model_calls,
                    duration_ms, fallbacks, guardrail, error
                FROM cycles""",
            "DROP TABLE cycles",
            "ALTER TABLE cycles_v6 RENAME TO cycles",
            "CREATE INDEX ix_cycles_run_ts ON cycles (run_id, cycle_ts)",
            "CREATE INDEX ix_cycles_open ON cycles (run_id, status)",
            # orders: NEW = persisted with the decisions, not sent yet; PENDING = sent, outcome
            # not known; `sends` counts the attempts, so an intent is resent at most once.
            """CREATE TABLE orders_v6 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_ts TEXT NOT NULL,
                updated_ts TEXT NOT NULL,
                symbol TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
                qty TEXT NOT NULL,
                client_order_id TEXT NOT NULL UNIQUE,
                idempotency_key TEXT NOT NULL UNIQUE,
                trace_id TEXT,
                proposal_id INTEGER,
                status TEXT NOT NULL CHECK (
                    status IN ('NEW', 'PENDING', 'FILLED', 'REJECTED', 'UNKNOWN')),
                venue_order_id TEXT,
                error TEXT,
                max_cost TEXT,
                sends INTEGER NOT NULL DEFAULT 0)""",
            """INSERT INTO orders_v6 (id, created_ts, updated_ts, symbol, side, qty,
                client_order_id, idempotency_key, trace_id, proposal_id, status, venue_order_id,
                error, sends)
                SELECT id, created_ts, updated_ts, symbol, side, qty, client_order_id,
                    idempotency_key, trace_id, proposal_id, status, venue_order_id, error, 1
                FROM orders""",
            "DROP TABLE orders",
            "ALTER TABLE orders_v6 RENAME TO orders",
            "CREATE INDEX ix_orders_status ON orders (status)",
            "CREATE INDEX ix_orders_trace ON orders (trace_id)",
        ),
    ),
    (
        "what each cycle's model calls carried and cost, and why a fallback stood in",
        (
            "ALTER TABLE cycles ADD COLUMN chars_sent INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE cycles ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE cycles ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE cycles ADD COLUMN model_ms REAL NOT NULL DEFAULT 0",
            "ALTER TABLE cycles ADD COLUMN reasks INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE cycles ADD COLUMN fallback_reason TEXT",
        ),
    ),
    (
        "experiments the feed cannot measure are closed with their reason, never left open",
        (
            # SQLite cannot alter a CHECK: the table is rebuilt with UNMEASURABLE allowed.
            """CREATE TABLE experiments_v8 (
                id TEXT PRIMARY KEY,
                scope TEXT NOT NULL,
                created_ts TEXT NOT NULL,
                trace_id TEXT NOT NULL,
                policy_id TEXT NOT NULL,
                arm TEXT NOT NULL,
                params_json TEXT NOT NULL,
                hypothesis TEXT NOT NULL,
                confidence REAL NOT NULL,
                explore INTEGER NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('BUY', 'SELL', 'HOLD')),
                exposure REAL NOT NULL,
                qty TEXT NOT NULL,
                executed INTEGER NOT NULL,
                entry_ts TEXT NOT NULL,
                entry_price TEXT NOT NULL,
                due_ts TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('OPEN', 'MEASURED', 'UNMEASURABLE')),
                exit_price TEXT,
                market_return REAL,
                reward REAL,
                excess_return REAL,
                measured_ts TEXT,
                plan_id INTEGER,
                proposal_id INTEGER,
                exit_ts TEXT,
                note TEXT)""",
            """INSERT INTO experiments_v8 (
                id, scope, created_ts, trace_id, policy_id, arm, params_json,
                hypothesis, confidence, explore, action, exposure, qty, executed, entry_ts,
                entry_price, due_ts, status, exit_price, market_return, reward, excess_return,
                measured_ts, plan_id, proposal_id)
                SELECT
                id, scope, created_ts, trace_id, policy_id, arm, params_json,
                hypothesis, confidence, explore, action, exposure, qty, executed, entry_ts,
                entry_price, due_ts, status, exit_price, market_return, reward, excess_return,
                measured_ts, plan_id, proposal_id FROM experiments""",
            "DROP TABLE experiments",
            "ALTER TABLE experiments_v8 RENAME TO experiments",
            "CREATE INDEX ix_experiments_open_due ON experiments (scope, status, due_ts)",
            "CREATE INDEX ix_experiments_scope_created ON experiments (scope, created_ts)",
        ),
    ),
    (
        "each cycle's candle: a cycle with no newly closed candle decides nothing",
        ("ALTER TABLE cycles ADD COLUMN candle_ts TEXT",),
    ),
    (
        "paper orders fill when the clock reaches their fill time, not when they are sent",
        ("ALTER TABLE paper_fills ADD COLUMN settled INTEGER NOT NULL DEFAULT 1",),
    ),
    (
        "compact spans: a trace's spans in one compressed value, generation inputs once by hash",
        (
            "ALTER TABLE traces ADD COLUMN cycle_ts TEXT",
            "UPDATE traces SET cycle_ts = json_extract(metadata_json, '$.cycle_ts')",
            "ALTER TABLE traces ADD COLUMN spans BLOB",
            "ALTER TABLE traces ADD COLUMN input_hashes TEXT",
            """CREATE TABLE span_inputs (
                hash TEXT PRIMARY KEY,
                item_json TEXT NOT NULL) WITHOUT ROWID""",
        ),
    ),
    (
        "shadow research: every arm's book on closed candles, its positions, regime posteriors; "
        "arms named by what they do",
        (
            *(
                f"UPDATE {table} SET arm = CASE arm {_ARM_RENAMES} ELSE arm END"
                for table in ("experiments", "posteriors", "cycles")
            ),
            # One row per (scope, arm): the position the arm's rule holds after the newest
            # closed candle it has seen, and where that position was entered.
            """CREATE TABLE shadow_books (
                scope TEXT NOT NULL,
                arm TEXT NOT NULL,
                last_candle_ts TEXT NOT NULL,
                long INTEGER NOT NULL,
                entry_price TEXT,
                entry_ts TEXT,
                entry_regime TEXT,
                PRIMARY KEY (scope, arm))""",
            # Every position an arm's rule held, entry to exit, and its reward net of costs.
            """CREATE TABLE shadow_positions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                scope TEXT NOT NULL,
                arm TEXT NOT NULL,
                regime TEXT NOT NULL,
                entry_ts TEXT NOT NULL,
                entry_price TEXT NOT NULL,
                exit_ts TEXT NOT NULL,
                exit_price TEXT NOT NULL,
                reward REAL NOT NULL)""",
            "CREATE INDEX ix_shadow_positions_scope ON shadow_positions (scope, exit_ts)",
            # Discounted reward sums per (arm, regime at entry); regime 'all' pools them.
            """CREATE TABLE regime_posteriors (
                scope TEXT NOT NULL,
                arm TEXT NOT NULL,
                regime TEXT NOT NULL,
                weight REAL NOT NULL,
                total REAL NOT NULL,
                total_sq REAL NOT NULL,
                count INTEGER NOT NULL,
                last_ts TEXT NOT NULL,
                PRIMARY KEY (scope, arm, regime))""",
        ),
    ),
    (
        "the newest executed experiment by its own index, not a walk back over every HOLD since",
        (
            # Every cycle reads it; through (scope, created_ts) that walk grew with the hours
            # since the last trade (days in cash on 5m candles).
            "CREATE INDEX ix_experiments_executed ON experiments (scope, created_ts) "
            "WHERE executed = 1",
        ),
    ),
)

LATEST_VERSION = len(MIGRATIONS)


def schema_version(connection: Connection) -> int:
    return int(connection.execute(text("PRAGMA user_version")).scalar_one())


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
OWN_TABLES = frozenset({"decisions", "trades", "portfolio", "memory"})  # since version 1


def _columns(connection: Connection) -> dict[str, tuple[str, ...]]:
    """Every table's column names, in order (SQLite's own bookkeeping tables left out)."""
    tables = list(connection.execute(text(_TABLES)).scalars())
    return {
        table: tuple(row[1] for row in connection.execute(text(f"PRAGMA table_info('{table}')")))
        for table in tables
    }


def is_seed_layout(tables: dict[str, tuple[str, ...]]) -> bool:
    """Exactly the seed's four tables, with the seed's columns."""
    return tables == SEED_COLUMNS


def refuse_if_not_ours(path: Path) -> None:
    """Raise ConfigError, touching nothing, unless `path` is autotrader's database (of this
    version or older) or one made with the seed's DDL. Read through a read-only connection,
    before anything (WAL mode included) is set on the file."""
    # A read-only connection to a file in WAL mode still creates its -wal and -shm files. With
    # no -wal file there is nothing to read but the file itself: open it as immutable, which
    # creates nothing beside it (another application's file, or a damaged one, stays alone).
    immutable = "" if path.with_name(path.name + "-wal").exists() else "&immutable=1"
    try:
        uri = f"file:{quote(str(path.absolute()))}?mode=ro{immutable}"
        with closing(sqlite3.connect(uri, uri=True)) as raw:
            version = int(raw.execute("PRAGMA user_version").fetchone()[0])
            names = [row[0] for row in raw.execute(_TABLES)]
            tables = {
                name: tuple(row[1] for row in raw.execute(f"PRAGMA table_info('{name}')"))
                for name in names
            }
    except sqlite3.DatabaseError as error:
        raise ConfigError(
            f"{path} is not an SQLite database autotrader can read ({error}); "
            "choose another DB_PATH or move the file away"
        ) from None
    _check_ours(path, version, tables)


def _check_ours(where: Path | str, version: int, tables: dict[str, tuple[str, ...]]) -> None:
    """ConfigError unless a file of this version and these tables is ours to migrate."""
    if version > LATEST_VERSION:
        raise ConfigError(
            f"database schema version {version} is newer than this autotrader "
            f"({LATEST_VERSION}); upgrade autotrader or use another DB_PATH"
        )
    ours = set(tables) >= OWN_TABLES if version > 0 else not tables or is_seed_layout(tables)
    if not ours:
        raise ConfigError(
            f"{where} holds another application's tables ({', '.join(sorted(tables))}) "
            "and was left untouched; choose another DB_PATH"
        )


def _adopt_seed_database(connection: Connection, target: int) -> list[int]:
    """Move the seed tables aside, build the newest schema, copy their rows in, drop them."""
    with connection.begin():
        for table in SEED_COLUMNS:
            connection.execute(text(f"ALTER TABLE {table} RENAME TO seed_{table}"))
        for version in range(1, target + 1):
            for statement in MIGRATIONS[version - 1][1]:
                connection.execute(text(statement))
        for table, columns in SEED_COLUMNS.items():
            names = ", ".join(columns)
            if table == "portfolio":  # the seed keeps USDT and BTC; so do the newest rows
                connection.execute(
                    text(
                        f"INSERT INTO portfolio ({names}, balances_json) SELECT {names}, "
                        "json_object('BTC', balance_btc, 'USDT', balance_usdt) FROM seed_portfolio"
                    )
                )
            else:
                connection.execute(
                    text(f"INSERT INTO {table} ({names}) SELECT {names} FROM seed_{table}")
                )
            connection.execute(text(f"DROP TABLE seed_{table}"))
        connection.execute(text(f"PRAGMA user_version = {target}"))
    return list(range(1, target + 1))


def migrate(connection: Connection, target: int = LATEST_VERSION) -> list[int]:
    """Apply every step above the database's version up to `target`; return those applied."""
    current = schema_version(connection)
    tables = _columns(connection)
    connection.rollback()  # end the read's implicit transaction; each step opens its own
    _check_ours("the database", current, tables)
    if current == 0 and tables:  # the seed's own tables, at no version
        return _adopt_seed_database(connection, target)
    applied: list[int] = []
    for version in range(current + 1, target + 1):
        _, statements = MIGRATIONS[version - 1]
        with connection.begin():
            for statement in statements:
                connection.execute(text(statement))
                failpoint("migration")
            # PRAGMA takes no bound parameters; `version` is an int from range().
            connection.execute(text(f"PRAGMA user_version = {version}"))
        applied.append(version)
    return applied
