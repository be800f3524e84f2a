"""Versioned schema steps: a database of any older version upgrades in place, rows kept.

The version lives in SQLite's `PRAGMA user_version`. Each step runs in its own transaction and
is never edited once shipped; a new need is a new step at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

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
)

LATEST_VERSION = len(MIGRATIONS)


def schema_version(connection: Connection) -> int:
    return int(connection.execute(text("PRAGMA user_version")).scalar_one())


def migrate(connection: Connection, target: int = LATEST_VERSION) -> list[int]:
    """Apply every step above the database's version up to `target`; return those applied."""
    current = schema_version(connection)
    connection.rollback()  # end the read's implicit transaction; each step opens its own
    if current > LATEST_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this autotrader "
            f"({LATEST_VERSION}); upgrade autotrader or use another DB_PATH"
        )
    applied: list[int] = []
    for version in range(current + 1, target + 1):
        _, statements = MIGRATIONS[version - 1]
        with connection.begin():
            for statement in statements:
                connection.execute(text(statement))
            # PRAGMA takes no bound parameters; `version` is an int from range().
            connection.execute(text(f"PRAGMA user_version = {version}"))
        applied.append(version)
    return applied
