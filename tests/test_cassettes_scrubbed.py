"""No cassette holds a secret, and recording through our VCR config scrubs keys and signatures."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from tests.helpers import CASSETTES, SECRET_HEADERS, VOLATILE_PARAMS, binance_vcr

SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_-]{20,}"),  # OpenAI keys
    re.compile(r"(signature|timestamp|recvWindow)=", re.I),  # signed Binance parameters
    re.compile(r"Bearer\s+[A-Za-z0-9]", re.I),
    re.compile(r"test-(key|secret)-not-real"),  # the dummy credentials our tests use
]


def _cassettes() -> list[Path]:
    return sorted(CASSETTES.rglob("*.yaml"))


def test_there_are_cassettes_to_check() -> None:
    assert len(_cassettes()) >= 9


@pytest.mark.parametrize("path", _cassettes(), ids=lambda p: str(p.relative_to(CASSETTES)))
def test_cassette_holds_no_secret(path: Path) -> None:
    text = path.read_text()
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{path.name}: matches {pattern.pattern}"
    for interaction in yaml.safe_load(text)["interactions"]:
        headers = {k.lower() for k in (interaction["request"].get("headers") or {})}
        assert not headers & set(SECRET_HEADERS), f"{path.name}: {headers & set(SECRET_HEADERS)}"


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_recording_scrubs_api_keys_and_signed_parameters(loopback: str, tmp_path: Path) -> None:
    recorder = binance_vcr.use_cassette(str(tmp_path / "rec.yaml"), record_mode="all")
    with recorder:
        requests.get(
            f"{loopback}/api/v3/account?symbol=BTCUSDT&timestamp=1711272981650"
            f"&recvWindow=10000&signature={'ab' * 32}",
            headers={"X-MBX-APIKEY": "REALKEY123", "Authorization": "Bearer sk-" + "x" * 40},
            timeout=5,
        )
    saved = (tmp_path / "rec.yaml").read_text()
    assert "REALKEY123" not in saved and "sk-" not in saved
    for param in VOLATILE_PARAMS:
        assert f"{param}=" not in saved
    assert "symbol=BTCUSDT" in saved  # the rest of the request is kept
