"""Plan, Proposal and Verdict: the only things the models may say, as strict pydantic models.

They serve as the SDK's strict handoff and output types, and `to_payload()` of any instance is
JSON that validates against the seed's draft-07 schemas in `autotrader/seed_schemas/`. Optional
fields are nullable (strict mode makes every field required) and left out of stored JSON when null.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from importlib.resources import files
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

QTY_PATTERN = r"^\d+(\.\d+)?$"  # the seed's text, as exported; JSON Schema's \d is [0-9]
ASCII_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def ascii_decimal(text: str) -> str:
    r"""A quantity is a plain decimal in ASCII digits: Python's (and pydantic's) `\d` would also
    take full-width or Arabic-Indic digits, which Decimal() then reads as numbers."""
    if not ASCII_DECIMAL.fullmatch(text):
        raise ValueError(f"{text!r} is not a plain decimal in ASCII digits, e.g. 0.001")
    return text


def parse_quantity(text: str) -> Decimal:
    """A quantity from text, only if it is a plain ASCII decimal (raises ValueError)."""
    return Decimal(ascii_decimal(text))


Qty = Annotated[
    str, StringConstraints(pattern=QTY_PATTERN, max_length=40), AfterValidator(ascii_decimal)
]

PolicyId = Literal["rsi_mean_reversion", "ma_crossover", "breakout", "hold"]
Side = Literal["BUY", "SELL"]  # an order's side
Role = Literal["PLANNER", "TRADER", "JUDGE"]  # who made a decision
ROLES: tuple[Role, ...] = ("PLANNER", "TRADER", "JUDGE")


def _without_titles(schema: dict[str, Any]) -> None:
    """Titles repeat the field names and are sent with every request: leave them out."""
    schema.pop("title", None)
    for value in schema.get("properties", {}).values():
        if isinstance(value, dict):
            value.pop("title", None)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_without_titles)


# --- strategy families: each `params` has a typed shape, still an object in the stored JSON ---


class RsiMeanReversionParams(StrictModel):
    """Buy when RSI(period) falls below `oversold`, sell when it rises above `overbought`."""

    period: int = Field(ge=2, le=50)
    oversold: float = Field(ge=5, le=50)
    overbought: float = Field(ge=50, le=95)

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> RsiMeanReversionParams:
        if self.oversold >= self.overbought:
            raise ValueError("oversold must be below overbought")
        return self


class MaCrossoverParams(StrictModel):
    """Long while the fast moving average is above the slow one; flat otherwise."""

    fast: int = Field(ge=2, le=50)
    slow: int = Field(ge=3, le=200)

    @model_validator(mode="after")
    def _fast_is_faster(self) -> MaCrossoverParams:
        if self.fast >= self.slow:
            raise ValueError("fast must be shorter than slow")
        return self


class BreakoutParams(StrictModel):
    """Buy a close above the prior `lookback` candles' high; sell a close below their low."""

    lookback: int = Field(ge=5, le=200)


class HoldParams(StrictModel):
    """The do-nothing baseline: never trades, so its outcome is what waiting earns."""


class RsiMeanReversion(StrictModel):
    policy_id: Literal["rsi_mean_reversion"]
    params: RsiMeanReversionParams


class MaCrossover(StrictModel):
    policy_id: Literal["ma_crossover"]
    params: MaCrossoverParams


class Breakout(StrictModel):
    policy_id: Literal["breakout"]
    params: BreakoutParams


class Hold(StrictModel):
    policy_id: Literal["hold"]
    params: HoldParams


Strategy = Annotated[
    RsiMeanReversion | MaCrossover | Breakout | Hold, Field(discriminator="policy_id")
]


def _payload_schema(schema: dict[str, Any]) -> None:
    """A payload's schema as sent: no titles, and no docstring (the agent's instructions say
    what the payload is for)."""
    _without_titles(schema)
    schema.pop("description", None)


def _drop_discriminator(schema: dict[str, Any]) -> None:
    """OpenAI structured outputs know no `discriminator` keyword; the `policy_id` const of each
    branch already tells the branches apart, so the exported schema stays exact without it."""
    _payload_schema(schema)
    for value in schema.values():
        if isinstance(value, dict):
            value.pop("discriminator", None)
            _drop_discriminator(value)


# --- the three payloads ---


FAMILY_PARAMS: dict[str, type[StrictModel]] = {
    "rsi_mean_reversion": RsiMeanReversionParams,
    "ma_crossover": MaCrossoverParams,
    "breakout": BreakoutParams,
    "hold": HoldParams,
}


def strategy_wire_schema() -> dict[str, Any]:
    """One strategy as the Planner writes it: a policy_id and one flat params object holding
    every family's fields, null where the family has none. A quarter of the size of the union
    of four typed families, which every Planner request carries; the Plan is validated against
    the typed family all the same (nulls dropped first)."""
    fields: dict[str, Any] = {}
    owners: dict[str, list[str]] = {}
    for family, model in FAMILY_PARAMS.items():
        for name, field_schema in model.model_json_schema()["properties"].items():
            fields[name] = {"anyOf": [field_schema, {"type": "null"}]}
            owners.setdefault(family, []).append(name)
    whose = "; ".join(f"{family}: {', '.join(names)}" for family, names in owners.items())
    return {
        "type": "object",
        "properties": {
            "policy_id": {"type": "string", "enum": list(FAMILY_PARAMS)},
            "params": {
                "type": "object",
                "description": f"{whose}; null for other policies' fields",
                "properties": fields,
                "required": list(fields),
                "additionalProperties": False,
            },
        },
        "required": ["policy_id", "params"],
        "additionalProperties": False,
    }


class Plan(StrictModel):
    """The Planner's choice for one cycle: observe or trade, which strategies, when to wake."""

    model_config = ConfigDict(json_schema_extra=_drop_discriminator)

    mode: Literal["OBSERVE", "TRADE"]
    explore_ratio: float = Field(ge=0, le=1)
    next_wakeup_secs: int = Field(ge=30, le=3600)
    strategies: list[Strategy] = Field(min_length=1, max_length=3)

    @model_validator(mode="before")
    @classmethod
    def _params_without_nulls(cls, data: Any) -> Any:
        """The wire's flat params hold null for other families' fields: drop them."""
        if not isinstance(data, dict) or not isinstance(data.get("strategies"), list):
            return data
        strategies = [
            {**item, "params": {k: v for k, v in item["params"].items() if v is not None}}
            if isinstance(item, dict) and isinstance(item.get("params"), dict)
            else item
            for item in data["strategies"]
        ]
        return {**data, "strategies": strategies}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["properties"]["strategies"]["items"] = strategy_wire_schema()
        return schema


class Proposal(StrictModel):
    """The Trader's proposed order (or HOLD) under one of the plan's strategies."""

    model_config = ConfigDict(json_schema_extra=_payload_schema)

    action: Literal["BUY", "SELL", "HOLD"]
    qty: Qty
    policy_id: PolicyId
    hypothesis: str = Field(max_length=120)
    confidence: float = Field(ge=0, le=1)

    @property
    def quantity(self) -> Decimal:
        return parse_quantity(self.qty)


class Verdict(StrictModel):
    """The Judge's ruling on a proposal, against the deposit cap and the exchange's rules."""

    model_config = ConfigDict(json_schema_extra=_payload_schema)

    decision: Literal["APPROVE", "REVISE", "REJECT"]
    revised_qty: Qty | None
    violations: list[str] | None = Field(max_length=4)
    notes: str | None = Field(max_length=120)

    @model_validator(mode="after")
    def _revise_names_a_qty(self) -> Verdict:
        if self.decision == "REVISE" and self.revised_qty is None:
            raise ValueError("a REVISE verdict needs revised_qty")
        return self


Payload = Plan | Proposal | Verdict


def significant(value: float, digits: int = 8) -> float:
    """A float with only the digits a reader (or a policy) can use: every brief costs tokens."""
    return float(f"{value:.{digits}g}")


def compact(value: Any, digits: int = 8) -> Any:
    """`value` with every float cut to `digits` significant digits (dicts and lists walked)."""
    if isinstance(value, float):
        return significant(value, digits)
    if isinstance(value, dict):
        return {key: compact(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [compact(item, digits) for item in value]
    return value


def final_quantity(proposal: Proposal, verdict: Verdict) -> Decimal:
    """The quantity a verdict lets through: its revision if it has one, else the proposal's."""
    return parse_quantity(verdict.revised_qty or proposal.qty)


def to_payload(model: BaseModel) -> dict[str, Any]:
    """The stored JSON of a payload (or part of one): the seed schema's shape, nulls left out."""
    return model.model_dump(mode="json", exclude_none=True)


SchemaName = Literal["plan", "proposal", "verdict"]


def seed_schema(name: SchemaName) -> dict[str, Any]:
    """The committed draft-07 schema that every stored payload must satisfy."""
    text = files("autotrader.seed_schemas").joinpath(f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def seed_validator(name: SchemaName) -> Any:
    r"""A draft-07 validator of a seed schema whose patterns have JSON Schema's (ECMA-262)
    meaning: `\d` is [0-9], as Python's `re` only gives with re.ASCII."""
    import jsonschema  # only the summary and the tests validate stored payloads

    def ascii_pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Any:
        if validator.is_type(instance, "string") and not re.search(pattern, instance, re.ASCII):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    checker = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft7Validator, {"pattern": ascii_pattern}
    )
    return checker(seed_schema(name))


SAFE_PLAN = Plan(
    mode="OBSERVE",
    explore_ratio=0.0,
    next_wakeup_secs=3600,
    strategies=[Hold(policy_id="hold", params=HoldParams())],
)
SAFE_PROPOSAL = Proposal(
    action="HOLD", qty="0", policy_id="hold", hypothesis="fallback: no valid proposal", confidence=0
)
HOLD_VERDICT = Verdict(  # a HOLD needs no check: what the Judge's rule answers
    decision="APPROVE", revised_qty=None, violations=None, notes="HOLD: nothing to execute"
)
SAFE_VERDICT = Verdict(
    decision="REJECT", revised_qty=None, violations=["fallback: no valid verdict"], notes=None
)
