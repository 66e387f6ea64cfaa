"""Run the `logriver` command as a real process against an app the test serves on a real port."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ApiClient

TIMEOUT = 240.0


@dataclass
class Finished:
    code: int
    out: str
    err: str


def logriver_command() -> list[str]:
    """The installed console script next to this interpreter, else the module (same code)."""
    script = Path(sys.executable).with_name("logriver")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "logriver.cli"]


def client_env(api: ApiClient, token: str = "admin-acme") -> dict[str, str]:
    return {**os.environ, "LOGRIVER_URL": str(api.http.make_url("/")).rstrip("/"), "LOGRIVER_TOKEN": token}


async def run_logriver(
    api: ApiClient, *args: str, stdin: bytes | None = None, token: str = "admin-acme", shell_input: str | None = None
) -> Finished:
    """`logriver ARGS` (or `shell_input | logriver ARGS` through sh, a real pipe); the event loop keeps serving."""
    env = client_env(api, token)
    if shell_input is not None:
        command = " ".join([*map(_quote, logriver_command()), *map(_quote, args)])
        process = await asyncio.create_subprocess_shell(
            f"{shell_input} | {command}", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    else:
        process = await asyncio.create_subprocess_exec(
            *logriver_command(), *args, env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
