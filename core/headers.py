"""Request headers are text: bytes that are not UTF-8 are the client's error, named as such."""

from __future__ import annotations

from collections.abc import Mapping

from logriver.core.errors import BadRequestError


def check_header_text(headers: Mapping[str, str]) -> None:
    """400 naming the first header whose value is not UTF-8 text.

    aiohttp keeps such bytes as lone surrogates, which every later encode() would trip on.
    """
    for name, value in headers.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestError(
                f"the {name} header is not UTF-8 text; send it as ASCII", {"header": name}, type="invalid_header"
            ) from None
