"""Shared fixtures: an isolated environment (no developer .env or exported settings leak in)
and a fresh migrated database per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autotrader.config import Settings
from autotrader.db import Database

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def no_trace_upload() -> Iterator[None]:
    """Tests never export traces: the SDK's default OpenAI exporter is replaced for the run."""
    from agents import set_trace_processors

    set_trace_processors([])
    yield
    set_trace_processors([])


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "test.db")
    yield database
    database.close()


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any autotrader setting, plus `extra`."""
    names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key not in names}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def replay_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 12-hour replay (real candles, offline model) that readers' tests share; it is
    opened read-only, never changed."""
    from datetime import UTC, datetime

    from tests.helpers import run_replay

    path = tmp_path_factory.mktemp("replay") / "replay.db"
    code, _ = run_replay(path, hours=12, start=datetime(2025, 9, 29, tzinfo=UTC))
    assert code == 0
    return path
