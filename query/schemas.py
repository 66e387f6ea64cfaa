"""Query-string parameters of the read API, validated with marshmallow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError

from logriver.core.errors import ValidationError
from logriver.core.fields import TimestampField
from logriver.core.params import LABEL_PARAM_PREFIX, label_filters
from logriver.query.reader import LineQuery
from logriver.query.streams import MAX_STREAMS

MAX_LIMIT = 10000


class WindowSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # label filters arrive as labels.<key> and are read separately

    start = TimestampField(load_default=None)
    end = TimestampField(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(min=1))
    stream_id = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-f]{32}$"))

    @validates_schema
    def _window_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("start") is not None and data.get("end") is not None and data["start"] >= data["end"]:
            raise SchemaError("start must be before end (start is inclusive, end exclusive)", "end")


class LinesSchema(WindowSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))
    from_ = fields.String(data_key="from", load_default="head", validate=validate.OneOf(["head", "tail"]))
    token = fields.String(load_default=None)


class SearchSchema(WindowSchema):
    sort = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))
    token = fields.String(load_default=None)
    interval = fields.String(load_default=None)


class ContextSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    before = fields.Integer(load_default=10, validate=validate.Range(min=0, max=MAX_LIMIT))
    after = fields.Integer(load_default=10, validate=validate.Range(min=0, max=MAX_LIMIT))


class StreamsSchema(WindowSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_STREAMS))
    token = fields.String(load_default=None, metadata={"description": "next_token of the previous page"})
    sort = fields.String(
        load_default="activity",
        validate=validate.OneOf(["activity", "labels"]),
        metadata={"description": "activity: newest line first (default); labels: by the labels' text"},
    )
    match = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "case-insensitive substring of any label value"},
    )


def load_params(schema: Schema, params: Mapping[str, str]) -> dict[str, Any]:
    """Validate query parameters; the 400 names each bad parameter and why."""
    plain = {k: v for k, v in params.items() if not k.startswith(LABEL_PARAM_PREFIX)}
    try:
        loaded: dict[str, Any] = schema.load(plain)
        return loaded
    except SchemaError as exc:
        problems = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        summary = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in problems.items())
        raise ValidationError(f"invalid parameters: {summary}", {"parameters": problems}) from None


def line_query(tenant: str, params: Mapping[str, str], loaded: dict[str, Any]) -> LineQuery:
    return LineQuery(
        tenant=tenant,
        labels=label_filters(params.items()),
        start_ns=loaded.get("start"),
        end_ns=loaded.get("end"),
        text=loaded.get("q"),
        stream_id=loaded.get("stream_id"),
    )
