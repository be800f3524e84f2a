"""Synthesize graph_cycle.yaml: one Planner -> Trader -> Judge cycle over the Responses API.

WRITTEN, NOT RECORDED FROM OPENAI: the `openai` provider's real client talks to the loopback
server in tests/loopback_llm.py (which answers with the offline policies in the Responses wire
format), vcrpy records those exchanges, and the URIs are then pointed at api.openai.com.
`make record` replaces this file with a real recording when OPENAI_API_KEY is set.

    PYTHONPATH=. .venv/bin/python tests/cassettes/openai/make_graph_cassette.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import yaml

from autotrader.db import Database
from tests.helpers import harness, openai_vcr
from tests.loopback_llm import loopback_llm

TARGET = Path(__file__).parent / "graph_cycle.yaml"
BUYS_AT = 915  # a real candle where the seeded policy buys: all five round trips are exercised


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, loopback_llm() as server:
        db = Database.open(Path(tmp) / "g.db")
        rig = harness(
            db, index=BUYS_AT, openai_api_key="sk-loopback", openai_base_url=server.base_url
        )
        recording = Path(tmp) / "graph.yaml"
        with openai_vcr.use_cassette(str(recording), record_mode="all"):
            outcome, _ = await rig.cycle()
        print(
            "recorded",
            len(server.requests),
            "requests;",
            outcome.proposal.action,
            outcome.verdict.decision,
        )
        cassette = yaml.safe_load(recording.read_text())
    for interaction in cassette["interactions"]:
        uri = interaction["request"]["uri"]
        interaction["request"]["uri"] = "https://api.openai.com/v1" + uri.split("/v1", 1)[1]
    TARGET.write_text(yaml.safe_dump(cassette, sort_keys=False, width=100))
    print("wrote", TARGET)


if __name__ == "__main__":
    asyncio.run(main())
