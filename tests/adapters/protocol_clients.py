"""Real protocol clients for the OTLP and Loki tests: the Python SDK in a thread, Node scripts.

The Node clients live in tests/adapters/clients (package.json and package-lock.json); `npm ci`
installs them when node_modules is missing, as .ci/run does on a fresh clone.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import ApiClient

CLIENTS = Path(__file__).parent / "clients"


def ensure_node_clients() -> None:
    """`npm ci` once, from the lock file; the Node scripts need nothing else."""
    if not (CLIENTS / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True, capture_output=True)


async def run_node(script: str, config: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Run a client script with its JSON config on stdin; its last stdout line is its JSON report."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=CLIENTS,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    out, err = await asyncio.wait_for(process.communicate(json.dumps(config).encode()), timeout)
    assert process.returncode == 0, f"{script} failed: {err.decode()[-3000:]}"
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


async def read_stream(api: ApiClient, expected: int, **labels: str) -> list[dict[str, Any]]:
    """Every line of one stream, oldest first, once `expected` lines are searchable."""
    params = {f"labels__{name}": value for name, value in labels.items()}
    for _ in range(100):
        page = await api.get_lines(token="read-acme", limit=10000, **params)
        if len(page["lines"]) >= expected:
            return list(page["lines"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {len(page['lines'])} of {expected} lines arrived")
