"""The bulk API: NDJSON actions in, lines through the LineWriter, one item per action out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from logriver.adapters.escompat.mapping import DocumentMapping, MappingError, document_line, raw_line
from logriver.core import rejections as reasons
from logriver.core.errors import BadRequestError, OverloadedError
from logriver.core.jsonload import MAX_JSON_DEPTH, within_depth
from logriver.core.rejections import Reason, Rejection
from logriver.core.settings import Settings
from logriver.core.timeutil import now_ns
from logriver.ingest.fastpath import MAX_CLIENT_ID_CHARS, MAX_ORDER_NUM
from logriver.ingest.schemas import LineIn, RequestLabels, accepted_window, checked_line, validate_line
from logriver.ingest.writer import EXISTS, UNAVAILABLE, LineWriter, request_digest

WRITE_OPS = ("index", "create")
_SOURCE_OPS = ("index", "create", "update")
_KNOWN_OPS = (*_SOURCE_OPS, "delete")
_SHARDS = {"total": 1, "successful": 1, "failed": 0}


@dataclass(frozen=True)
class ItemError:
    """Why one action failed; answered in its item, the other actions go on."""

    status: int
    type: str
    reason: str

    @classmethod
    def of(cls, reason: Reason, **values: Any) -> ItemError:
        return cls(reason.status, reason.code, reason.text(**values))


@dataclass
class BulkAction:
    position: int
    op: str
    index: str | None
    doc_id: str | None
    source: Any = None
    error: ItemError | None = None


@dataclass(frozen=True)
class BulkRequest:
    tenant: str
    body: bytes  # already inflated; also the identity of lines without `_id`
    default_index: str | None  # from `/{index}/_bulk`
    refresh: bool


def malformed(reason: str) -> BadRequestError:
    """A body that is not a bulk request at all: Elasticsearch refuses the whole request too."""
    return BadRequestError(reason, type="illegal_argument_exception")


def parse_bulk(body: bytes, default_index: str | None) -> list[BulkAction]:
    """Pair action lines with their document lines; malformed action lines fail the request."""
    rows = [(number, raw) for number, raw in enumerate(body.split(b"\n"), 1) if raw.strip()]
    actions: list[BulkAction] = []
    cursor = 0
    while cursor < len(rows):
        number, raw = rows[cursor]
        op, meta = _action_line(number, raw)
        action = _action(len(actions), op, meta, default_index)
        cursor += 1
        if op in _SOURCE_OPS:
            if cursor == len(rows):
                raise malformed(f"the {op} action on line [{number}] has no document line after it")
            _attach_source(action, rows[cursor][1])
            cursor += 1
        actions.append(action)
    if not actions:
        raise BadRequestError("Validation Failed: 1: no requests added;", type="action_request_validation_exception")
    return actions


def _action_line(number: int, raw: bytes) -> tuple[str, dict[str, Any]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"Malformed action/metadata line [{number}]: not JSON ({exc})") from None
    if not _shallow(raw, data):
        raise malformed(f"Malformed action/metadata line [{number}]: nests deeper than {MAX_JSON_DEPTH} levels")
    op, meta = next(iter(data.items())) if isinstance(data, dict) and len(data) == 1 else (None, None)
    if op not in _KNOWN_OPS:
        raise malformed(
            f"Malformed action/metadata line [{number}], expected one of [create, delete, index, update] "
            f"but found [{op if op is not None else raw[:60].decode(errors='replace')}]"
        )
    if meta is not None and not isinstance(meta, dict):
        raise malformed(f"Malformed action/metadata line [{number}]: the {op} metadata must be an object")
    return op, meta or {}


def _action(position: int, op: str, meta: dict[str, Any], default_index: str | None) -> BulkAction:
    index = meta.get("_index") or default_index
    doc_id = meta.get("_id")
    action = BulkAction(position, op, index if isinstance(index, str) else None, None)
    if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool):
        action.doc_id = str(doc_id)
    elif doc_id is not None:
        action.error = ItemError.of(reasons.ID_NOT_TEXT)
    if action.index is None:
        action.error = ItemError.of(reasons.INDEX_MISSING)
    return action


def _attach_source(action: BulkAction, raw: bytes) -> None:
    try:
        source = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        action.error = action.error or ItemError.of(reasons.DOCUMENT_NOT_JSON, error=exc)
        return
    if not _shallow(raw, source):
        reason = f"the document nests objects and arrays deeper than {MAX_JSON_DEPTH} levels; flatten it"
        action.error = action.error or ItemError(400, "document_parsing_exception", reason)
        return
    if not isinstance(source, dict):
        action.error = action.error or ItemError.of(reasons.DOCUMENT_NOT_OBJECT, kind=type(source).__name__)
    action.source = source


def _shallow(raw: bytes, value: Any) -> bool:
    """Whether a line's JSON nests at most MAX_JSON_DEPTH levels; counting brackets spares the walk."""
    # Brackets inside strings count too, so a low count proves it; a high one needs the walk.
    return raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH or within_depth(value)


class BulkService:
    """Turns bulk actions into lines, writes them once, and reports each action's outcome."""

    def __init__(self, writer: LineWriter, settings: Settings):
        self.writer = writer
        self.settings = settings
        self.mapping = DocumentMapping.from_settings(settings)

    async def run(self, request: BulkRequest) -> dict[str, Any]:
        """The bulk answer, one item per action; whole-request 429/503 only when nothing was stored."""
        started = time.monotonic()
        actions = parse_bulk(request.body, request.default_index)
        self.writer.storage.require_ready()
        valid, problems = self._lines(actions)
        digest = request_digest(request.tenant, request.body)
        result = await self.writer.write_lines(request.tenant, valid, digest, refresh=request.refresh, partial=True)
        if valid and result.accepted == 0 and UNAVAILABLE in result.outcomes:
            raise OverloadedError("storage is shedding load; nothing was stored, retry the request")
        problems.update({r.index: ItemError(400, r.type, r.message) for r in result.rejected})
        outcomes = {
            position: (doc_id, outcome)
            for (position, _), doc_id, outcome in zip(valid, result.ids, result.outcomes, strict=False)
        }
        for position, (_, outcome) in outcomes.items():
            if outcome == UNAVAILABLE:
                problems[position] = ItemError.of(reasons.STORAGE_SHEDDING_LOAD)
        items = [render_item(a, problems.get(a.position), *outcomes.get(a.position, (None, None))) for a in actions]
        return {
            "took": int((time.monotonic() - started) * 1000),
            "errors": any("error" in item[next(iter(item))] for item in items),
            "items": items,
        }

    def _lines(self, actions: list[BulkAction]) -> tuple[list[tuple[int, LineIn]], dict[int, ItemError]]:
        received = now_ns()
        window = accepted_window(self.settings, received)
        labels = RequestLabels({}, self.settings)
        valid: list[tuple[int, LineIn]] = []
        problems: dict[int, ItemError] = {}
        for action in actions:
            if action.error:
                problems[action.position] = action.error
            elif action.op not in WRITE_OPS:
                problems[action.position] = ItemError.of(reasons.UNSUPPORTED_ACTION, op=action.op)
            else:
                try:
                    line = document_line(action.source, action.index or "", action.doc_id, self.mapping, received)
                except MappingError as exc:
                    problems[action.position] = ItemError(400, exc.type, exc.message)
                    continue
                result = _checked(action.position, line, labels, self.settings, window)
                if isinstance(result, Rejection):
                    problems[action.position] = ItemError(400, result.type, result.message)
                else:
                    valid.append((action.position, result))
        return valid, problems


def _checked(
    position: int, line: LineIn, labels: RequestLabels, settings: Settings, window: tuple[int | None, int]
) -> LineIn | Rejection:
    """A mapped document through the native write path's checks, worded as the native API words them."""
    order_num, client_id = line.order_num, line.client_id
    # What the mapping makes is always of the line schema's types; only these two bounds can be off.
    if (order_num is None or order_num <= MAX_ORDER_NUM) and (
        client_id is None or 1 <= len(client_id) <= MAX_CLIENT_ID_CHARS
    ):
        return checked_line(position, line, labels, settings, window)
    return validate_line(position, raw_line(line), labels, settings, window)


def render_item(
    action: BulkAction, problem: ItemError | None, written_id: str | None, outcome: str | None
) -> dict[str, Any]:
    """One bulk item in Elasticsearch's shape: `{op: {_index, _id, status, result | error}}`."""
    item: dict[str, Any] = {"_index": action.index, "_id": action.doc_id or written_id}
    # Only a client `_id` makes a replay visible: a retried request without ids is answered as
    # first time (201), or Fluent Bit would retry a chunk of all-409 items forever.
    replayed = outcome == EXISTS and action.doc_id is not None
    if problem is None and replayed and action.op == "create":
        problem = ItemError.of(reasons.ALREADY_EXISTS, doc_id=action.doc_id)
    if problem is not None:
        item.update(
            status=problem.status, error={"type": problem.type, "reason": problem.reason, "index": action.index}
        )
    else:
        # An `index` replay answers 200 like Elasticsearch re-indexing an id, but "noop": the
        # first line stays as written (lines are immutable), so nothing was updated.
        item.update(
            _version=1,
            result="noop" if replayed else "created",
            _shards=_SHARDS,
            _seq_no=0,
            _primary_term=1,
            status=200 if replayed else 201,
        )
    return {action.op: item}
