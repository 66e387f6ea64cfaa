"""RE2, as Loki uses it: Python's `re` differs (backreferences, lookaround, Unicode classes)."""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...

    def fullmatch(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """A pattern RE2 refuses."""


def compile_re2(pattern: str) -> Pattern:
    """RE2's compiled pattern; raises RegexError with RE2's reason."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal on stderr
    try:
        compiled: Pattern = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(reason) from None
    return compiled
