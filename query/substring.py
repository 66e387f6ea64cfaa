"""Exact substring filtering: a sound Elasticsearch prefilter on the `message` terms, then Python.

Why the prefilter never loses a line. `message` is a `text` field with the standard analyzer
(UAX#29 word breaks, then per-code-point lower-casing). Take the needle lower-cased with Python's
`str.lower` and a maximal run `r` of ASCII letters and digits in it:
- If a message contains the needle, its lower-cased form contains `r`. The only characters whose
  `str.lower` yields ASCII letters or digits are those letters and digits, KELVIN SIGN (-> k) and
  LATIN CAPITAL I WITH DOT (-> i + U+0307). Each is a letter or digit for UAX#29, which never
  breaks between letters and digits, so the characters that produced `r` lie in ONE word; the
  analyzer lower-cases them to exactly `r` (Java maps the two signs to k and i too).
- The standard tokenizer cuts a word longer than 255 UTF-16 units into pieces. A piece that is
  not the last has 255 units, so at least 128 code points: `r` may straddle a cut only when the
  word has such a piece, and `.*r.*` OR the regular expression `.{128,}` then matches.
- A character of the needle next to `r` that always breaks a word against ASCII letters and
  digits (BREAKS) pins that side of the word: no such character is made by lower-casing anything
  else. A word pinned on the left starts with `r` (`r` has at most 255 units, so the first piece
  does too): a prefix query. Pinned on both sides, the word is `r`: a term query.
So every message containing the needle matches each run's clause; the clauses are ANDed. A needle
without a run has no text prefilter: the caller's other filters and the exact check decide. The
same holds for a case-sensitive needle, whose containment implies the lower-cased one.
"""

from __future__ import annotations

import re
from typing import Any

# ASCII characters that UAX#29 never joins to an ASCII letter or digit (`.`, `'`, `:`, `,`, `;`,
# `_` and `"` can join, so they are left out).
BREAKS = frozenset(" \t\n\r\x0b\x0c!#$%&()*+-/<=>?@[\\]^`{|}~")
# A run longer than this is cut to its start (Elasticsearch caps a regular expression's length).
MAX_RUN = 100
# Each run costs at most one pass over the terms; the longest few narrow enough.
MAX_RUNS = 3
# The shortest a non-last piece of a cut word can be, in code points (255 UTF-16 units / 2).
CUT_PIECE = 128
_RUN = re.compile(r"[a-z0-9]+")


def contains_folded(message: str, needle: str) -> bool:
    """Case-insensitive containment: Python's `str.lower` on both (full Unicode lower-casing)."""
    return needle.lower() in message.lower()


def prefilter(needle: str) -> dict[str, Any] | None:
    """A query every message containing `needle` (in any case) matches; None: nothing to narrow."""
    folded = needle.lower()
    runs = sorted((_run_clause(folded, m.start(), m.end()) for m in _RUN.finditer(folded)), key=_cost)[:MAX_RUNS]
    pinned = [clause for clause in runs if "regexp" not in clause]
    loose = [clause for clause in runs if "regexp" in clause]
    if loose:
        # (run1 or cut) and (run2 or cut) == (run1 and run2) or cut. Kept apart, each expression
        # stays small for Elasticsearch to determinize (one union of all trips its effort limit).
        cut = {"regexp": {"message": {"value": f".{{{CUT_PIECE},}}", "flags": "NONE"}}}
        pinned.append({"bool": {"should": [{"bool": {"filter": loose}}, cut], "minimum_should_match": 1}})
    return {"bool": {"filter": pinned}} if pinned else None


def _run_clause(folded: str, start: int, end: int) -> dict[str, Any]:
    left = start > 0 and folded[start - 1] in BREAKS
    right = end < len(folded) and folded[end] in BREAKS
    if end - start > MAX_RUN:
        end, right = start + MAX_RUN, False
    run = folded[start:end]
    if left and right:
        return {"term": {"message": run}}
    if left:
        return {"prefix": {"message": run}}
    # A run is ASCII letters and digits only: nothing in it needs escaping.
    pattern = f".*{run}" if right else f".*{run}.*"
    return {"regexp": {"message": {"value": pattern, "flags": "NONE"}}}


def _cost(clause: dict[str, Any]) -> tuple[int, int]:
    # Term and prefix lookups are cheap; a regular expression walks every term of the field.
    kind = next(iter(clause))
    body = clause[kind]["message"]
    size = len(body if isinstance(body, str) else body["value"])
    return ({"term": 0, "prefix": 1}.get(kind, 2), -size)
