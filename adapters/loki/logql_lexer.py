"""LogQL's tokens: strings (Go-quoted or backtick raw), numbers, durations, bytes, names, operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from logriver.core.errors import BadRequestError


class LogQLError(BadRequestError):
    """A query that does not parse, or asks for what logriver does not answer exactly."""

    type = "bad_data"


def parse_error(pos: int, message: str) -> LogQLError:
    # Loki words its syntax errors this way; columns count from 1.
    return LogQLError(f"parse error at line 1, col {pos + 1}: {message}", {"position": pos})


def unsupported(part: str, why: str = "") -> LogQLError:
    suffix = f": {why}" if why else ""
    return LogQLError(f"unsupported LogQL: {part} is not supported by logriver{suffix}", {"unsupported": part})


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, duration, bytes, name, op, end
    text: str  # operators and names as written; strings unquoted
    pos: int


_DURATION_UNITS = "ns|us|µs|ms|s|m|h|d|w|y"
_BYTES_UNITS = "b|kib|kb|mib|mb|gib|gb|tib|tb|pib|pb|eib|eb"
_SCAN = re.compile(
    rf"""
    (?P<space>\s+)
    |(?P<duration>(?:\d+(?:\.\d+)?(?:{_DURATION_UNITS}))+)(?![\w.])
    |(?P<bytes>\d+(?:\.\d+)?(?i:{_BYTES_UNITS}))(?![\w.])
    |(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)(?![\w.])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>\|=|\|~|!=|!~|=~|==|>=|<=|[{{}}()\[\],|=<>+\-*/%^])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == '"':
            value, pos2 = _quoted(text, pos)
            tokens.append(Token("string", value, pos))
            pos = pos2
            continue
        if char == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise parse_error(pos, "unterminated raw string")
            tokens.append(Token("string", text[pos + 1 : end], pos))
            pos = end + 1
            continue
        match = _SCAN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise parse_error(pos, f"unexpected character {char!r}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """A Go interpreted string literal starting at `start`: its value and the position after it."""
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\n":
            break
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        escape = text[pos + 1 : pos + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            pos += 2
        elif escape in ("u", "U", "x"):
            width = {"u": 4, "U": 8, "x": 2}[escape]
            digits = text[pos + 2 : pos + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise parse_error(pos, f"invalid escape \\{escape}{digits}")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise parse_error(pos, f"escape \\{escape}{digits} is not a valid code point")
            out.append(chr(code))
            pos += 2 + width
        else:
            raise parse_error(pos, f"invalid escape sequence \\{escape} in a quoted string; use a backtick string")
    raise parse_error(start, "unterminated quoted string")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_BYTES_FACTOR = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "tib": 1024**4,
    "pb": 1000**5,
    "pib": 1024**5,
    "eb": 1000**6,
    "eib": 1024**6,
}
_BYTES = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]+)")


def duration_ns(text: str) -> int | None:
    """`1h30m`, `250ms`, `1.5s` as nanoseconds, or None when `text` is not a duration."""
    total, pos = 0.0, 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _DURATION_NS[match.group(2)]
        pos = match.end()
    return int(total) if text else None


def bytes_value(text: str) -> float | None:
    """`20MB`, `1KiB`, `3b` as a number of bytes, or None."""
    match = _BYTES.fullmatch(text)
    if match is None or match.group(2).lower() not in _BYTES_FACTOR:
        return None
    return float(match.group(1)) * _BYTES_FACTOR[match.group(2).lower()]
