"""Command-line parsing and the one place that turns ConfigError into a one-line exit 2.

Heavy imports (the Agents SDK takes ~2 s) happen only after settings are valid, so a bad
setting or `--help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autotrader.config import Settings, load_settings
from autotrader.errors import ConfigError

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner.py",
        description="autotrader: a research-first autonomous crypto trading agent.",
    )
    parser.add_argument("--db", help="database file (default: DB_PATH)")
    parser.add_argument("--seed", type=int, help="fix randomness (default: SEED)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(db_path=args.db, seed=args.seed)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ConfigError as error:
        print(f"autotrader: {error}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"autotrader: settings valid (MODE={settings.mode})")
    return 0
