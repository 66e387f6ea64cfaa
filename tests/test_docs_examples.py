"""Every ```sh block of the README and docs/ runs, with bash, against the real service.

A page's blocks run in order in one bash session, as a reader pasting them would, against the
real app on a free port and the real Elasticsearch, with LOGRIVER_URL and LOGRIVER_TOKEN (an
admin token of the tenant `default`, as `logriver serve --dev` prints) set. The shell runs with
`set -euo pipefail` and curl with `--fail-with-body`, so a failing command or an HTTP error
fails the test. `# => ...` comment lines right after a command state its output: JSON is
compared by shape (every key shown must be there, with the value shown; a string with `…`
matches any string, `[...]` lists match item by item, `"…"` as the last item allows more);
other text is matched line by line, in order, `…` matching anything. Blocks in other
languages (```console, ```text, ...) are illustrative and not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch
from pytest_aiohttp import AiohttpClient

from logriver.app import create_app
from logriver.core.auth import Principal, TokenStore
from logriver.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOKEN = "docs-example-admin-token"
PAGE_TIMEOUT_SECONDS = 60  # a hung example (a tail that never sees its line) fails, it does not hang
_FENCE = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"\n?@@(block|expect)-(\d+)@@\n")
_PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
trap 'echo "failed: line $LINENO of the block: $BASH_COMMAND" >&2' ERR
"""


@dataclass(frozen=True)
class Expectation:
    """The `# =>` lines after a command: its output as the page shows it."""

    block: int
    text: str


def sh_blocks(page: Path) -> list[str]:
    return _FENCE.findall(page.read_text(encoding="utf-8"))


def build_script(blocks: list[str]) -> tuple[str, list[Expectation]]:
    """One bash script; markers on stdout tell which block ran and which output a `# =>` describes."""
    lines: list[str] = [_PRELUDE]
    expectations: list[Expectation] = []
    for number, block in enumerate(blocks):
        lines.append(f"printf '\\n@@block-{number}@@\\n'")
        pending: list[str] = []
        for line in [*block.splitlines(), ""]:
            if line.startswith("# =>"):
                pending.append(line[4:].strip())
                continue
            if pending:
                lines.append(f"printf '\\n@@expect-{len(expectations)}@@\\n'")
                expectations.append(Expectation(number, "\n".join(pending)))
                pending = []
            lines.append(line)
    return "\n".join(lines) + "\n", expectations


def split_output(stdout: str) -> tuple[int, dict[int, str]]:
    """The last block that started, and the output each expectation refers to."""
    last_block, outputs, start = -1, {}, 0
    for mark in _MARK.finditer(stdout):
        if mark.group(1) == "block":
            last_block = int(mark.group(2))
        else:
            outputs[int(mark.group(2))] = stdout[start : mark.start()]
        start = mark.end()
    return last_block, outputs


def matches(expected: Any, actual: Any) -> bool:
    """Shape match: see the module docstring."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if expected and expected[-1] == "…":
            head = expected[:-1]
            return len(actual) >= len(head) and all(matches(e, a) for e, a in zip(head, actual, strict=False))
        return len(actual) == len(expected) and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, str) and "…" in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        return isinstance(actual, str) and re.fullmatch(pattern, actual, re.DOTALL) is not None
    return type(expected) is type(actual) and expected == actual


def text_matches(expected: str, actual: str) -> bool:
    """Each expected line matches a later actual line, in order; `…` matches anything."""
    remaining = iter(actual.splitlines())
    for want in expected.splitlines():
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("…")))
        if not any(pattern.fullmatch(line) for line in remaining):
            return False
    return True


def check_output(expectation: Expectation, output: str) -> str | None:
    """None when the output fits the expectation, else what went wrong."""
    try:
        expected = json.loads(expectation.text)
    except ValueError:
        if text_matches(expectation.text, output):
            return None
        return f"block {expectation.block}: output does not show\n{expectation.text}\n--- got ---\n{output}"
    candidates = [output.strip(), *reversed(output.strip().splitlines())]
    for candidate in candidates:
        try:
            actual = json.loads(candidate)
        except ValueError:
            continue
        if matches(expected, actual):
            return None
        return f"block {expectation.block}: JSON differs from the doc\nexpected {expectation.text}\ngot {candidate}"
    return f"block {expectation.block}: expected JSON like {expectation.text}, got\n{output}"


@pytest.fixture
async def service_url(aiohttp_client: AiohttpClient, es: AsyncElasticsearch, settings: Settings, es_url: str) -> str:
    """The real app, storage ready, with one admin token of the tenant `default`."""
    tokens = TokenStore({TOKEN: Principal("default", frozenset({"admin"}))})
    fast_tail = dataclasses.replace(settings, tail_poll_seconds=0.2)  # examples wait for tailed lines
    client = await aiohttp_client(create_app(fast_tail, tokens, es_url))
    deadline = asyncio.get_running_loop().time() + 30
    while (await client.get("/readyz")).status != 200:
        assert asyncio.get_running_loop().time() < deadline, "storage did not become ready"
        await asyncio.sleep(0.1)
    return str(client.make_url("")).rstrip("/")


def _run_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGRIVER_")}
    # The venv first: examples may call `python3` or `logriver` as a reader with `make serve` would.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env | {"LOGRIVER_URL": url, "LOGRIVER_TOKEN": TOKEN}


@pytest.mark.parametrize("page", [p for p in PAGES if sh_blocks(p)], ids=lambda p: p.name)
async def test_examples_run(page: Path, service_url: str, tmp_path: Path) -> None:
    blocks = sh_blocks(page)
    script, expectations = build_script(blocks)
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", script, cwd=tmp_path, env=_run_env(service_url), stdout=out, stderr=err,
            start_new_session=True,  # one process group: a timeout ends background jobs too
        )  # fmt: skip
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), PAGE_TIMEOUT_SECONDS)
        except TimeoutError:
            timed_out = True
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    last_block, outputs = split_output(stdout)
    where = f"{page.relative_to(ROOT)}, sh block {last_block + 1} of {len(blocks)}"
    assert not timed_out, f"{where} did not finish in {PAGE_TIMEOUT_SECONDS} s:\n{stderr}\n--- stdout ---\n{stdout}"
    assert process.returncode == 0, f"{where} failed ({process.returncode}):\n{stderr}\n--- stdout ---\n{stdout}"
    problems = [p for i, e in enumerate(expectations) if (p := check_output(e, outputs.get(i, "")))]
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n\n".join(problems)


def test_shape_matching() -> None:
    assert matches({"accepted": 3}, {"accepted": 3, "rejected": []})
    assert not matches({"accepted": 3}, {"accepted": 2})
    assert not matches({"accepted": 3}, {"accepted": "3"})
    assert matches({"id": "…", "n": [1, "…"]}, {"id": "abc", "n": [1, 2, 3]})
    assert not matches({"lines": []}, {"lines": [{}]})
    assert not matches({"token": "ey…"}, {"token": "xy"})
    assert text_matches('event: open\ndata: {…"message":"hi"…}', 'retry: 1\nevent: open\n\ndata: {"message":"hi"}')
    assert not text_matches("b\na", "a\nb")


def test_markers_split_blocks_and_outputs() -> None:
    script, expectations = build_script(["echo one\n# => one", 'echo \'{"a": 1}\'\n# => {"a": 1}\necho x'])
    assert [e.text for e in expectations] == ["one", '{"a": 1}']
    assert "# =>" not in script
    last, outputs = split_output('\n@@block-0@@\none\n@@expect-0@@\n\n@@block-1@@\n{"a": 1}\n@@expect-1@@\nx\n')
    assert last == 1
    assert [check_output(e, outputs[i]) for i, e in enumerate(expectations)] == [None, None]
