"""Line ids: the identity rule, written in the layout of the index that holds the line.

The identity rule: a line with a client id is (tenant, stream, client id); else, with an
order_num, (tenant, stream, @timestamp, order_num); else (request digest, position). A replay
gets the same id and `create` refuses it. Ids are only unique within their index (time bucket).

Which bytes spell that identity is a property of the index, fixed for its whole life: the lines
template names its id layout in the mapping's `_meta` (ID_LAYOUT_KEY), an index without it (made
by an older template) keeps layout 1. A line written before an upgrade and retried after it
lands in the same index, so it gets the same id again. Only this module builds or reads ids;
everything else treats them as opaque strings.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from logriver.core.errors import LogriverError, StorageUnavailableError
from logriver.core.storage import Storage, translate_es_errors
from logriver.ingest.schemas import LineIn

ID_LAYOUT_KEY = "logriver_id_layout"  # in the lines indices' mapping `_meta`; never change it on an index

IdFunction = Callable[[str, str, LineIn, int, bytes], str]


def line_id(tenant: str, sid: str, line: LineIn, position: int, request_digest: bytes) -> str:
    """Layout 1: 32 hex characters of a hash of the identity key (random-looking, compresses badly)."""
    if line.client_id is not None:
        key = orjson.dumps(["id", tenant, sid, line.client_id])
    elif line.order_num is not None:
        key = orjson.dumps(["on", tenant, sid, str(line.timestamp_ns), line.order_num])
    else:
        key = b"rq" + request_digest + position.to_bytes(8, "big")
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def line_id_sorted(tenant: str, sid: str, line: LineIn, position: int, request_digest: bytes) -> str:
    """Layout 2: a prefix that sorts like the index (stream, then time), then a hash of the identity key.

    The bytes go out as unpadded url-safe base64, which Elasticsearch stores as the decoded bytes
    (`Uid.encodeId`). Neighbours on disk share the prefix, so the terms dictionary and the stored
    fields compress it away; only the hash stays random.

    The hash covers the whole key (tenant and full stream id included): the 6-byte stream prefix is
    there for locality, never for uniqueness. Collisions, counted where two keys share a prefix:
    - order_num lines: stream + @timestamp (8 bytes, big-endian) + 80-bit hash. Only keys of the
      same stream prefix and the same nanosecond compete: with 10^13 lines each sharing its
      nanosecond with 1,000 others, 5*10^15 pairs / 2^80 (1.2*10^24) = 4*10^-9 collisions expected.
    - client-id lines: stream + 96-bit hash, no time (their identity has none). Every such line of
      a stream and bucket competes: 10^10 of them make 5*10^19 pairs / 2^96 (7.9*10^28) = 6*10^-10
      collisions expected.
    - request lines: stream + (96-bit hash of the request + position) mod 2^96, no time either (a
      retried line whose time the server assigned, an ES `_bulk` document or an OTLP record
      without one, gets a new time). A request's lines never collide with each other; two
      requests do only if their hashes lie closer than their positions: with 10^7 requests of at
      most 10^5 lines in one stream and bucket, 5*10^13 pairs * 2*10^5 / 2^96 = 1.3*10^-10.
    The layouts differ in length, so they never meet.
    """
    stream = _stream_prefix(sid)
    if line.client_id is not None:
        key = orjson.dumps(["id", tenant, sid, line.client_id])
        return stream + _base64(hashlib.blake2b(key, digest_size=12).digest())
    if line.order_num is not None:
        key = orjson.dumps(["on", tenant, sid, line.timestamp_ns, line.order_num])
        rest = line.timestamp_ns.to_bytes(8, "big") + hashlib.blake2b(key, digest_size=10).digest()
        return stream + _base64(rest)
    return stream + _base64(((_request_base(request_digest) + position) & _MASK_96).to_bytes(12, "big"))


@functools.lru_cache(maxsize=256)
def _request_base(request_digest: bytes) -> int:
    # Once per request, not per line: the lines of a request get consecutive ids, which compress.
    return int.from_bytes(hashlib.blake2b(b"rq" + request_digest, digest_size=12).digest(), "big")


_MASK_96 = (1 << 96) - 1
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_MAX_PREFIXES = 100_000
_prefixes: dict[str, str] = {}  # stream id -> its id prefix


def _base64(raw: bytes) -> str:
    # Pieces of whole 3-byte groups (6, 12, 18 bytes): no padding, and their encodings concatenate
    # into the encoding of the whole, canonical, so Elasticsearch stores the 18 or 24 bytes.
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode()


def _stream_prefix(sid: str) -> str:
    """The first 6 bytes of the stream id, encoded once per stream (computed per line, it cost 0.5 µs)."""
    prefix = _prefixes.get(sid)
    if prefix is None:
        if len(_prefixes) >= _MAX_PREFIXES:
            _prefixes.clear()
        prefix = _prefixes[sid] = _base64(bytes.fromhex(sid[:12]))
    return prefix


ID_FUNCTIONS: dict[int, IdFunction] = {1: line_id, 2: line_id_sorted}


def id_layout_of(mapping: dict[str, Any]) -> int:
    """The id layout an index's (or a template's) mapping names; 1 when it names none."""
    meta = mapping.get("_meta") or {}
    return int(meta.get(ID_LAYOUT_KEY, 1))


def template_id_function(template: dict[str, Any]) -> IdFunction:
    """The id function of the indices an index template makes (the bench builds ids as the writer does)."""
    return ID_FUNCTIONS[id_layout_of(template["template"]["mappings"])]


class IdLayouts:
    """Each lines index's id function, learnt once from its mapping: every worker reads the same answer."""

    def __init__(self, storage: Storage, capacity: int = 4096) -> None:
        self.storage = storage
        self._known: dict[str, int] = {}
        self._capacity = capacity  # indices are time buckets: a few per day; forgetting costs one read

    async def functions(self, indices: Iterable[str]) -> dict[str, IdFunction]:
        """The id function of each index; an index that does not exist yet is created first."""
        wanted = set(indices)
        missing = sorted(wanted - self._known.keys())
        if missing:
            await self._learn(missing)
        return {name: ID_FUNCTIONS[self._known[name]] for name in wanted}

    async def _learn(self, names: list[str]) -> None:
        found = await self._read(names)
        absent = [name for name in names if name not in found]
        for name in absent:
            # Made here through the template (as a write would make it), so that its layout is
            # the one its mapping then says, whoever wins the race to create it.
            await self.storage.create_lines_index(name)
        if absent:
            found |= await self._read(absent)
        if len(self._known) + len(names) > self._capacity:
            self._known.clear()
        for name in names:
            layout = found.get(name)
            if layout is None:  # deleted again between its creation and the read: no guess, the request fails
                raise StorageUnavailableError(f"the lines index {name} vanished while it was created; retry later")
            if layout not in ID_FUNCTIONS:
                # An index made by a newer logriver: writing it with another layout would store retries twice.
                raise LogriverError(f"index {name} uses line id layout {layout}, unknown to this version")
            self._known[name] = layout

    async def _read(self, names: list[str]) -> dict[str, int]:
        with translate_es_errors("reading the id layout of lines indices", self.storage.layout):
            answer = await self.storage.client.indices.get_mapping(
                index=",".join(names), ignore_unavailable=True, allow_no_indices=True, expand_wildcards="open,closed"
            )
        return {name: id_layout_of(body.get("mappings", {})) for name, body in answer.body.items() if name in names}
