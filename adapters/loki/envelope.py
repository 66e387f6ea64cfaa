"""Loki's answers: `{"status": "success", "data": ...}` and its error shape, plus the `/loki` family app."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logriver.core.errors import LogriverError
from logriver.core.web import family_app, json_response, retry_headers
from logriver.services import SERVICES, Services

LOKI_PREFIX = "/loki"
_ERROR_TYPES = {400: "bad_data", 404: "not_found", 413: "bad_data", 422: "execution", 429: "too_many_requests"}


def loki_error_response(error: LogriverError, request: web.Request) -> web.Response:
    """Prometheus' error fields (`errorType`, `error`) and Loki's (`code`, `message`): Grafana reads `message`."""
    kind = _ERROR_TYPES.get(error.status) or ("unavailable" if error.status in (503, 504) else error.type)
    body = {
        "status": "error",
        "errorType": kind,
        "error": error.message,
        "code": error.status,
        "message": error.message,
    }
    return json_response(body, error.status, retry_headers(error, request))


def success(data: Any) -> web.Response:
    return json_response({"status": "success", "data": data})


def loki_app(services: Services) -> web.Application:
    """The `/loki` family: Loki's routes under `/api/v1`, every error in Loki's shape."""
    app = family_app(services.settings, services.tokens, loki_error_response)
    app[SERVICES] = services
    return app
