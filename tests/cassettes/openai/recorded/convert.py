"""Convert pydantic-ai's recorded OpenAI Responses cassettes (shared/data/openai) to vcrpy's
standard format: `parsed_body` becomes `body.string` JSON; nothing else in the bodies changes.
Request headers are reduced to content-type, and the account-identifying response headers
(openai-organization, openai-project, set-cookie) are dropped.

    .venv/bin/python tests/cassettes/openai/recorded/convert.py ../shared/data/openai
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
DROP_RESPONSE_HEADERS = {"openai-organization", "openai-project", "set-cookie"}


def convert(source: Path) -> None:
    cassette = yaml.safe_load(source.read_text())
    for interaction in cassette["interactions"]:
        request, response = interaction["request"], interaction["response"]
        request["body"] = json.dumps(request.pop("parsed_body"))
        request["headers"] = {"content-type": ["application/json"]}
        response["body"] = {"string": json.dumps(response.pop("parsed_body"))}
        response["headers"] = {
            key: value
            for key, value in response["headers"].items()
            if key.lower() not in DROP_RESPONSE_HEADERS and key.lower() != "content-length"
        }
    cassette.setdefault("version", 1)
    (HERE / source.name).write_text(yaml.safe_dump(cassette, sort_keys=False, width=100))
    print("converted", source.name)


if __name__ == "__main__":
    for path in sorted(Path(sys.argv[1]).glob("*.yaml")):
        convert(path)
