"""Loki's push messages, declared here and decoded by the protobuf runtime.

The wire format (field numbers and types) is Loki's `pkg/push/push.proto`; Loki's repository is
AGPL, so the four messages are described from the format rather than generated from its file:

    PushRequest { repeated Stream streams = 1; }
    Stream      { string labels = 1; repeated Entry entries = 2; uint64 hash = 3; }
    Entry       { google.protobuf.Timestamp timestamp = 1; string line = 2;
                  repeated LabelPair structuredMetadata = 3; }
    LabelPair   { string name = 1; string value = 2; }
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

_PACKAGE = "logriver.lokipush"
_TYPES = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _TYPES.LABEL_OPTIONAL, _TYPES.LABEL_REPEATED


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, *fields: tuple[str, int, int, int, str]) -> None:
    message = file.message_type.add(name=name)
    for field_name, number, kind, label, type_name in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name


def _push_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="logriver/loki_push.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    string, uint64, message = _TYPES.TYPE_STRING, _TYPES.TYPE_UINT64, _TYPES.TYPE_MESSAGE
    _message(file, "LabelPair", ("name", 1, string, _OPTIONAL, ""), ("value", 2, string, _OPTIONAL, ""))
    _message(
        file,
        "Entry",
        ("timestamp", 1, message, _OPTIONAL, ".google.protobuf.Timestamp"),
        ("line", 2, string, _OPTIONAL, ""),
        ("structuredMetadata", 3, message, _REPEATED, f".{_PACKAGE}.LabelPair"),
    )
    _message(
        file,
        "Stream",
        ("labels", 1, string, _OPTIONAL, ""),
        ("entries", 2, message, _REPEATED, f".{_PACKAGE}.Entry"),
        ("hash", 3, uint64, _OPTIONAL, ""),
    )
    _message(file, "PushRequest", ("streams", 1, message, _REPEATED, f".{_PACKAGE}.Stream"))
    return file


def _push_request_class() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_push_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.PushRequest"))


PushRequest: Any = _push_request_class()
