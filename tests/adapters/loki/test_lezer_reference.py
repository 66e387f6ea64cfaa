"""Syntax against Grafana's own LogQL grammar (npm `@grafana/lezer-logql`, Apache-2.0, the parser of
Grafana's query editor): every query logriver's parser accepts, Grafana's grammar accepts, and
every query logriver refuses as a syntax error, it refuses too. Node and the package are installed
by .ci/run (`npm ci` in tests/adapters/loki/lezer)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from logriver.adapters.loki.logql_lexer import LogQLError
from logriver.adapters.loki.logql_parser import parse_logql
from tests.adapters.loki import dataset
from tests.adapters.loki.reference import log_text
from tests.adapters.loki.test_logql_conformance import _log_cases, _metric_cases
from tests.adapters.loki.test_logql_parser import ACCEPTED, REFUSED

LEZER = Path(__file__).parent / "lezer"


def grafana_accepts(queries: list[str]) -> list[bool]:
    """Whether Grafana's grammar parses each query without an error node."""
    lines = "\n".join(json.dumps(q) for q in queries) + "\n"
    done = subprocess.run(
        ["node", "check.cjs"], input=lines, capture_output=True, text=True, cwd=LEZER, timeout=120, check=True
    )
    return [bool(flag) for flag in json.loads(done.stdout)]


def _conformance_queries() -> list[str]:
    queries = [log_text(case["parts"]) for case in _log_cases(dataset.base_ns())]
    for case in _metric_cases():
        inner = f"{case['op']}({log_text(case['parts'])} [{case['range']}s])"
        queries.append(case["wrapper"][1].format(inner))
    return queries


# Loki's own grammar joins label filters written side by side with `and`; Grafana's editor grammar
# does not know that form. logriver follows Loki.
LOKI_ONLY = {'{app="a"} | logfmt | (status=200 or status=201) latency <= 250ms'}


def test_what_logriver_accepts_grafana_parses():
    queries = [q for q in ACCEPTED if q not in LOKI_ONLY] + _conformance_queries()
    for query in queries:
        parse_logql(query)
    rejected = [q for q, ok in zip(queries, grafana_accepts(queries), strict=True) if not ok]
    assert not rejected, rejected
    assert grafana_accepts(sorted(LOKI_ONLY)) == [False] * len(LOKI_ONLY)  # the list stays exact


def test_what_logriver_calls_a_syntax_error_grafana_refuses_too():
    syntax_errors = []
    for query, _ in REFUSED:
        try:
            parse_logql(query)
        except LogQLError as error:
            if "syntax error" in error.message and query:
                syntax_errors.append(query)
    assert len(syntax_errors) >= 3
    accepted = [q for q, ok in zip(syntax_errors, grafana_accepts(syntax_errors), strict=True) if ok]
    assert not accepted, accepted
