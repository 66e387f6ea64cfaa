"""Names and helpers shared by every part of the local Elasticsearch runtime."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

ES_VERSION = "9.2.4"
CLUSTER_NAME = "logriver-local"


class ElasticsearchRuntimeError(RuntimeError):
    """Provisioning or running the local Elasticsearch failed."""


def make_dirs(path: Path) -> None:
    """mkdir -p that keeps every directory it creates traversable by the ES user."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # A root umask may be 077; the ES user has to traverse what we create.
        for created in missing:
            created.chmod(created.stat().st_mode | 0o755)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise concurrent starts/provisioning (e.g. parallel test workers)."""
    make_dirs(path.parent)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
