"""The `logriver` command line: run the service, manage the local Elasticsearch, read logs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from logriver import esruntime
from logriver.client_cli import add_client_commands
from logriver.client_pages import add_page_commands
from logriver.client_push import add_push_command
from logriver.core.auth import TokenStore
from logriver.core.errors import LogriverError
from logriver.core.settings import Settings, SettingsError
from logriver.core.storage import Storage
from logriver.esruntime.cluster import DEFAULT_HEAP_MB, cluster_from_settings, cluster_recorded
from logriver.workers import serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
        return status
    except (SettingsError, esruntime.ElasticsearchRuntimeError) as exc:
        print(f"logriver: {exc}", file=sys.stderr)
        return 1
    except LogriverError as exc:
        print(f"logriver: {exc.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logriver", description="Log ingestion and search on Elasticsearch")
    commands = parser.add_subparsers(title="commands")

    es = commands.add_parser("es", help="manage the local Elasticsearch used when LOGRIVER_ES_URL is unset")
    es.add_argument("action", choices=["start", "stop", "status"])
    es.add_argument(
        "--nodes", type=int, help="start: N local nodes from port LOGRIVER_ES_CLUSTER_PORT (stop/status find them)"
    )
    es.add_argument("--heap-mb", type=int, help=f"heap of each cluster node (default {DEFAULT_HEAP_MB})")
    es.set_defaults(run=_run_es)

    indices = commands.add_parser(
        "indices",
        help="apply: reinstall the index templates and give existing indices the current replicas and refresh",
    )
    indices.add_argument("action", choices=["apply"])
    indices.set_defaults(run=_run_indices)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (LOGRIVER_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (LOGRIVER_PORT, default 8080)")
    serve.add_argument(
        "--dev", action="store_true", help="without LOGRIVER_AUTH_FILE: generate and print an admin token"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="API processes sharing the port (LOGRIVER_WORKERS, default 1); see docs/deployment.md",
    )
    serve.set_defaults(run=_run_serve)

    for extend in CLI_EXTENSIONS:
        extend(commands)
    return parser


# The client commands (tail, search, push, streams, lines) add their sub-parsers here.
CLI_EXTENSIONS: list[Callable[[Any], None]] = [add_client_commands, add_push_command, add_page_commands]


def _run_es(args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    if args.action == "start" and (args.nodes or 1) > 1:
        return _run_cluster(args, settings)
    if args.action != "start" and cluster_recorded(settings):
        code = _run_cluster(args, settings)
        # The single node may run next to a cluster: stop or show it too, when it runs.
        if esruntime.from_settings(settings).status() is not None:
            _run_single(args, settings)
        return code
    return _run_single(args, settings)


def _run_single(args: argparse.Namespace, settings: Settings) -> int:
    local = esruntime.from_settings(settings)
    if args.action == "start":
        print(local.start())
    elif args.action == "stop":
        print("stopped" if local.stop() else "not running")
    else:
        status = local.status()
        print(describe_node(local.name, status) if status else "not running")
        return 0 if status else 3
    return 0


def describe_node(name: str, status: dict[str, Any]) -> str:
    """One line a person reads: `default http://127.0.0.1:9250 pid 4759 healthy, Elasticsearch 9.2.4`."""
    health = "healthy" if status["healthy"] else "not healthy (starting, or another cluster on its port)"
    version = f", Elasticsearch {status['version']}" if status.get("version") else ""
    return f"{name} {status['url']} pid {status['pid']} {health}{version}"


def _run_cluster(args: argparse.Namespace, settings: Settings) -> int:
    cluster = cluster_from_settings(settings, args.nodes, args.heap_mb)
    if args.action == "start":
        urls = cluster.start()
        print(f"cluster of {cluster.size} nodes is up; LOGRIVER_ES_URL={','.join(urls)}")
    elif args.action == "stop":
        print(f"stopped {cluster.stop()} of {cluster.size} nodes")
    else:
        statuses = cluster.status()
        for node, status in zip(cluster.nodes, statuses, strict=True):
            if status is None:
                print(f"{node.name} {node.url} not running")
            else:
                print(
                    f"{node.name} {node.url} pid {status['pid']} in cluster: {status['in_cluster']} {status['status']}"
                )
        return 0 if all(s is not None and s["in_cluster"] for s in statuses) else 3
    return 0


def _run_indices(args: argparse.Namespace) -> int:
    settings = Settings.from_env(os.environ)
    es_url = settings.es_url or esruntime.from_settings(settings).start()
    names = asyncio.run(_apply_index_settings(settings, es_url))
    print(f"templates installed; {len(names)} existing indices updated: {', '.join(names) or '-'}")
    print(f"shards ({settings.index_shards}) apply to new indices only: Elasticsearch cannot re-shard in place")
    return 0


async def _apply_index_settings(settings: Settings, es_url: str) -> list[str]:
    storage = Storage.from_settings(settings, es_url)
    try:
        return await storage.apply_index_settings()
    finally:
        await storage.close()


def _run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)  # one INFO line per request otherwise
    settings = Settings.from_env(os.environ, host=args.host, port=args.port, workers=args.workers)
    refusal = _multi_process_refusal(settings)
    if refusal:
        print(f"logriver: {refusal}", file=sys.stderr)
        return 1
    if not settings.token_secret:
        logging.getLogger("logriver").warning(
            "LOGRIVER_TOKEN_SECRET is not set: page tokens are signed with a random secret of this process "
            "and will not be accepted after a restart or by another instance"
        )
    tokens = _token_store(settings, args.dev)
    if tokens is None:
        print(
            "logriver: no LOGRIVER_AUTH_FILE is set; give one, or run `logriver serve --dev` "
            "for a generated admin token",
            file=sys.stderr,
        )
        return 1
    es_url = settings.es_url or esruntime.from_settings(settings).start()
    print(f"logriver: Elasticsearch at {es_url}; listening on http://{settings.host}:{settings.port}", flush=True)
    return serve(settings, tokens, es_url, settings.workers)


def _multi_process_refusal(settings: Settings) -> str | None:
    """Why several workers cannot start as configured, or None.

    A random secret per process would make every worker reject the others' tokens; a secret
    file would only hide the same failure between hosts. So the secret must be given.
    """
    if settings.workers > 1 and not settings.token_secret:
        return (
            f"--workers {settings.workers} needs LOGRIVER_TOKEN_SECRET, so that a token issued by one worker "
            "is accepted by the others and after a restart; set the same value on every worker and host, e.g. "
            "LOGRIVER_TOKEN_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return None


def _token_store(settings: Settings, dev: bool) -> TokenStore | None:
    if settings.auth_file:
        return TokenStore.from_file(settings.auth_file)
    if not dev:
        return None
    store, token = TokenStore.dev()
    print(f"logriver: dev mode; admin token for tenant 'default':\n{token}", flush=True)
    return store


if __name__ == "__main__":
    sys.exit(main())
