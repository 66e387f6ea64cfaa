"""Every call the viewer makes to the API, as (method, path template).

The browser tests record the page's requests and check each against this list, so a new call
in the front end cannot go unnoticed by a check of the API description.
"""

from __future__ import annotations

import re

VIEWER_API_CALLS: tuple[tuple[str, str], ...] = (
    ("GET", "/api/v1/streams"),
    ("GET", "/api/v1/lines"),
    ("GET", "/api/v1/lines/{line_id}/context"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/tail"),
)


def match_call(method: str, path: str) -> tuple[str, str] | None:
    """The declared call a request is an instance of, or None."""
    for declared_method, template in VIEWER_API_CALLS:
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$"
        if method == declared_method and re.match(pattern, path):
            return declared_method, template
    return None
