"""Page tokens: opaque, versioned, signed positions in the total order of lines.

The total order is (@timestamp, order_num, seq). `seq` is unique per line, so a position
never falls between two lines that compare equal, which is what makes paging exact even
when a whole page shares one timestamp. A token carries:

- the direction it continues in (older or newer);
- the boundary key, with the nanosecond timestamp as a string (JavaScript clients lose
  precision on integers past 2**53), or none for "from the far end";
- whether the boundary line itself is included (an empty page's way back);
- a fingerprint of the query, so a token cannot be replayed with other filters or tenants.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from logriver.core.errors import InvalidTokenError

TOKEN_VERSION = 1
Direction = Literal["older", "newer"]


@dataclass(frozen=True, order=True, init=False)
class SortKey:
    """A line's position: compares in the same order Elasticsearch sorts."""

    timestamp_ns: int
    order_num: int
    seq: str

    def __init__(self, timestamp_ns: int, order_num: int, seq: str) -> None:
        # One per line read: the whole __dict__ at once instead of a frozen dataclass's
        # object.__setattr__ per field (see Line in query/reader.py).
        object.__setattr__(self, "__dict__", {"timestamp_ns": timestamp_ns, "order_num": order_num, "seq": seq})

    def search_after(self) -> list[Any]:
        return [self.timestamp_ns, self.order_num, self.seq]

    def nudged(self, direction: Direction) -> SortKey:
        """The nearest possible key just past this one against `direction`, to include this line.

        seqs are fixed-width lowercase hex, so their string order is their numeric order and
        the neighbour of a seq is the number one above or below it.
        """
        step = -1 if direction == "newer" else 1
        width = len(self.seq)
        neighbour = int(self.seq, 16) + step
        return SortKey(self.timestamp_ns, self.order_num, f"{max(neighbour, 0):0{width}x}")

    @classmethod
    def from_sort_values(cls, values: list[Any]) -> SortKey:
        return cls(int(values[0]), int(values[1]), str(values[2]))


@dataclass(frozen=True)
class Cursor:
    direction: Direction
    key: SortKey | None  # None: start from the far end (the head for newer, the tail for older)
    inclusive: bool = False
    fingerprint: str = ""

    def effective_key(self) -> SortKey | None:
        """The key to pass to search_after, which is always exclusive."""
        if self.key is None or not self.inclusive:
            return self.key
        return self.key.nudged(self.direction)


def query_fingerprint(*parts: Any) -> str:
    """Short digest of everything that defines a result set; tokens are bound to it."""
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


class TokenCodec:
    """Encodes cursors as `payload.signature` in URL-safe base64, signed with HMAC-SHA256."""

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def encode(self, cursor: Cursor) -> str:
        payload = {
            "v": TOKEN_VERSION,
            "d": "o" if cursor.direction == "older" else "n",
            "k": None if cursor.key is None else [str(cursor.key.timestamp_ns), cursor.key.order_num, cursor.key.seq],
            "i": int(cursor.inclusive),
            "f": cursor.fingerprint,
        }
        raw = orjson.dumps(payload)
        return f"{_b64(raw)}.{_b64(self._sign(raw))}"

    def decode(self, token: str, fingerprint: str) -> Cursor:
        """Verify signature, version and query binding; any failure is `invalid_token`."""
        raw = self._verified_payload(token)
        try:
            payload = orjson.loads(raw)
            if payload.get("v") != TOKEN_VERSION:
                raise InvalidTokenError(
                    f"token version {payload.get('v')} is not supported; start again without a token"
                )
            cursor = _cursor_from_payload(payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise InvalidTokenError("the token is malformed; use a token exactly as returned") from None
        if cursor.fingerprint != fingerprint:
            raise InvalidTokenError(
                "the token belongs to a different query; send it with the same filters, window and q it came from"
            )
        return cursor

    def seal(self, payload: dict[str, Any]) -> str:
        """Any JSON payload as a signed token (the streams listing's snapshot and position)."""
        raw = orjson.dumps(payload)
        return f"{_b64(raw)}.{_b64(self._sign(raw))}"

    def unseal(self, token: str) -> dict[str, Any]:
        """The payload of a token `seal` made; anything else is `invalid_token`."""
        raw = self._verified_payload(token)
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidTokenError("the token is malformed; use a token exactly as returned") from None
        if not isinstance(payload, dict):
            raise InvalidTokenError("the token is malformed; use a token exactly as returned")
        return payload

    def _verified_payload(self, token: str) -> bytes:
        payload_part, _, signature_part = token.partition(".")
        try:
            raw, signature = _unb64(payload_part), _unb64(signature_part)
        except (binascii.Error, ValueError):
            raise InvalidTokenError("the token is malformed; use a token exactly as returned") from None
        if not signature or not hmac.compare_digest(signature, self._sign(raw)):
            raise InvalidTokenError(
                "the token signature does not match; it was altered or issued by another deployment"
            )
        return raw

    def _sign(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, raw, hashlib.sha256).digest()[:16]


def _cursor_from_payload(payload: dict[str, Any]) -> Cursor:
    key = payload["k"]
    directions: dict[str, Direction] = {"o": "older", "n": "newer"}
    direction = directions[payload["d"]]
    sort_key = None if key is None else SortKey(int(key[0]), int(key[1]), str(key[2]))
    if sort_key is not None:
        int(sort_key.seq, 16)  # a non-hex seq cannot have come from us
    return Cursor(direction, sort_key, bool(payload.get("i")), str(payload["f"]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
