"""Field values a careless, confused or hostile client sends: the strategies' alphabet.

Each strategy mixes plausible values with the edges where code breaks: empty, huge,
control characters, numbers at their type's limits, times outside any calendar, enum
numbers no enum has, JSON numbers JSON cannot write.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Timestamp's documented range (0001-01-01 to 9999-12-31); protobuf does not enforce it.
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)

ODD_TEXTS = (
    "",
    " ",
    "\x00",
    "\x00abc\x00",
    "\t\r\n",
    "%s%n%x",
    "{}{0}",
    "'; DROP TABLE jobs; --",
    "../../etc/passwd",
    "\u202eevil",
    "\ufeff",
    "🧪" * 50,
    "é" * 300,
    "a" * 201,
    "x" * 10_000,
    "null",
    "NaN",
    "-1",
    "0" * 40,
)


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text protobuf can carry (no lone surrogates), often odd, sometimes huge."""
    return st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=max_size),
        st.sampled_from(ODD_TEXTS),
        st.builds(str.__mul__, st.sampled_from("aZ\x01é🧪"), st.sampled_from([1000, 100_000])),
    )


def names(*known: str) -> st.SearchStrategy[str]:
    """One of ``known`` (so the call reaches deep code) or any other text."""
    if not known:
        return text()
    return st.one_of(st.sampled_from(known), text())


def int32() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-5, 600), st.integers(*INT32), st.sampled_from(INT32))


def int64() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-5, 10_000), st.integers(*INT64), st.sampled_from(INT64))


def enum_value(enum: Any) -> st.SearchStrategy[int]:
    """A value of ``enum`` (a protobuf enum wrapper) or a number it does not define."""
    return st.one_of(st.sampled_from(list(enum.values())), int32())


def timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    """Times in and around the calendar, and seconds and nanos no calendar holds."""
    seconds = st.one_of(
        st.integers(0, 2_000_000_000),
        st.integers(*TIMESTAMP_SECONDS),
        st.sampled_from([*TIMESTAMP_SECONDS, TIMESTAMP_SECONDS[0] - 1, TIMESTAMP_SECONDS[1] + 1]),
        st.integers(*INT64),
    )
    nanos = st.one_of(st.just(0), st.integers(0, 999_999_999), st.integers(*INT32))
    return st.builds(timestamp_pb2.Timestamp, seconds=seconds, nanos=nanos)


def durations() -> st.SearchStrategy[duration_pb2.Duration]:
    """Short, long, negative and impossible durations (mixed signs, huge seconds)."""
    seconds = st.one_of(st.integers(-2, 120), st.integers(*INT64), st.sampled_from(INT64))
    nanos = st.one_of(st.just(0), st.integers(*INT32))
    return st.builds(duration_pb2.Duration, seconds=seconds, nanos=nanos)


_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 2.0**63]),
    text(20),
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for level in range(depth):
        value = {f"l{level}": [value]}
    return value


def structs() -> st.SearchStrategy[struct_pb2.Struct]:
    """Struct messages: JSON-like documents, some with NaN, some nested deep.

    Not past 18 levels: each is four messages, and the client's protobuf will not build a
    request more than 100 messages deep. ``requests`` sends deeper bodies as raw bytes.
    """
    documents = st.one_of(
        st.dictionaries(
            text(12),
            st.recursive(
                _JSON_LEAVES,
                lambda inner: st.one_of(
                    st.lists(inner, max_size=3), st.dictionaries(text(8), inner, max_size=3)
                ),
                max_leaves=8,
            ),
            max_size=4,
        ),
        st.builds(_nested, st.sampled_from([5, 10, 18])),
    )
    return documents.map(_struct)


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


# Header names a gateway might read, and ones it surely does not.
_METADATA_KEYS = ("x-request-id", "user-agent-extra", "grpc-previous-rpc-attempts", "x-b3")
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_."


def metadata_entries() -> st.SearchStrategy[list[tuple[str, str | bytes]]]:
    """Extra metadata: printable ASCII in text keys, any bytes (bad UTF-8 too) in -bin keys."""
    key = st.one_of(st.sampled_from(_METADATA_KEYS), st.text(_KEY_ALPHABET, min_size=1))
    key = key.filter(lambda name: not name.startswith("grpc-") and name != "authorization")
    text_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
    binary_value = st.one_of(
        st.binary(max_size=64), st.sampled_from([b"\xff\xfe", b"\xc3(", b"\xed\xa0\x80"])
    )
    entry = st.one_of(
        st.tuples(key.filter(lambda name: not name.endswith("-bin")), text_value),
        st.tuples(key.map(lambda name: name + "-bin"), binary_value),
    )
    return st.lists(entry, max_size=3)
