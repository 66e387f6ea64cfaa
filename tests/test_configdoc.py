"""The configuration reference is generated from Settings, and every LOGRIVER_* variable is a setting."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from logriver.configdoc import (
    REGENERATE,
    ConfigDocError,
    SettingDoc,
    reference_from_source,
    render,
    settings_reference,
)
from logriver.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {
    "LOGRIVER_TEST_ES_URL",
    "LOGRIVER_TEST_ES_PORT",
    "LOGRIVER_CHROMIUM",
    "LOGRIVER_FUZZ_EXAMPLES",
    "LOGRIVER_FUZZ_KEEP_GOING",
}  # read by test fixtures, not by logriver


def test_committed_reference_matches_settings() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(settings_reference()), (
        f"docs/configuration.md differs from logriver.core.settings.Settings: run `{REGENERATE}` (or `make docs`)"
    )


def test_every_field_has_a_row_with_a_meaning() -> None:
    rows = settings_reference()
    assert [r.variable for r in rows] == [f"LOGRIVER_{f.name.upper()}" for f in dataclasses.fields(Settings)]
    assert all(r.meaning and r.group for r in rows)
    by_name = {r.variable: r for r in rows}
    assert by_name["LOGRIVER_ES_HOME"].group.startswith("Local Elasticsearch")
    assert by_name["LOGRIVER_PORT"].default == "`8080`"
    assert by_name["LOGRIVER_TOKEN_SECRET"].default == "*(empty)*"
    assert "random secret per process" in by_name["LOGRIVER_TOKEN_SECRET"].meaning


def test_every_logriver_variable_in_the_code_is_a_setting() -> None:
    settings = {r.variable for r in settings_reference()}
    named: dict[str, str] = {}
    for folder in ("core", "ingest", "query", "adapters", "mappings", "logriver", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue  # this file names made-up variables on purpose
            for name in re.findall(r"\bLOGRIVER_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")):
                named.setdefault(name, str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in named.items() if name not in settings | TEST_ONLY}
    assert not unknown, f"variables read outside Settings (add them as fields): {unknown}"


def _reference(code: str) -> list[SettingDoc]:
    source = textwrap.dedent(code)
    namespace: dict[str, object] = {}
    exec(compile(source, "<settings>", "exec"), namespace)
    return reference_from_source(source, namespace["Demo"])  # type: ignore[arg-type]


def test_groups_and_meanings_come_from_the_comments() -> None:
    rows = _reference(
        """
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Demo:
            first: int = 1  # the first | one
            # --- Second group ---
            second: str = ""  # the second
        """
    )
    assert [(r.variable, r.type, r.default, r.group) for r in rows] == [
        ("LOGRIVER_FIRST", "int", "`1`", "General"),
        ("LOGRIVER_SECOND", "str", "*(empty)*", "Second group"),
    ]
    assert "the first \\| one" in render(rows)


def test_a_field_without_a_meaning_is_refused() -> None:
    with pytest.raises(ConfigDocError, match=r"Demo.bare needs a one-line `# meaning` comment"):
        _reference(
            """
            from dataclasses import dataclass

            @dataclass(frozen=True)
            class Demo:
                # a comment above is not the meaning
                bare: int = 1
            """
        )


def test_only_settings_reads_logriver_variables_from_the_environment() -> None:
    reads = re.compile(r"""(?:environ|getenv)\s*(?:\.get\s*)?[(\[]\s*["']LOGRIVER_""")
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("core", "ingest", "query", "adapters", "logriver", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if reads.search(path.read_text(encoding="utf-8"))
    ]
    assert not readers, f"read LOGRIVER_* through Settings.from_env, not os.environ: {readers}"
