"""JSON schemas made safe for llama.cpp's JSON-schema-to-grammar converter (llama-cpp-python
0.3.36), which would otherwise crash the server or constrain nothing.

The converter copies a pattern's backslash escapes (`\\d`, `\\.`) verbatim into the grammar;
llama.cpp cannot parse that grammar and the server segfaults. `safe_schema` rewrites each escape
as a bracket class (`\\d` -> `[0-9]`, ASCII digits as the seed schemas mean them, `\\.` -> `[.]`),
drops a pattern it cannot express, bounds strings the schema leaves unbounded, and inlines local
`$ref`s. Dropping a pattern widens the grammar and a bound narrows it; either way the caller
still validates every answer against the real schema.
"""

from __future__ import annotations

from typing import Any

from autotrader.errors import AutotraderError

# Escapes outside a [...] class, and inside one (where only a range can be spliced in).
CLASS_OUTSIDE = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[a-zA-Z0-9_]",
    "W": "[^a-zA-Z0-9_]",
    "s": "[ ]",
    "S": "[^ ]",
}
CLASS_INSIDE = {"d": "0-9", "w": "a-zA-Z0-9_", "s": " "}
MAX_REF_DEPTH = 20
# A string the schema leaves unbounded gets this bound in the grammar: a small model otherwise
# writes one string until max_tokens cuts the JSON short.
MAX_STRING_CHARS = 160


class SchemaNotSupported(AutotraderError):
    """A schema the grammar converter cannot take (a recursive or unresolvable $ref)."""


def safe_pattern(pattern: str) -> str | None:
    """The pattern with every backslash escape as a bracket class, or None if it cannot be
    expressed so (the converter also asserts on an unanchored pattern)."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            i += 2
            if in_class:
                if escaped in CLASS_INSIDE:
                    out.append(CLASS_INSIDE[escaped])
                elif escaped in "DWS" or escaped.isalnum():
                    return None  # a negated class or \n, \u... inside [...]: not expressible
                else:
                    out.append(escaped if escaped not in "]\\^-" else "\\" + escaped)
            elif escaped in CLASS_OUTSIDE:
                out.append(CLASS_OUTSIDE[escaped])
            elif escaped.isalnum():
                return None  # \b, \n, \u1234, backreferences: not supported
            else:
                out.append(f"[{escaped}]" if escaped not in "]\\^" else f"[\\{escaped}]")
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _sanitize(node: Any) -> Any:
    if isinstance(node, list):
        return [_sanitize(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            safe = safe_pattern(value)
            if safe is not None:
                result[key] = safe
        else:
            result[key] = _sanitize(value)
    bounded = {"maxLength", "pattern", "enum", "const", "format"} & result.keys()
    if (
        result.get("type") == "string"
        and not bounded
        and result.get("minLength", 0) < MAX_STRING_CHARS
    ):
        result["maxLength"] = MAX_STRING_CHARS
    return result


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local `#/$defs/...` reference replaced by its definition."""
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_REF_DEPTH:
            raise SchemaNotSupported("schema $ref nesting is too deep (a recursive schema?)")
        if isinstance(node, list):
            return [walk(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in defs:
                raise SchemaNotSupported(f"schema $ref {ref} does not resolve")
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return walk({**defs[name], **rest}, depth + 1)
        return {
            key: walk(value, depth)
            for key, value in node.items()
            if key not in ("$defs", "definitions")
        }

    inlined: dict[str, Any] = walk(schema, 0)
    return inlined


def safe_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as llama.cpp's converter can take it: refs inlined, patterns as classes."""
    sanitized: dict[str, Any] = _sanitize(inline_refs(schema))
    return sanitized
