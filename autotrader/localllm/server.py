"""The project's own local LLM server, as a child process: started on a free port of
127.0.0.1, ready once `GET /v1/models` answers, stopped (terminate, then kill) on exit.

The child runs `python -m autotrader.localllm serve` with the GGUF found inside the installed
package; nothing is downloaded. Its output goes to a log file, whose last line explains a
server that died while starting.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autotrader.localllm.model import MODEL_ALIAS, LocalLLMUnavailable, gguf_path

HOST = "127.0.0.1"
START_TIMEOUT_SECS = 180.0  # loading takes about 1 s; a busy 2-core machine can take far longer
STOP_TIMEOUT_SECS = 10.0
POLL_SECS = 0.1


def free_port() -> int:
    """A port nothing listens on now (the OS picks it); the child binds it right after."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "no output")


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    port: int
    alias: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def model_env(self) -> dict[str, str]:
        """The settings that point autotrader's openai-compatible provider at this server."""
        return {
            "MODEL_PROVIDER": "openai-compatible",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": "local",
            "OPENAI_MODEL_PLANNER": self.alias,
            "OPENAI_MODEL_TRADER": self.alias,
            "OPENAI_MODEL_JUDGE": self.alias,
        }

    def models(self) -> list[str]:
        """The model ids the server answers to (raises OSError while it is not up)."""
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
            body = json.load(response)
        return [str(model["id"]) for model in body.get("data", [])]

    def wait_ready(self, timeout: float = START_TIMEOUT_SECS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalLLMUnavailable(
                    f"the local LLM server exited while starting (code {self.process.returncode}): "
                    f"{_last_line(self.log_path)}; see {self.log_path}"
                )
            try:
                if self.alias in self.models():
                    return
            except OSError:
                pass
            time.sleep(POLL_SECS)
        raise LocalLLMUnavailable(
            f"the local LLM server did not answer within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:  # busy generating: uvicorn waits for it
                self.process.kill()
                self.process.wait()


def start_server(
    log_path: Path, *, alias: str = MODEL_ALIAS, n_ctx: int | None = None
) -> LocalServer:
    """Start the server and return once it answers; LocalLLMUnavailable if it cannot."""
    model = gguf_path()
    port = free_port()
    command = [sys.executable, "-m", "autotrader.localllm", "serve", "--model", str(model)]
    command += ["--port", str(port), "--alias", alias]
    if n_ctx is not None:
        command += ["--n-ctx", str(n_ctx)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # Its own session: a Ctrl-C meant for the agent must not stop the server mid-cycle.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalServer(process, port, alias, log_path)
    try:
        server.wait_ready()
    except BaseException:  # Ctrl-C or a failed start: never leave the child behind
        server.stop()
        raise
    return server


@contextmanager
def running_server(log_path: Path, *, n_ctx: int | None = None) -> Iterator[LocalServer]:
    server = start_server(log_path, n_ctx=n_ctx)
    try:
        yield server
    finally:
        server.stop()
