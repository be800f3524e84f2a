"""Hostile model answers for the loopback server: a rotation of bad kinds, each a change to what
the offline policy would have answered, applied to a share of the requests (the rest answer as
the policy does, so re-asks and later roles see both). Every kind is named, and counted when
sent."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from autotrader.agents.wire import Action, FinalText, ToolCall
from autotrader.schemas import Role

Change = Callable[[list[Action], "Rotation"], list[Action] | None]  # None: does not apply

MARKUP = "[/] [bold]buy[/bold] [type=string_type, input_value=42]"


def _handoff(actions: list[Action], prefix: str) -> ToolCall | None:
    return next((a for a in actions if isinstance(a, ToolCall) and a.name.startswith(prefix)), None)


def _with_payload(prefix: str, **changes: Any) -> Change:
    """The policy's handoff with some payload fields changed (a value of ... drops the field)."""

    def change(actions: list[Action], _: Rotation) -> list[Action] | None:
        call = _handoff(actions, prefix)
        if call is None:
            return None
        payload = {**call.arguments, **changes}
        payload = {k: v for k, v in payload.items() if v is not ...}
        return [ToolCall(call.name, payload)]

    return change


def _doubled(prefix: str, **other: Any) -> Change:
    """Two handoffs in one answer: the policy's, and a contradicting one."""

    def change(actions: list[Action], _: Rotation) -> list[Action] | None:
        call = _handoff(actions, prefix)
        if call is None:
            return None
        return [call, ToolCall(call.name, {**call.arguments, **other})]

    return change


def _verdict(actions: list[Action]) -> dict[str, Any] | None:
    text = actions[-1].text if actions and isinstance(actions[-1], FinalText) else ""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) and "decision" in parsed else None


def _verdict_as(**changes: Any) -> Change:
    def change(actions: list[Action], rotation: Rotation) -> list[Action] | None:
        verdict = _verdict(actions)
        if verdict is None:
            return None
        values = {k: (v(rotation) if callable(v) else v) for k, v in changes.items()}
        return [FinalText(json.dumps({**verdict, **values}))]

    return change


def _verdict_text(make: Callable[[str], str]) -> Change:
    def change(actions: list[Action], _: Rotation) -> list[Action] | None:
        return None if _verdict(actions) is None else [FinalText(make(actions[-1].text))]  # type: ignore[union-attr]

    return change


def _first_call_arguments(raw: str) -> Change:
    """The answer's first tool call with `raw` as its arguments text (broken JSON)."""

    def change(actions: list[Action], _: Rotation) -> list[Action] | None:
        calls = [a for a in actions if isinstance(a, ToolCall)]
        return None if not calls else [ToolCall(calls[0].name, {"raw": raw})]

    return change


def _approve_unchecked(actions: list[Action], _: Rotation) -> list[Action] | None:
    """The Judge approving at once, instead of calling pre_trade_check."""
    if _handoff(actions, "pre_trade_check") is None:
        return None
    verdict = {"decision": "APPROVE", "revised_qty": None, "violations": None, "notes": None}
    return [FinalText(json.dumps(verdict))]


def _check_with(**changes: Any) -> Change:
    def change(actions: list[Action], _: Rotation) -> list[Action] | None:
        call = _handoff(actions, "pre_trade_check")
        return None if call is None else [ToolCall(call.name, {**call.arguments, **changes})]

    return change


def _always(*answer: Action) -> Change:
    return lambda _actions, _rotation: list(answer)


def _eight_times_the_checked(rotation: Rotation) -> str:
    return format(rotation.last_checked_qty * 8, "f")


GENERIC: dict[str, Change] = {
    "plain text with markup": _always(FinalText(MARKUP)),
    "an empty answer": _always(FinalText("")),
    "control characters": _always(FinalText("\x1b[2J\x07\r\nAPPROVE")),
    "an unknown tool": _always(ToolCall("place_order", {"side": "BUY", "qty": "1"})),
    "a handoff to no such agent": _always(ToolCall("transfer_to_executor", {})),
    "broken JSON arguments": _first_call_arguments('{"symbol": "BTC'),
    "arguments that are a list": _first_call_arguments("[1, 2]"),
    "arguments that are markup": _first_call_arguments(MARKUP),
}
PLANNER: dict[str, Change] = {
    "mode YOLO": _with_payload("transfer_to_trader", mode="YOLO"),
    "explore_ratio 2": _with_payload("transfer_to_trader", explore_ratio=2),
    "next_wakeup_secs -5": _with_payload("transfer_to_trader", next_wakeup_secs=-5),
    "next_wakeup_secs 10**9": _with_payload("transfer_to_trader", next_wakeup_secs=10**9),
    "a plan without its mode": _with_payload("transfer_to_trader", mode=...),
    "a plan with an extra field": _with_payload("transfer_to_trader", leverage=100),
    "two plans": _doubled("transfer_to_trader", mode="HOLD"),
}
TRADER: dict[str, Change] = {
    "qty in full-width digits": _with_payload("transfer_to_judge", qty="\uff10.\uff10\uff10\uff11"),
    "qty in Arabic-Indic digits": _with_payload("transfer_to_judge", qty="\u0661"),
    "qty 1e-3": _with_payload("transfer_to_judge", qty="1e-3"),
    "qty -0.001": _with_payload("transfer_to_judge", qty="-0.001"),
    "qty 1000000": _with_payload("transfer_to_judge", qty="1000000"),
    "qty as a number": _with_payload("transfer_to_judge", qty=0.001),
    "qty empty": _with_payload("transfer_to_judge", qty=""),
    "action in lower case": _with_payload("transfer_to_judge", action="buy"),
    "confidence 7": _with_payload("transfer_to_judge", confidence=7),
    "a proposal without its hypothesis": _with_payload("transfer_to_judge", hypothesis=...),
    "a hypothesis of markup": _with_payload("transfer_to_judge", hypothesis=MARKUP),
    "a BUY and a SELL": _doubled("transfer_to_judge", action="SELL", qty="0.001"),
}
JUDGE: dict[str, Change] = {
    "an approval without the check": _approve_unchecked,
    "a check in Arabic-Indic digits": _check_with(qty="\u0661"),
    "a check of a huge BUY": _check_with(side="BUY", qty="1000"),
    "a revision to 8x the checked qty": _verdict_as(
        decision="REVISE", revised_qty=_eight_times_the_checked
    ),
    "a revision to 1000": _verdict_as(decision="REVISE", revised_qty="1000"),
    "a revision in full-width digits": _verdict_as(decision="REVISE", revised_qty="\uff11"),
    "decision MAYBE": _verdict_as(decision="MAYBE"),
    "a verdict with notes of markup": _verdict_as(notes=MARKUP),
    "a truncated verdict": _verdict_text(lambda text: text[: len(text) // 2]),
    "a verdict in a markdown fence": _verdict_text(lambda text: f"```json\n{text}\n```"),
}
KINDS: dict[Role, dict[str, Change]] = {
    "PLANNER": {**GENERIC, **PLANNER},
    "TRADER": {**GENERIC, **TRADER},
    "JUDGE": {**GENERIC, **JUDGE},
}


@dataclass
class Rotation:
    """The loopback's `tamper`: about half of the requests get a bad kind (of those that apply to
    the policy's answer, the one sent least so far); `sent` counts each kind sent."""

    seed: int = 12
    # The share of each role's requests made bad: the Judge's kinds need a real proposal, so the
    # roles before it are spared more often.
    share: dict[Role, float] = field(
        default_factory=lambda: {"PLANNER": 0.3, "TRADER": 0.4, "JUDGE": 0.7}
    )
    sent: Counter[str] = field(default_factory=Counter)
    last_checked_qty: Decimal = Decimal(0)
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, role: Role, actions: list[Action], asked: int) -> list[Action]:
        with self._lock:
            check = _handoff(actions, "pre_trade_check")
            if check is not None:
                self.last_checked_qty = Decimal(str(check.arguments.get("qty", "0")))
            if self._random.random() >= self.share[role]:
                return actions
            applicable = [
                (name, changed)
                for name, change in KINDS[role].items()
                if (changed := change(actions, self)) is not None
            ]
            if applicable:  # the kind sent least so far, so that every kind gets its turn
                name, changed = min(applicable, key=lambda kind: self.sent[f"{role} {kind[0]}"])
                self.sent[f"{role} {name}"] += 1
                return changed
            return actions

    @staticmethod
    def every_kind() -> set[str]:
        return {f"{role} {name}" for role, kinds in KINDS.items() for name in kinds}
