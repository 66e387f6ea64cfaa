"""A local node with security on: HTTPS with a CA made at start, a file-realm user, a bootstrap password.

What the integ-test-zip can do here was found by running it: ``x-pack-security`` serves HTTPS
from PEM files (``xpack.security.http.ssl.*``), ``bin/elasticsearch-users`` writes file-realm
users, ``bin/elasticsearch-keystore`` holds ``bootstrap.password`` for the built-in ``elastic``
user, and the security API creates API keys. The node runs with ``discovery.type: single-node``,
so transport TLS, which a multi-node secured cluster requires, is not needed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logriver.esruntime.common import ElasticsearchRuntimeError
from logriver.esruntime.node import LocalElasticsearch
from logriver.esruntime.process import alive
from logriver.esruntime.rundir import User, loopback_settings
from logriver.esruntime.tls import Certificates, make_certificates

SECURED_CLUSTER = "logriver-secured"
FILE_USER = "logriver"


@dataclass(frozen=True)
class SecuredNode(LocalElasticsearch):
    """A single secured node: ``https://127.0.0.1:<port>``, users ``logriver`` (file) and ``elastic``."""

    port: int = 9264
    transport_port: int = 9364
    heap_mb: int = 384
    name: str = "secured"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def certificates(self) -> Certificates:
        certs = self.run_dir / "config" / "certs"
        return Certificates(certs / "ca.crt", certs / "node.crt", certs / "node.key")

    def password(self) -> str:
        """The password of both users, made at start and kept in the run dir (mode 0600)."""
        return (self.run_dir / "password").read_text().strip()

    def _before_launch(self, dist: Path, env: dict[str, str], user: User | None) -> None:
        config = self.run_dir / "config"
        password_file = self.run_dir / "password"
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
        make_certificates(config / "certs")
        self._add_credentials(dist, env)
        if user is not None:
            for path in [config, *config.rglob("*")]:
                os.chown(path, user.uid, user.gid, follow_symlinks=False)

    def node_settings(self) -> dict[str, Any]:
        return {
            "cluster.name": SECURED_CLUSTER,
            "node.name": self.name,
            "discovery.type": "single-node",
            "transport.port": str(self.transport_port),
            "xpack.security.enabled": "true",
            "xpack.security.http.ssl.enabled": "true",
            "xpack.security.http.ssl.key": "certs/node.key",
            "xpack.security.http.ssl.certificate": "certs/node.crt",
            "xpack.security.http.ssl.certificate_authorities": "certs/ca.crt",
            "xpack.security.authc.api_key.enabled": "true",
            **loopback_settings(self),
        }

    def _add_credentials(self, dist: Path, env: dict[str, str]) -> None:
        """A file-realm superuser, and the `elastic` user's bootstrap password in a new keystore."""
        password = self.password()
        bin_dir = dist / "bin"
        _run_tool([str(bin_dir / "elasticsearch-users"), "useradd", FILE_USER, "-p", password, "-r", "superuser"], env)
        _run_tool([str(bin_dir / "elasticsearch-keystore"), "create"], env)
        _run_tool([str(bin_dir / "elasticsearch-keystore"), "add", "-x", "bootstrap.password"], env, stdin=password)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, user: str = FILE_USER) -> Any:
        """One authenticated HTTPS call that trusts only this node's CA; the decoded JSON answer."""
        token = base64.b64encode(f"{user}:{self.password()}".encode()).decode()
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=str(self.certificates.ca_cert))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.loads(response.read())

    def _wait_healthy(self, pid: int, deadline: float) -> None:
        while True:
            if not alive(pid):
                raise ElasticsearchRuntimeError(f"secured elasticsearch exited during start-up\n{self._log_tail()}")
            try:
                health = self.request("GET", "/_cluster/health?wait_for_status=yellow&timeout=1s")
                if health.get("cluster_name") == SECURED_CLUSTER and not health.get("timed_out"):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ElasticsearchRuntimeError(f"secured elasticsearch not healthy in time\n{self._log_tail()}")
            time.sleep(1.0)

    def status(self) -> dict[str, Any] | None:
        pid = self._our_pid()
        if pid is None:
            return None
        try:
            health = self.request("GET", "/_cluster/health")
        except (urllib.error.URLError, OSError, ValueError):
            health = {}
        return {"pid": pid, "url": self.url, "healthy": health.get("status") in ("green", "yellow")}


def _run_tool(argv: list[str], env: dict[str, str], stdin: str = "") -> None:
    result = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise ElasticsearchRuntimeError(f"{Path(argv[0]).name} {argv[1]} failed:\n{result.stdout}{result.stderr}")
