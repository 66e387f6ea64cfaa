"""The Elasticsearch nodes one test session owns: its own node home and its own ports, held to the end.

Two checkouts testing at once, a `make serve` node and a shared node must never meet:
- the node home is a fresh directory per session (the unpacked distribution is linked in from
  LOGRIVER_ES_HOME, or the default cache, so nothing is downloaded twice); run directories, pid
  files and data therefore belong to this session alone, and stopping a node only ever stops it;
- the ports are a block this session locks for its whole life (one lock file per port in the
  machine's temporary directory) and that nothing listened on when it was claimed. Another
  session skips locked ports, so a port is never "found free" and lost before the node binds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from logriver import esruntime
from logriver.core.settings import Settings
from logriver.esruntime.cluster import TRANSPORT_OFFSET, LocalCluster
from logriver.esruntime.distribution import ensure_distribution
from logriver.esruntime.node import LocalElasticsearch
from logriver.esruntime.secured import SecuredNode

PORT_LOCKS = Path(tempfile.gettempdir()) / "logriver-test-ports"
DEFAULT_FIRST_PORT = 9500  # clear of 9200-9400, where Elasticsearch's own defaults live
BLOCK = 12  # the single node, up to 4 cluster nodes, the secured node (HTTP and transport)
CLUSTER_SIZE_MAX = 4
# Offsets from the block's first port; cluster nodes also take transport ports TRANSPORT_OFFSET above.
SINGLE, CLUSTER, SECURED, SECURED_TRANSPORT = 0, 1, 1 + CLUSTER_SIZE_MAX, 2 + CLUSTER_SIZE_MAX
SPARE = SECURED_TRANSPORT + 1  # the rest of the block: nodes a test starts and stops itself
OFFSETS = (*range(BLOCK), *(TRANSPORT_OFFSET + CLUSTER + i for i in range(CLUSTER_SIZE_MAX)))


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _hold(port: int, stack: ExitStack) -> bool:
    PORT_LOCKS.mkdir(mode=0o777, parents=True, exist_ok=True)
    handle = stack.enter_context(open(PORT_LOCKS / f"{port}.lock", "a+"))  # noqa: SIM115 - held to the end
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return not _listening(port)


def claim_ports(
    first: int, offsets: tuple[int, ...] = OFFSETS, attempts: int = 200, step: int = BLOCK
) -> tuple[int, ExitStack]:
    """The first block start from `first` on whose ports this session now holds the locks; release with the stack."""
    for start in range(first, first + attempts * step, step):
        stack = ExitStack()
        if all(_hold(start + offset, stack) for offset in offsets):
            return start, stack
        stack.close()
    raise RuntimeError(f"no free block of test ports from {first} on; set LOGRIVER_TEST_ES_PORT elsewhere")


APP_PORTS = 12500  # where ports for logriver's own test servers are looked for, clear of the node blocks


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A port for a server a test starts (logriver, a shipper's target), held until the test ends."""
    port, held = claim_ports(APP_PORTS, offsets=(0,), attempts=1000, step=1)
    with held:
        yield port


@dataclass
class SessionNodes:
    """Where this session's nodes live and listen; each node is made on demand and stopped by its owner."""

    home: Path
    first_port: int

    def single(self) -> LocalElasticsearch:
        return LocalElasticsearch(home=self.home, port=self.first_port + SINGLE, heap_mb=512, name="tests")

    def cluster(self, size: int = 3) -> LocalCluster:
        assert size <= CLUSTER_SIZE_MAX, f"the session's block has room for {CLUSTER_SIZE_MAX} cluster nodes"
        http = self.first_port + CLUSTER
        return LocalCluster(self.home, size=size, http_base=http, transport_base=http + TRANSPORT_OFFSET)

    def spare(self, name: str, index: int = 0) -> LocalElasticsearch:
        """A node for a test that starts and stops one itself, on the block's spare ports."""
        assert SPARE + index < BLOCK, "the session's block has no more spare ports"
        return LocalElasticsearch(home=self.home, port=self.first_port + SPARE + index, heap_mb=512, name=name)

    def secured(self) -> SecuredNode:
        return SecuredNode(
            self.home, port=self.first_port + SECURED, transport_port=self.first_port + SECURED_TRANSPORT
        )

    def settings_env(self) -> dict[str, str]:
        """The variables under which `logriver es ...` finds this session's nodes."""
        return {"LOGRIVER_ES_HOME": str(self.home), "LOGRIVER_ES_CLUSTER_PORT": str(self.first_port + CLUSTER)}


@contextlib.contextmanager
def session_nodes(environ: Mapping[str, str]) -> Iterator[SessionNodes]:
    """A node home and a block of ports for this session; both are given back at the end."""
    configured = Settings.from_env({k: v for k, v in environ.items() if k != "LOGRIVER_ES_URL"})
    shared = Path(configured.es_home) if configured.es_home else esruntime.default_home()
    dist = ensure_distribution(shared, configured.maven_repo)
    home = Path(tempfile.mkdtemp(prefix="logriver-test-es-"))
    home.chmod(0o755)  # as root the nodes run as another user, who must traverse it
    (home / dist.name).symlink_to(dist)
    first, held = claim_ports(int(environ.get("LOGRIVER_TEST_ES_PORT", DEFAULT_FIRST_PORT)))
    try:
        with held:
            yield SessionNodes(home, first)
    finally:
        shutil.rmtree(home, ignore_errors=True)
