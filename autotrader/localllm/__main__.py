"""`python -m autotrader.localllm serve|replay|report`: the local LLM from the command line.

    serve  [--port P] [--n-ctx N]           run the server in the foreground (Ctrl-C stops it)
    replay [--hours H] [--db PATH] [...]    start the server, replay H simulated hours with the
                                            openai-compatible provider on it, stop the server,
                                            print how the run went (extra flags go to runner.py)
    report [--db PATH] [--run RUN_ID]       how a run went: model vs fallback per agent

The replay runs autotrader's own command line in a child process, configured only through the
environment, exactly as a user would point it at any OpenAI-compatible server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from autotrader.errors import AutotraderError, ConfigError
from autotrader.localllm.model import MODEL_ALIAS, require_server_packages

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 1
DEFAULT_DB = Path("llm.db")
# A cycle takes the 135M model minutes on 2 cores, longer than a 5-minute candle: it decides
# on hourly candles (aggregated from the real 5-minute ones), and reads the fewest candles
# autotrader allows, so a cycle's prompts stay well inside its context. One long prompt can take
# minutes there, so the model call and the cycle get the longest time the settings allow (a
# client that times out and retries only makes the serial server redo the same work).
# The environment wins.
LLM_ENV_DEFAULTS = {
    "TIMEFRAME": "1h",
    "OHLCV_LIMIT": "20",
    "MODEL_TIMEOUT_SECS": "600",
    "CYCLE_DEADLINE_SECS": "3600",
}
RUN_CLI = "import sys; from autotrader.cli import main; sys.exit(main(sys.argv[1:]))"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autotrader.localllm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local LLM server in the foreground")
    serve.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--model", type=Path, help="a GGUF file (default: the packaged SmolLM2)")
    serve.add_argument("--alias", default=MODEL_ALIAS, help="the model id it answers to")
    serve.add_argument("--n-ctx", type=int, help="context size in tokens (default: 8192)")
    replay = commands.add_parser("replay", help="replay simulated hours on the local LLM")
    replay.add_argument("--hours", type=float, default=6.0, help="simulated hours (default 6)")
    replay.add_argument("--db", type=Path, default=DEFAULT_DB, help="database (default llm.db)")
    replay.add_argument("--server-log", type=Path, help="server log (default: beside the db)")
    report = commands.add_parser("report", help="model vs fallback per agent, of one run")
    report.add_argument("--db", type=Path, default=DEFAULT_DB, help="database (default llm.db)")
    report.add_argument("--run", dest="run_id", help="which run (default: the latest)")
    return parser


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "replay":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "replay":
            return _replay(args, rest)
        return _report(args.db, args.run_id)
    except ConfigError as error:
        print(f"autotrader.localllm: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except AutotraderError as error:
        print(f"autotrader.localllm: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    require_server_packages()
    from autotrader.localllm.app import N_CTX, serve
    from autotrader.localllm.model import gguf_path
    from autotrader.localllm.server import HOST, free_port

    model: Path = args.model or gguf_path()
    if not model.is_file():
        raise ConfigError(f"--model {model} is not a file; give a GGUF model file")
    port = args.port or free_port()
    print(f"local LLM {args.alias}: http://{HOST}:{port}/v1 ({model.name}); Ctrl-C stops it")
    sys.stdout.flush()
    serve(model, port, args.alias, args.n_ctx or N_CTX)
    return 0


def _replay(args: argparse.Namespace, runner_args: list[str]) -> int:
    if args.hours <= 0:
        raise ConfigError(f"--hours {args.hours} must be positive")
    require_server_packages()
    from autotrader.localllm.server import running_server

    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the server is stopped on the way out

    log = args.server_log or args.db.with_name(args.db.name + ".server.log")
    with running_server(log) as server:
        print(f"local LLM {server.alias} at {server.base_url} (log: {log})", flush=True)
        env = {**LLM_ENV_DEFAULTS, **os.environ, **server.model_env()}
        command = [sys.executable, "-c", RUN_CLI, "run", "--hours", str(args.hours)]
        code = _run_to_the_end([*command, "--db", str(args.db), *runner_args], env)
    if code != 0:
        return code
    return _report(args.db, None)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _run_to_the_end(command: list[str], env: dict[str, str]) -> int:
    """Run the agent; a stop request reaches it (Ctrl-C by the terminal, SIGTERM forwarded)
    and it finishes its cycle while the server, in its own session, still answers."""
    runner = subprocess.Popen(command, env=env)
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda signum, _: runner.send_signal(signum)),
    }
    try:
        return runner.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(db: Path, run_id: str | None) -> int:
    from autotrader.localllm.report import format_report, read_report

    print(format_report(read_report(db, run_id)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
