"""`logriver serve --workers N`: N processes accept connections on one port (SO_REUSEPORT).

Why reuse-port and not gunicorn. aiohttp's own `run_app(reuse_port=True)` is all a worker
needs: each process listens on the same port and the kernel spreads new connections over
them. It adds no dependency and no second configuration language, and each worker is exactly
the process `logriver serve` runs with one worker. The supervisor here only starts the
workers, restarts one that dies, and passes SIGTERM/SIGINT on. Processes are spawned, not
forked: a worker starts from a clean interpreter and receives the settings and tokens the
parent built once (a dev token is therefore the same in every worker).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web
from aiohttp.log import access_logger

from logriver.core.auth import TokenStore
from logriver.core.metrics import forget_worker, shared_metrics_dir
from logriver.core.settings import Settings

log = logging.getLogger("logriver.workers")

QUICK_EXIT_SECONDS = 10.0  # a worker that dies sooner than this after starting counts as failing to start
MAX_QUICK_EXITS = 5  # consecutive failed starts before the supervisor gives up
STOP_GRACE_SECONDS = 30.0  # how long stopping workers may take before they are killed


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) reuse-port socket: resolves port 0 and keeps the port ours."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_worker(settings: Settings, tokens: TokenStore, es_url: str, reuse_port: bool) -> None:
    """One API process; with `reuse_port` it shares its port with the other workers."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)  # one INFO line per request otherwise
    from logriver.app import SERVER_OPTIONS, create_app  # noqa: PLC0415 - the client commands need not load the app

    tune_garbage_collector()
    app = create_app(settings, tokens, es_url)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        reuse_port=reuse_port or None,
        access_log=access_logger if settings.access_log else None,
        **SERVER_OPTIONS,
    )


def tune_garbage_collector() -> None:
    """Fewer collections: ingest makes many short-lived objects per line but no cycles.

    Measured with bench/: about 15% less CPU per ingested line. Objects alive at start-up are
    frozen out of the collector's scans.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class Supervisor:
    """Keeps `count` workers running until SIGTERM or SIGINT, then stops them."""

    def __init__(self, settings: Settings, tokens: TokenStore, es_url: str, count: int, metrics_dir: str):
        self.args = (settings, tokens, es_url, True)
        self.count = count
        self.metrics_dir = metrics_dir  # the workers' shared metrics files (core/metrics.py)
        self.workers: list[BaseProcess] = []
        self.started: dict[int, float] = {}  # pid -> start time
        self.quick_exits = 0
        self.stopping = False
        self._context = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Start the workers and supervise them; the exit status of `logriver serve`."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for _ in range(self.count):
                self._start()
            while not self.stopping:
                self._reap(multiprocessing.connection.wait([w.sentinel for w in self.workers], timeout=1.0))
                if self.quick_exits >= MAX_QUICK_EXITS:
                    log.error("workers keep exiting right after they start; giving up (see their log above)")
                    return 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _start(self) -> None:
        worker = self._context.Process(target=run_worker, args=self.args, name="logriver-worker", daemon=False)
        worker.start()
        assert worker.pid is not None
        self.workers.append(worker)
        self.started[worker.pid] = time.monotonic()
        log.info("worker %d started", worker.pid)

    def _reap(self, ready: Sequence[object]) -> None:
        for worker in [w for w in self.workers if w.sentinel in ready]:
            worker.join()
            self.workers.remove(worker)
            assert worker.pid is not None
            forget_worker(self.metrics_dir, worker.pid)  # before a successor could reuse its pid
            if self.stopping:
                continue
            lived = time.monotonic() - self.started.pop(worker.pid, 0.0)
            self.quick_exits = self.quick_exits + 1 if lived < QUICK_EXIT_SECONDS else 0
            log.warning(
                "worker %d exited with code %s after %.0f s; starting another", worker.pid, worker.exitcode, lived
            )
            self._start()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: aiohttp ends its streams and closes gracefully
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join()


def serve(settings: Settings, tokens: TokenStore, es_url: str, workers: int) -> int:
    """Serve with one process, or with `workers` processes on one port."""
    if workers == 1:
        run_worker(settings, tokens, es_url, reuse_port=False)
        return 0
    with closing(reserve_port(settings.host, settings.port)) as reserved, shared_metrics_dir() as metrics_dir:
        port = int(reserved.getsockname()[1])
        print(f"logriver: {workers} workers on port {port}", flush=True)
        return Supervisor(replace(settings, port=port), tokens, es_url, workers, metrics_dir).run()
