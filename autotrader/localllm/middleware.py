"""An ASGI middleware that puts `rewrite` between a client and llama-cpp-python's server app.

Only `POST .../chat/completions` is touched: its body is rewritten (a `RequestRejected` is
answered with HTTP 400 invalid_request_error, never passed on to crash the server), and a
response that carries a grammar-built tool call is rewritten back. A body that is not JSON
goes through untouched, for the server to answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from typing import Any

from autotrader.localllm.rewrite import (
    GrammarCheck,
    Json,
    Post,
    RequestRejected,
    rewrite_request,
    rewrite_response,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("autotrader.localllm")


def _is_chat(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and str(scope.get("path", "")).rstrip("/").endswith("/chat/completions")
    )


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(key, value) for key, value in headers if key.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: Json) -> None:
    data = json.dumps(body).encode()
    headers = _with_length([(b"content-type", b"application/json")], len(data))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def describe_request(request: Json) -> str:
    """A request in a few words, for the server log: messages, characters, what is forced."""
    messages = request.get("messages") or []
    chars = sum(len(str(message.get("content") or "")) for message in messages)
    tools = [str((tool.get("function") or {}).get("name")) for tool in request.get("tools") or []]
    choice = request.get("tool_choice")
    forced = choice if isinstance(choice, str) else (choice or {}).get("function", {}).get("name")
    parts = [f"{len(messages)} messages, {chars} chars"]
    if tools:
        parts.append(f"tools {','.join(tools)} ({forced or 'not forced'})")
    if request.get("response_format"):
        parts.append(f"response_format {request['response_format'].get('type')}")
    return "; ".join(parts)


def describe_answer(status: int, body: bytes) -> str:
    """A response in a few words: its status and the answer's text or tool calls."""
    try:
        message = json.loads(body)["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"{status} {body[:300]!r}"
    calls = message.get("tool_calls") or []
    said = [f"{c['function']['name']}({c['function']['arguments']})" for c in calls]
    return f"{status} {' '.join(said) or repr(message.get('content'))}"[:600]


class RewritingMiddleware:
    def __init__(self, app: App, check: GrammarCheck) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_chat(scope):
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        post: Post = "none"
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if isinstance(request, dict):
            try:
                rewritten, post = rewrite_request(request, self.check)
            except RequestRejected as error:
                log.warning("rejected a request: %s", error)
                error_body = {"message": str(error), "type": "invalid_request_error"}
                await send_json(send, 400, {"error": {**error_body, "param": None, "code": None}})
                return
            raw = json.dumps(rewritten).encode()
            log.info("request: %s", describe_request(rewritten))
        scope = dict(scope, headers=_with_length(list(scope.get("headers", [])), len(raw)))
        started = time.perf_counter()
        respond = _Rewriter(send, post)
        await self.app(scope, _replay(raw, receive), respond)
        log.info("answer in %.1f s: %s", time.perf_counter() - started, respond.described)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the (rewritten) body once, then defers to the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


class _Rewriter:
    """A send that buffers a non-streamed response, rewrites a successful JSON body (if the
    request needs it) before sending it, and remembers it for the log. Streamed responses
    (server-sent events) go through as they come."""

    def __init__(self, send: Send, post: Post) -> None:
        self.send = send
        self.post = post
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.described = "no answer"

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            if _is_stream(message):
                self.described = f"{message.get('status')} (streamed)"
                await self.send(message)
                self.start = None
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        data = b"".join(self.chunks)
        status = int(self.start.get("status", 0))
        if status == 200 and self.post != "none":
            with suppress(ValueError):  # not JSON after all: sent as the server wrote it
                data = json.dumps(rewrite_response(json.loads(data), self.post)).encode()
        self.described = describe_answer(status, data)
        headers = _with_length(list(self.start.get("headers", [])), len(data))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": data, "more_body": False})


def _is_stream(start: Message) -> bool:
    headers = dict(start.get("headers", []))
    return bytes(headers.get(b"content-type", b"")).startswith(b"text/event-stream")
