"""Errors that cross module boundaries; each carries its HTTP status and a stable type."""

from __future__ import annotations

from typing import Any


class LogriverError(Exception):
    """Base of every error the HTTP layer turns into a response."""

    status = 500
    type = "internal_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, type: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if type is not None:
            self.type = type


class BadRequestError(LogriverError):
    status = 400
    type = "bad_request"


class ValidationError(BadRequestError):
    type = "validation_error"


class InvalidTokenError(BadRequestError):
    type = "invalid_token"


class InvalidQueryError(BadRequestError):
    type = "invalid_query"


class RequestTooLargeError(LogriverError):
    status = 413
    type = "request_too_large"


class UnauthorizedError(LogriverError):
    status = 401
    type = "unauthorized"


class ForbiddenError(LogriverError):
    status = 403
    type = "forbidden"


class NotFoundError(LogriverError):
    status = 404
    type = "not_found"


class StorageUnavailableError(LogriverError):
    """Elasticsearch did not answer (or is not ready); the client should retry later."""

    status = 503
    type = "storage_unavailable"


class StorageTimeoutError(StorageUnavailableError):
    status = 504
    type = "storage_timeout"


class IncompleteDeletionError(StorageUnavailableError):
    """Storage refused to delete some lines (a blocked index, say); what was deleted stays deleted."""

    type = "deletion_incomplete"


class OverloadedError(StorageUnavailableError):
    """Elasticsearch pushed back (429) past our bounded retries."""

    status = 429
    type = "overloaded"


def request_too_large(max_bytes: int) -> RequestTooLargeError:
    """The one wording of the request-size limit, for raw and decompressed bodies alike."""
    return RequestTooLargeError(
        f"the request body exceeds LOGRIVER_MAX_REQUEST_BYTES ({max_bytes} bytes); send fewer lines per request",
        {"limit": "max_request_bytes", "max_bytes": max_bytes},
    )
