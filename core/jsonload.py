"""The one JSON loader for request bodies: orjson, plus a bound on nesting depth."""

from __future__ import annotations

from typing import Any

import orjson

from logriver.core.errors import BadRequestError

# orjson parses up to 1024 levels but serialises only 255, and marshmallow and the document
# flattening recurse in Python: a body nested deeper than this is refused before any of them.
MAX_JSON_DEPTH = 64


class JsonTooDeepError(BadRequestError):
    type = "json_too_deep"


def json_too_deep(what: str) -> JsonTooDeepError:
    return JsonTooDeepError(
        f"{what} nests objects and arrays deeper than {MAX_JSON_DEPTH} levels; flatten it",
        {"limit": "max_json_depth", "max_depth": MAX_JSON_DEPTH},
    )


def load_json(raw: bytes | str, what: str = "the body") -> Any:
    """Parse JSON text; a 400 that says why when it is not JSON or nests too deep."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise json_too_deep(what) from None
        raise BadRequestError(f"{what} is not valid JSON: {exc}", type="invalid_json") from None
    if not within_depth(value):
        raise json_too_deep(what)
    return value


def within_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` nests at most `max_depth` containers; level by level, so any depth is safe."""
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    # A plain loop over each level: this runs on every request body, and per-container
    # generators and (container, depth) tuples were most of its cost.
    while level:
        depth += 1
        if depth > max_depth:
            return False
        deeper = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                if type(child) is dict or type(child) is list:
                    deeper.append(child)
        level = deeper
    return True
