"""The reasoning setting of a role's model: an effort for reasoning models, nothing for others
(a Chat Completions server such as llama.cpp would reject the parameter)."""

from __future__ import annotations

from typing import Literal, cast

from openai.types.shared import Reasoning

Effort = Literal["minimal", "low", "medium", "high"]


def reasoning(effort: str | None) -> Reasoning | None:
    return Reasoning(effort=cast(Effort, effort)) if effort else None
