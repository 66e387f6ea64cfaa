"""Render docs/configuration.md from ``Settings``: `python -m logriver.configdoc` (`--check` to compare).

The meaning of a setting is the trailing ``# comment`` of its field and its group is the
``# --- <group> ---`` comment above it, so the code keeps its house style (one line per field)
and the reference cannot drift from it. The source is read with ``ast`` and ``tokenize``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import re
import sys
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from logriver.core import settings as settings_module
from logriver.core.settings import Settings

REGENERATE = "python -m logriver.configdoc"  # also `make docs`
DEFAULT_OUTPUT = Path("docs/configuration.md")
_GROUP = re.compile(r"^#\s*---\s*(.+?)\s*---\s*$")
_FIRST_GROUP = "General"


class ConfigDocError(Exception):
    """A Settings field lacks what the reference needs (a default or a meaning)."""


@dataclass(frozen=True)
class SettingDoc:
    """One row of the reference."""

    variable: str
    type: str
    default: str
    meaning: str
    group: str


def settings_reference() -> list[SettingDoc]:
    """Every Settings field with its variable, type, rendered default, meaning and group."""
    return reference_from_source(inspect.getsource(settings_module), Settings)


def reference_from_source(source: str, cls: type) -> list[SettingDoc]:
    """The rows of dataclass ``cls``, whose code is in ``source``."""
    comments = _comments_by_line(source)
    defaults = {f.name: f for f in dataclasses.fields(cls)}
    group = _FIRST_GROUP
    rows: list[SettingDoc] = []
    for node in _class_node(source, cls.__name__).body:
        group = _group_above(comments, node.lineno, group)
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        meaning, alone = comments.get(node.end_lineno or node.lineno, ("", True))
        if alone or not meaning:
            raise ConfigDocError(f"{cls.__name__}.{name} needs a one-line `# meaning` comment at the end of its line")
        rows.append(
            SettingDoc(
                variable=f"LOGRIVER_{name.upper()}",
                type=ast.unparse(node.annotation),
                default=_render_default(defaults[name]),
                meaning=meaning,
                group=group,
            )
        )
    return rows


def _class_node(source: str, name: str) -> ast.ClassDef:
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise ConfigDocError(f"no class {name} in the given source")


def _comments_by_line(source: str) -> dict[int, tuple[str, bool]]:
    """Line number -> (comment text without '#', whether the comment stands on a line of its own)."""
    found: dict[int, tuple[str, bool]] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            alone = token.line[: token.start[1]].strip() == ""
            text = token.string if alone else token.string.lstrip("#").strip()
            found[token.start[0]] = (text, alone)
    return found


def _group_above(comments: dict[int, tuple[str, bool]], lineno: int, current: str) -> str:
    """The group header among the standalone comments right above ``lineno``, else ``current``."""
    line = lineno - 1
    while line in comments and comments[line][1]:
        if match := _GROUP.match(comments[line][0]):
            return match.group(1)
        line -= 1
    return current


def _render_default(f: dataclasses.Field[object]) -> str:
    if f.default is dataclasses.MISSING:
        if f.default_factory is dataclasses.MISSING:
            raise ConfigDocError(f"setting {f.name} needs a default")
        return "*(generated at start-up)*"
    if f.default == "":
        return "*(empty)*"
    return f"`{f.default}`"


def render(rows: Sequence[SettingDoc]) -> str:
    """The whole page, Markdown."""
    out = [
        "# Configuration",
        "",
        f"<!-- Generated from logriver/core/settings.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable, read once at start-up into one `Settings` object",
        "(`logriver/core/settings.py`) that is passed to everything that needs it. An unset or empty",
        "variable keeps the default. A value of the wrong type or outside its range stops start-up",
        "with a message naming the variable. `logriver serve --host/--port` override `LOGRIVER_HOST` /",
        "`LOGRIVER_PORT`; `logriver tail|search --url/--token` override `LOGRIVER_URL` / `LOGRIVER_TOKEN`.",
        "",
        f"This page is generated from the fields of `Settings`: after changing one, run `{REGENERATE}`",
        "(or `make docs`). A test fails while this page and the code differ.",
    ]
    groups: dict[str, list[SettingDoc]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    for group, members in groups.items():
        out += ["", f"## {group}", "", "| variable | type | default | meaning |", "|---|---|---|---|"]
        out += [f"| `{r.variable}` | {r.type} | {_cell(r.default)} | {_cell(r.meaning)} |" for r in members]
    out += [
        "",
        "## Variables of the tests only",
        "",
        "The test suite never reads `LOGRIVER_ES_URL`: the cluster you work with is not one tests write to.",
        "It uses the Elasticsearch of `LOGRIVER_TEST_ES_URL` when that is set; otherwise each test session",
        "starts nodes of its own (a single node, and the cluster and secured node when tests ask for them)",
        "in a node home of its own, linking in the server unpacked under `LOGRIVER_ES_HOME`, on a block of",
        "12 ports it locks for its whole run. A `make serve` node, a shared node and a second checkout's",
        "tests therefore keep running, and a session only ever stops nodes it started.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
        "| `LOGRIVER_TEST_ES_URL` | *(empty)* | Elasticsearch the tests write to; empty: nodes of the session's own |",
        "| `LOGRIVER_TEST_ES_PORT` | `9500` | first port from which a test session looks for its free block of ports |",
        "| `LOGRIVER_CHROMIUM` | `/usr/bin/chromium` | the browser the viewer's tests drive through Playwright |",
        "| `LOGRIVER_FUZZ_EXAMPLES` | `60` | examples per API family of the fuzz suite; raise it for a deeper run |",
        "| `LOGRIVER_FUZZ_KEEP_GOING` | *(empty)* | set: the fuzz suite reports every failure at the end |",
        "",
    ]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page, or with ``--check`` report whether the committed page is current."""
    parser = argparse.ArgumentParser(prog="python -m logriver.configdoc", description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: docs/configuration.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the code")
    args = parser.parse_args(argv)
    text = render(settings_reference())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
