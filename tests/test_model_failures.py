"""The model path when providers fail: a refusal (401, 403, 404, 400) stops the run at boot or
mid-run with one line and exit 1; no answer keeps the loop's back-off; a hung cycle ends in the
safe answers at its deadline; each call is measured; every trace reaches the uploader, with its
outcome, on every way out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents.tracing import Span, Trace
from agents.tracing.processor_interface import TracingExporter

from autotrader.db import Database
from tests.conftest import REPO_ROOT, clean_env
from tests.crash_harness import rows
from tests.helpers import harness, run_replay
from tests.loopback_llm import LoopbackLLM, loopback_llm


def _run_against(
    server: LoopbackLLM, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py"), "--hours", "4", "--db", "m.db", *extra],
        cwd=tmp_path,
        env=clean_env(
            PYTHONPATH=str(REPO_ROOT),
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="local",
            MODEL_HTTP_RETRIES="0",
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "Incorrect API key provided"), (404, "The model `gpt-9` does not exist"), (403, "x")],
)
def test_a_refusing_provider_stops_the_start_with_one_line(
    tmp_path: Path, status: int, message: str
) -> None:
    with loopback_llm() as server:
        server.fail_from, server.fail_status, server.fail_message = 1, status, message
        result = _run_against(server, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"refused model 'gpt-5' ({status}: {message})" in line
    assert "Traceback" not in result.stderr + result.stdout


def test_a_refusal_mid_run_stops_the_loop_with_exit_1(tmp_path: Path) -> None:
    with loopback_llm() as server:
        server.fail_from, server.fail_status = 30, 401  # after a few good cycles
        result = _run_against(server, tmp_path)
    assert result.returncode == 1, result.stdout
    [line] = result.stderr.strip().splitlines()
    assert "refused the request (401: Incorrect API key provided)" in line
    assert rows(tmp_path / "m.db", "SELECT status FROM runs") == [("FAILED",)]
    # What was decided before the refusal is kept, and no cycle is left open.
    assert rows(tmp_path / "m.db", "SELECT count(*) FROM cycles WHERE status = 'OPEN'") == [(0,)]


def test_a_provider_that_does_not_answer_keeps_the_back_off_and_says_so_once_a_cycle(
    tmp_path: Path,
) -> None:
    with loopback_llm() as server:
        server.fail_from, server.fail_status, server.fail_message = 4, 503, "overloaded"
        result = _run_against(server, tmp_path)
    cycles = rows(tmp_path / "m.db", "SELECT count(*) FROM cycles WHERE status = 'ERROR'")[0][0]
    assert cycles >= 2
    said = result.stdout.count("overloaded")
    assert said == cycles  # each failure logged once
    assert "retry in" in result.stdout


async def test_a_cycle_past_its_deadline_ends_in_the_safe_answers(db: Database) -> None:
    with loopback_llm() as server:
        server.fail_from, server.hang_secs = 1, 3.0
        rig = harness(
            db,
            model_provider="openai-compatible",
            openai_base_url=server.base_url,
            openai_api_key="local",
            model_timeout_secs=30,
            cycle_deadline_secs=1,
        )
        outcome, _ = await rig.cycle()
    assert outcome.error is not None and "CYCLE_DEADLINE_SECS=1" in outcome.error
    assert set(outcome.fallbacks) == {"PLANNER", "TRADER", "JUDGE"}
    assert not outcome.executable


async def test_each_model_call_is_measured(db: Database) -> None:
    with loopback_llm() as server:
        rig = harness(
            db,
            index=914,
            model_provider="openai-compatible",
            openai_base_url=server.base_url,
            openai_api_key="local",
        )
        await rig.cycle()
    cycle = rig.last
    assert cycle is not None and len(cycle.calls) == 5
    assert [c.role for c in cycle.calls] == ["PLANNER", "TRADER", "TRADER", "JUDGE", "JUDGE"]
    assert all(c.chars > 0 and c.input_tokens > 0 and c.latency_ms > 0 for c in cycle.calls)


class Counting(TracingExporter):
    """An exporter that keeps what it is given, in place of OpenAI's (no network)."""

    def __init__(self) -> None:
        self.traces: list[dict[str, Any]] = []
        self.spans = 0

    def export(self, items: list[Trace | Span[Any]]) -> None:
        for item in items:
            if isinstance(item, Trace):
                self.traces.append(item.export() or {})
            else:
                self.spans += 1


def test_every_trace_reaches_the_uploader_with_its_outcome(tmp_path: Path) -> None:
    exporter = Counting()
    code, _ = run_replay(tmp_path / "up.db", hours=2, trace_exporter=exporter)
    assert code == 0
    cycles = rows(tmp_path / "up.db", "SELECT count(*) FROM cycles")[0][0]
    assert len(exporter.traces) == cycles and exporter.spans > cycles
    outcomes = {t["metadata"]["verdict"] for t in exporter.traces}
    assert outcomes <= {"APPROVE", "REVISE", "REJECT"} and outcomes
    assert all(t["metadata"]["executed"] in ("true", "false") for t in exporter.traces)
    local = rows(tmp_path / "up.db", "SELECT metadata_json FROM traces")
    assert len(local) == cycles and all('"verdict"' in m for (m,) in local)
