"""A structured output schema built once and cheap for the SDK to look at on every run.

`AgentOutputSchema` is a dataclass, so the SDK's per-run agent bookkeeping (the stable identity
it computes for every agent, twice a run) deep-copies its JSON schema and type adapter through
`dataclasses.asdict`: about a millisecond a run for the Judge. This wrapper is the SDK's public
`AgentOutputSchemaBase`, delegating to one `AgentOutputSchema`, and not a dataclass.
"""

from __future__ import annotations

from typing import Any

from agents import AgentOutputSchema, AgentOutputSchemaBase


class FixedOutputSchema(AgentOutputSchemaBase):
    """The strict JSON schema of `output_type`, built once; validation as the SDK's own."""

    def __init__(self, output_type: type[Any]) -> None:
        self._schema = AgentOutputSchema(output_type, strict_json_schema=True)

    @property
    def output_type(self) -> type[Any]:
        return self._schema.output_type

    def is_plain_text(self) -> bool:
        return self._schema.is_plain_text()

    def name(self) -> str:
        return self._schema.name()

    def json_schema(self) -> dict[str, Any]:
        return self._schema.json_schema()

    def is_strict_json_schema(self) -> bool:
        return self._schema.is_strict_json_schema()

    def validate_json(self, json_str: str) -> Any:
        return self._schema.validate_json(json_str)
