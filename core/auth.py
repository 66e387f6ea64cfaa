"""API tokens: who the caller is (tenant) and what they may do (roles)."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from logriver.core.errors import ForbiddenError, UnauthorizedError

ROLES = ("read", "write", "admin")


@dataclass(frozen=True)
class Principal:
    tenant: str
    roles: frozenset[str]

    def require(self, role: str) -> None:
        """`admin` implies every role, `write` does not imply `read`."""
        if role not in self.roles and "admin" not in self.roles:
            raise ForbiddenError(f"this token lacks the {role!r} role", {"required_role": role})


class TokenStore:
    """Tokens from ``LOGRIVER_AUTH_FILE`` (or one generated dev token)."""

    def __init__(self, tokens: Mapping[str, Principal]):
        self._tokens = dict(tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenStore:
        data = json.loads(Path(path).read_text())
        tokens: dict[str, Principal] = {}
        for i, entry in enumerate(data.get("tokens", [])):
            roles = frozenset(entry.get("roles", []))
            unknown = roles - set(ROLES)
            if not entry.get("token") or not entry.get("tenant") or unknown:
                raise ValueError(f"{path}: tokens[{i}] needs a non-empty 'token' and 'tenant' and roles from {ROLES}")
            tokens[entry["token"]] = Principal(entry["tenant"], roles)
        return cls(tokens)

    @classmethod
    def dev(cls, tenant: str = "default") -> tuple[TokenStore, str]:
        token = "dev-" + secrets.token_urlsafe(24)
        return cls({token: Principal(tenant, frozenset(ROLES))}), token

    def lookup(self, token: str) -> Principal | None:
        # Constant-time comparison per candidate keeps token guessing from timing the dict lookup.
        for known, principal in self._tokens.items():
            # surrogatepass: a header's undecodable bytes arrive as lone surrogates; they match nothing.
            if hmac.compare_digest(known.encode(), token.encode("utf-8", "surrogatepass")):
                return principal
        return None


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """Bearer, Token (Scale), ApiKey and Basic (password is the token), or X-Auth-Token."""
    header = headers.get("Authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme in ("bearer", "token", "apikey") and value:
            return _maybe_api_key(value) if scheme == "apikey" else value
        if scheme == "basic" and value:
            return _basic_password(value)
    return headers.get("X-Auth-Token", "").strip() or None


def _basic_password(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return None
    return decoded.partition(":")[2] or None


def _maybe_api_key(value: str) -> str:
    # Elastic clients send ApiKey as base64("id:key"); accept that and the bare token alike.
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return value
    return decoded.partition(":")[2] if ":" in decoded else value


def authenticate(store: TokenStore, headers: Mapping[str, str]) -> Principal:
    token = token_from_headers(headers)
    if token is None:
        raise UnauthorizedError("no credentials: send Authorization: Bearer <token>")
    principal = store.lookup(token)
    if principal is None:
        raise UnauthorizedError("unknown token", type="invalid_credentials")
    return principal
