"""Line ids follow the layout of the index that holds the line, so the identity rule survives an upgrade.

Every test writes through the real app into the real Elasticsearch: replays of each identity rule
are refused under today's layout, an index made by the earlier template keeps its ids (and refuses
a retry of a line an earlier logriver wrote there), two app instances agree on an index neither
knew, including one a late line creates on the fly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from logriver.core.streams import stream_id
from logriver.core.timeutil import NS_PER_SECOND, format_rfc3339_ns, now_ns
from logriver.ingest.lineids import ID_LAYOUT_KEY, line_id, line_id_sorted
from logriver.ingest.schemas import LineIn
from logriver.ingest.writer import SequenceAllocator, _line_document, request_digest
from tests.adapters.es_helpers import bulk, read_back, statuses
from tests.helpers import auth

BEFORE_TEMPLATE = Path(__file__).parents[2] / "bench" / "data" / "lines-before.json"
TENANT = "acme"  # the tenant of the admin-acme and rw-acme tokens
DAY_NS = 86400 * NS_PER_SECOND


def in_layout_2(doc_id: str, labels: dict[str, str]) -> bool:
    """Whether an id is canonical url-safe base64 whose bytes start with its stream's prefix."""
    raw = base64.urlsafe_b64decode(doc_id + "=" * (-len(doc_id) % 4))
    canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=") == doc_id
    return canonical and len(raw) in (18, 24) and raw[:6] == bytes.fromhex(stream_id(TENANT, labels)[:12])


async def post_raw(api, body: bytes) -> dict:
    """The same bytes every time, so a resent request has the same digest."""
    headers = {**auth(), "Content-Type": "application/json"}
    response = await api.http.post("/api/v1/lines", data=body, headers=headers, params={"refresh": "wait_for"})
    assert response.status == 200, await response.text()
    return await response.json()


async def lines_of(api, **labels: str) -> list[dict]:
    params = {f"labels__{k}": v for k, v in labels.items()}
    return (await api.get_lines(limit=1000, **params))["lines"]


async def id_layout(es, index: str) -> int | None:
    mapping = await es.indices.get_mapping(index=index)
    return (mapping[index]["mappings"].get("_meta") or {}).get(ID_LAYOUT_KEY)


def day_index(prefix: str, ns: int) -> str:
    return f"{prefix}-lines-{format_rfc3339_ns(ns)[:10].replace('-', '.')}"


def test_sorted_ids_order_a_stream_by_time_and_keep_each_rule_apart():
    sid, digest = stream_id(TENANT, {"a": "1"}), request_digest(TENANT, b"body")
    early, late = LineIn(1_000, "m", {"a": "1"}, order_num=5), LineIn(2_000, "m", {"a": "1"}, order_num=0)
    assert line_id_sorted(TENANT, sid, early, 0, digest) < line_id_sorted(TENANT, sid, late, 0, digest)
    # The same key is the same id; a line of another tenant with the same stream prefix is not.
    assert line_id_sorted(TENANT, sid, early, 3, digest) == line_id_sorted(TENANT, sid, early, 9, b"x")
    assert line_id_sorted("other", sid, early, 0, digest) != line_id_sorted(TENANT, sid, early, 0, digest)
    # Client ids and request positions carry no time: a resent line whose time changed keeps its id.
    named = LineIn(1_000, "m", {"a": "1"}, client_id="c1")
    assert line_id_sorted(TENANT, sid, named, 0, digest) == line_id_sorted(
        TENANT, sid, named._replace(timestamp_ns=9), 5, b""
    )
    plain = LineIn(1_000, "m", {"a": "1"})
    assert line_id_sorted(TENANT, sid, plain, 2, digest) == line_id_sorted(
        TENANT, sid, plain._replace(timestamp_ns=9), 2, digest
    )
    assert line_id_sorted(TENANT, sid, plain, 2, digest) != line_id_sorted(TENANT, sid, plain, 3, digest)


# Small domains, so that generated pairs often share a stream, a time, an order_num or a request.
_line = st.builds(
    lambda tenant, app, ts, order, client, position, request: (tenant, app, ts, order, client, position, request),
    st.sampled_from(["acme", "other"]),
    st.sampled_from(["a", "b"]),
    st.integers(0, 2),
    st.one_of(st.none(), st.integers(0, 2)),
    st.one_of(st.none(), st.sampled_from(["c1", "c2"])),
    st.integers(0, 2),
    st.sampled_from([b"r1", b"r2"]),
)


def _both_ids(spec: tuple) -> tuple[str, str]:
    tenant, app, ts, order, client, position, request = spec
    if order is None and client is None:
        # A request and a position name one line of one body: its labels are that line's (its time
        # may still differ, when the server assigned it).
        app = "ab"[(position + len(tenant) + request[-1]) % 2]
    labels = {"app": app}
    sid = stream_id(tenant, labels)
    line = LineIn(ts, "m", labels, order_num=order, client_id=client)
    digest = request_digest(tenant, request)
    return line_id(tenant, sid, line, position, digest), line_id_sorted(tenant, sid, line, position, digest)


@given(_line, _line, st.lists(st.booleans(), min_size=7, max_size=7))
def test_the_sorted_layout_identifies_exactly_the_lines_the_earlier_one_did(a, other, kept):
    """Same identity rule: two lines share a layout-2 id exactly when they share a layout-1 id."""
    b = tuple(mine if keep else theirs for mine, theirs, keep in zip(a, other, kept, strict=True))  # a near a
    (old_a, new_a), (old_b, new_b) = _both_ids(a), _both_ids(b)
    assert (old_a == old_b) == (new_a == new_b)


async def test_each_identity_rule_refuses_replays_under_the_sorted_layout(api, es, index_prefix):
    t = format_rfc3339_ns(now_ns() - NS_PER_SECOND)
    named = {"@timestamp": t, "message": "named", "id": "client-1"}
    ordered = {"@timestamp": t, "message": "ordered", "order_num": 7}
    plain = orjson.dumps({"labels": {"r": "2"}, "lines": [{"@timestamp": t, "message": "plain"}] * 2})
    await api.post_lines({"labels": {"r": "2"}, "lines": [named, ordered]})
    await post_raw(api, plain)
    # Replays: rebatched, the client-id line moved in time within its bucket, the same body again.
    moved = {**named, "@timestamp": format_rfc3339_ns(now_ns() - 2 * NS_PER_SECOND)}
    await api.post_lines({"labels": {"r": "2"}, "lines": [ordered, moved]})
    await post_raw(api, plain)
    stored = await lines_of(api, r="2")
    assert sorted(line["message"] for line in stored) == ["named", "ordered", "plain", "plain"]
    assert all(in_layout_2(line["id"], {"r": "2"}) for line in stored)
    assert await id_layout(es, day_index(index_prefix, now_ns() - NS_PER_SECOND)) == 2


async def test_a_resent_es_bulk_without_timestamps_stores_its_documents_once(api):
    """The server gives such documents the time it received them: their ids must not depend on it."""
    rows = [{"create": {"_index": "notime"}}, {"message": "one"}, {"create": {"_index": "notime"}}, {"message": "two"}]
    assert statuses(await bulk(api, *rows)) == [201, 201]
    await asyncio.sleep(0.01)  # a later receipt time
    await bulk(api, *rows)
    stored = await read_back(api, index="notime")
    assert sorted(line["message"] for line in stored) == ["one", "two"]


async def test_an_index_of_the_earlier_template_keeps_its_ids_and_refuses_an_earlier_write(
    make_api, es, index_prefix, settings
):
    yesterday = now_ns() - DAY_NS
    old_index = day_index(index_prefix, yesterday)
    before = json.loads(BEFORE_TEMPLATE.read_text().replace("{prefix}", index_prefix))
    await es.indices.put_index_template(name=f"{index_prefix}-lines", **before)
    await es.indices.create(index=old_index)
    # An earlier logriver wrote this line there, with the ids of its time.
    labels = {"u": "1"}
    sid = stream_id(TENANT, labels)
    earlier = LineIn(yesterday, "written before the upgrade", labels, order_num=3)
    document = _line_document(TENANT, sid, earlier, SequenceAllocator.format(1, 0, "abcdef"), format_rfc3339_ns(1))
    await es.create(index=old_index, id=line_id(TENANT, sid, earlier, 0, b""), document=document, refresh=True)
    api = await make_api()  # installs today's template over the earlier one
    template = (await es.indices.get_index_template(name=f"{index_prefix}-lines"))["index_templates"][0]
    assert template["index_template"]["template"]["mappings"]["_meta"][ID_LAYOUT_KEY] == 2
    retried = {"@timestamp": format_rfc3339_ns(yesterday), "message": earlier.message, "order_num": 3}
    fresh = {"@timestamp": format_rfc3339_ns(yesterday + 1), "message": "after the upgrade"}
    await api.post_lines({"labels": labels, "lines": [retried, fresh]})
    stored = await lines_of(api, u="1")
    assert [line["message"] for line in stored] == ["written before the upgrade", "after the upgrade"]
    assert await id_layout(es, old_index) is None
    assert not any(in_layout_2(line["id"], labels) for line in stored)
    assert all(len(line["id"]) == 32 and int(line["id"], 16) >= 0 for line in stored)  # hex, as before
    new_index = day_index(index_prefix, now_ns())
    assert new_index in (await es.indices.get(index=f"{index_prefix}-lines-*")).body
    assert await id_layout(es, new_index) == 2


async def test_two_instances_agree_on_a_bucket_that_one_of_them_creates_on_the_fly(make_api, es, index_prefix):
    late_ns = now_ns() - 3 * DAY_NS  # a past bucket: nobody made it ahead of time
    late_index = day_index(index_prefix, late_ns)
    first, second = await make_api(), await make_api()
    assert not await es.indices.exists(index=late_index)
    body = orjson.dumps(
        {
            "labels": {"w": "2"},
            "lines": [
                {"@timestamp": format_rfc3339_ns(late_ns), "message": "ordered", "order_num": 1},
                {"@timestamp": format_rfc3339_ns(late_ns), "message": "named", "id": "n1"},
                {"@timestamp": format_rfc3339_ns(late_ns + 1), "message": "plain"},
            ],
        }
    )
    # Both send the same request at once, as a client retrying on another worker might.
    answers = await asyncio.gather(post_raw(first, body), post_raw(second, body))
    assert [answer["accepted"] for answer in answers] == [3, 3]
    await post_raw(first, body)
    await post_raw(second, body)
    stored = await lines_of(first, w="2")
    assert sorted(line["message"] for line in stored) == ["named", "ordered", "plain"]
    assert await id_layout(es, late_index) == 2
    assert all(in_layout_2(line["id"], {"w": "2"}) for line in stored)


def test_the_request_digest_is_the_one_earlier_versions_wrote():
    """Lines without order_num or id get their identity from it: a replay after an upgrade must match."""
    body = b'{"lines": [{"@timestamp": 1, "message": "m"}]}'
    assert request_digest("acme", body) == hashlib.blake2b(b"acme\0" + body, digest_size=16).digest()
