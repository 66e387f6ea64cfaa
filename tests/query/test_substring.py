"""The substring prefilter never loses a line: checked against the real analyzer of `message`.

Needles are cut from generated messages (and from their lower-cased forms, in any case); a
message containing its needle must be among the prefilter's hits on a real index made from the
lines template. Exactness is Python's job (query/substring.py), so only the superset is checked.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from logriver.core.indices import layout_of
from logriver.query.substring import contains_folded, prefilter

# Characters on every side of UAX#29's rules: joiners (. _ : ' ,), breakers, letters that
# lower-case to ASCII (KELVIN SIGN, I WITH DOT), combining marks, CJK, emoji, ZWJ, sharp s.
ALPHABET = [*"aAbZz09 .,_:'-/\n", "é", "\u212a", "\u0130", "ß", "日", "\U0001f600", "\u0301", "\u200d"]
_examples = itertools.count()

short_parts = st.text(alphabet=ALPHABET, max_size=24)
# Runs around the tokenizer's 255-unit cut, so that needles straddle it.
long_runs = st.one_of(
    st.text(alphabet="abZ7", min_size=240, max_size=560),
    st.builds(lambda size, char: char * size, st.integers(120, 560), st.sampled_from(["a", "Z", "é"])),
)
# Words between separators, as in log lines; the separators include the joiners.
words = st.text(alphabet=[*"aAbZ09é", "\u212a", "\u0130"], min_size=1, max_size=6)
separators = st.sampled_from([*" .,_:'-/=\n", " [", "] ", ": ", "\u0301", "\u200d", "日", "\U0001f600"])
worded = st.lists(st.tuples(words, separators).map("".join), min_size=1, max_size=8).map("".join)
messages = st.lists(st.one_of(short_parts, worded, worded, long_runs), min_size=1, max_size=4).map("".join)


async def _index(es, settings, index_prefix: str) -> str:
    """An index made by the real lines template, so `message` is analyzed as in production."""
    templates = layout_of(settings).templates()
    await es.indices.put_index_template(name=f"{index_prefix}-lines", **templates[f"{index_prefix}-lines"])
    index = f"{index_prefix}-lines-substring"
    await es.options(ignore_status=400).indices.create(index=index)
    return index


async def _store(es, index: str, group: str, texts: list[str]) -> None:
    operations = []
    for number, text in enumerate(texts):
        operations.append(json.dumps({"index": {"_index": index, "_id": f"{group}-{number}"}}))
        doc = {"@timestamp": "2026-01-01T00:00:00Z", "message": text, "stream_id": group, "tenant": "t"}
        operations.append(json.dumps(doc))
    response = await es.bulk(operations="\n".join(operations) + "\n", refresh=True)
    assert not response["errors"], response


async def _hits(es, index: str, group: str, needle: str) -> set[str]:
    clauses: list[dict] = [{"term": {"stream_id": group}}]
    narrowing = prefilter(needle)
    if narrowing is not None:
        clauses.append(narrowing)
    response = await es.search(index=index, query={"bool": {"filter": clauses}}, size=100, source=False)
    return {hit["_id"] for hit in response["hits"]["hits"]}


@examples(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(messages, min_size=1, max_size=5), data=st.data())
async def test_every_message_containing_the_needle_passes(es, settings, index_prefix, texts, data):
    index = await _index(es, settings, index_prefix)
    group = f"g{next(_examples)}"
    await _store(es, index, group, texts)
    for _ in range(4):
        number = data.draw(st.integers(0, len(texts) - 1))
        source = data.draw(st.sampled_from([texts[number], texts[number].lower()]))
        start = data.draw(st.integers(0, len(source)))
        needle = source[start : data.draw(st.integers(start, min(len(source), start + 300)))]
        needle = data.draw(st.sampled_from([needle, needle.upper(), needle.lower(), needle.swapcase()]))
        if not needle or not contains_folded(texts[number], needle):
            continue
        assert f"{group}-{number}" in await _hits(es, index, group, needle), (texts[number], needle)


async def test_a_needle_across_the_cut_of_a_long_word_is_found(es, settings, index_prefix):
    """Words past 255 characters are cut into pieces; a needle spanning the cut is still found."""
    index = await _index(es, settings, index_prefix)
    long_word = "x" * 250 + "needle" + "y" * 50  # pieces: x*250 + "needl" | "e" + y*50
    await _store(es, index, "cut", [long_word, "a needle in a haystack", "nothing here"])
    assert await _hits(es, index, "cut", "XNEEDLEY") == {"cut-0"}
    assert await _hits(es, index, "cut", "needle") == {"cut-0", "cut-1"}


async def test_the_prefilter_narrows(es, settings, index_prefix):
    """Sound is not enough: lines without the needle's words are left out (pins included)."""
    index = await _index(es, settings, index_prefix)
    texts = ["disk full on node-1", "full disk", "diskette fullness", "the disk fills", "Kelvin \u212aey"]
    await _store(es, index, "n", texts)
    # "full disk" passes (both words are there): the exact check in Python drops it.
    assert await _hits(es, index, "n", "disk full") == {"n-0", "n-1"}
    assert await _hits(es, index, "n", "sk ful") == {"n-0", "n-1"}
    assert await _hits(es, index, "n", "isk") == {"n-0", "n-1", "n-2", "n-3"}
    assert await _hits(es, index, "n", " KEY") == {"n-4"}
    assert await _hits(es, index, "n", "-") == {f"n-{i}" for i in range(5)}  # no run: no narrowing


def test_runs_become_the_cheapest_sound_clause():
    cut = {"regexp": {"message": {"value": ".{128,}", "flags": "NONE"}}}

    def loose(*patterns: str) -> dict:
        clauses = [{"regexp": {"message": {"value": value, "flags": "NONE"}}} for value in patterns]
        return {"bool": {"should": [{"bool": {"filter": clauses}}, cut], "minimum_should_match": 1}}

    assert prefilter("timeout") == {"bool": {"filter": [loose(".*timeout.*")]}}
    assert prefilter("Disk Full!") == {"bool": {"filter": [{"term": {"message": "full"}}, loose(".*disk")]}}
    assert prefilter("x=1.5") is not None and prefilter("-->") is None
    # A run past the cap keeps its start and loses its right-hand pin.
    capped = prefilter(" " + "a" * 150 + " ")
    assert capped == {"bool": {"filter": [{"prefix": {"message": "a" * 100}}]}}
