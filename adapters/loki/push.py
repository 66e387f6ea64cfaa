"""Loki push bodies (JSON, or snappy-compressed protobuf) as lines, in the order they were sent.

Stream labels become labels, structured metadata becomes `fields` (text values). A body that does
not decode is refused whole, as Loki does; a stream or entry that cannot become a line is refused
on its own and the others are stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cramjam
from google.protobuf.message import DecodeError

from logriver.adapters.loki.proto import PushRequest
from logriver.core import rejections as reasons
from logriver.core.errors import BadRequestError, request_too_large
from logriver.core.jsonload import load_json
from logriver.core.rejections import Rejection
from logriver.ingest.schemas import LineIn

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)', re.DOTALL)
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
# A decoded entry: (labels or the reason its stream is refused, ns timestamp, line, metadata).
Entry = tuple[dict[str, str] | str, int, str, dict[str, str]]


class PushBodyError(BadRequestError):
    type = "invalid_push_body"


def snappy_block(body: bytes, max_bytes: int) -> bytes:
    """Inflate snappy's block format, refusing (413) a declared size over the request limit first."""
    declared, shift = 0, 0
    for byte in body[:10]:  # the block starts with its inflated length as a varint
        declared |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if declared > max_bytes:
        raise request_too_large(max_bytes)
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError, or ValueError on garbage
        raise PushBodyError(f"the body is not snappy-compressed (block format, as Loki expects): {exc}") from None


def decode_protobuf(body: bytes) -> Iterator[Entry]:
    try:
        request = PushRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise PushBodyError(f"the body is not a Loki PushRequest in protobuf: {exc}") from None
    for stream in request.streams:
        labels = parse_labels(stream.labels)
        for entry in stream.entries:
            timestamp = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
            metadata = {pair.name: pair.value for pair in entry.structuredMetadata}
            yield labels, timestamp, entry.line, metadata


def decode_json(body: bytes) -> list[Entry]:
    """Every entry of a JSON push; a body of the wrong shape is refused whole (400), as Loki does."""
    data = load_json(body)
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list):
        raise PushBodyError('the body must be {"streams": [{"stream": {...}, "values": [["<ns>", "<line>"], ...]}]}')
    entries: list[Entry] = []
    for s, stream in enumerate(streams):
        if not isinstance(stream, dict) or not isinstance(stream.get("values", []), list):
            raise PushBodyError(f"streams[{s}] must be an object with `stream` labels and a `values` array")
        labels = _json_labels(stream.get("stream", {}))
        entries.extend((labels, *_json_entry(s, v, value)) for v, value in enumerate(stream.get("values", [])))
    return entries


def _json_labels(labels: Any) -> dict[str, str] | str:
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "`stream` must be an object of text label values"
    return check_labels(labels)


def _json_entry(s: int, v: int, value: Any) -> tuple[int, str, dict[str, str]]:
    where = f"streams[{s}].values[{v}]"
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise PushBodyError(f'{where} must be ["<ns timestamp>", "<line>"] or with a third, metadata object')
    timestamp, line, *rest = value
    if not isinstance(timestamp, str) or not timestamp.isdigit() or len(timestamp) > 19:
        raise PushBodyError(
            f"{where}: the timestamp must be a string of nanoseconds since the epoch, got {timestamp!r}"[:300]
        )
    if not isinstance(line, str):
        raise PushBodyError(f"{where}: the line must be a string")
    metadata = rest[0] if rest else {}
    if not isinstance(metadata, dict) or not all(isinstance(m, str) for m in metadata.values()):
        raise PushBodyError(f"{where}: structured metadata must be an object of text values")
    return int(timestamp), line, metadata


def parse_labels(text: str) -> dict[str, str] | str:
    """Prometheus' label text `{job="x", env="prod"}`, or why it is not one."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return f'labels {text[:100]!r} must be written as {{name="value", ...}}'
    inner, labels, position = inner[1:-1], {}, 0
    while position < len(inner) and inner[position:].strip():
        match = _PAIR.match(inner, position)
        if match is None:
            return f"labels {text[:100]!r} cannot be parsed at character {position + 1}"
        labels[match[1]] = re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m[0]], match[2])
        position = match.end()
    return check_labels(labels)


def check_labels(labels: dict[str, str]) -> dict[str, str] | str:
    if not labels:
        return "at least one label pair is required per stream"
    bad = next((name for name in labels if not _LABEL_NAME.fullmatch(name)), None)
    return f"label name {bad[:100]!r} must match [a-zA-Z_][a-zA-Z0-9_]*" if bad is not None else labels


def entries_to_lines(entries: Iterator[Entry] | list[Entry]) -> list[LineIn | Rejection]:
    out: list[LineIn | Rejection] = []
    for labels, timestamp, line, metadata in entries:
        if isinstance(labels, str):
            out.append(reasons.STREAM_LABELS.at(len(out), problem=labels))
        else:
            out.append(LineIn(timestamp, line, labels, None, dict(metadata) or None, None))
    return out
