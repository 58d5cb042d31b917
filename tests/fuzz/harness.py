"""Sends a fuzzed ``Call`` over a real channel and says what, if anything, is wrong with the answer.

The bytes go on the wire as they are (no serializer), so a mutated body reaches the server's
own decoding. A unary call must answer before its deadline; a stream may stay open (a live
watch sends nothing until an event or a heartbeat), so it is read for a few messages or until
its deadline, then cancelled. Whatever the call ends with must be a status the gateway chose:
UNKNOWN and INTERNAL mean an exception escaped a handler, a unary DEADLINE_EXCEEDED means
the gateway did not answer, and every message received must parse as the response type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from tests.fuzz.calls import Call

UNARY_DEADLINE_S = 20.0
"""Long enough for a big circuit's parsing on a busy machine, short of a hang."""
STREAM_DEADLINE_S = 0.5
STREAM_MESSAGES = 3
"""A stream is read this far or until its deadline, then cancelled: a replay comes at once,
and waiting for heartbeats (a second apart at least) would cost most of a run's time."""

_UNCAUGHT = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})


@dataclass(frozen=True)
class Outcome:
    """How one call ended."""

    code: grpc.StatusCode
    messages: int
    """Responses received (and parsed)."""
    details: str = ""
    problem: str = ""
    """Why the outcome breaks the property (empty when it holds)."""


def send(channel: grpc.Channel, call: Call) -> Outcome:
    """Sends ``call`` on ``channel`` and judges how it ended."""
    method = call.method
    if method.client_streaming:
        responses = _bidi(channel, call)
    elif method.server_streaming:
        responses = _stream(channel, call)
    else:
        responses = _unary(channel, call)
    return _judged(call, responses)


def _unary(channel: grpc.Channel, call: Call) -> Iterator[bytes]:
    rpc = channel.unary_unary(call.method.path, None, None)
    yield rpc(call.body, metadata=call.metadata, timeout=UNARY_DEADLINE_S)


def _stream(channel: grpc.Channel, call: Call) -> Iterator[bytes]:
    rpc = channel.unary_stream(call.method.path, None, None)
    yield from _bounded(rpc(call.body, metadata=call.metadata, timeout=STREAM_DEADLINE_S))


def _bidi(channel: grpc.Channel, call: Call) -> Iterator[bytes]:
    # Reflection: one request, then the client's half closes and the server ends the stream.
    rpc = channel.stream_stream(call.method.path, None, None)
    responses = rpc(iter([call.body]), metadata=call.metadata, timeout=STREAM_DEADLINE_S)
    yield from _bounded(responses)


def _bounded(responses: Any) -> Iterator[bytes]:
    try:
        for count, response in enumerate(responses, start=1):
            yield response
            if count >= STREAM_MESSAGES:
                return
    finally:
        responses.cancel()


def _judged(call: Call, responses: Iterator[bytes]) -> Outcome:
    received = 0
    try:
        for body in responses:
            received += 1
            if problem := _unparsed(call, body):
                return Outcome(grpc.StatusCode.OK, received, problem=problem)
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
        return Outcome(code, received, details, _problem(call, code, details))
    return Outcome(grpc.StatusCode.OK, received)


def _unparsed(call: Call, body: bytes) -> str:
    try:
        call.method.response.FromString(body)
    except DecodeError as error:
        return f"response {body[:80]!r} ({len(body)} bytes) does not parse: {error}"
    return ""


def _problem(call: Call, code: grpc.StatusCode, details: str) -> str:
    if code in _UNCAUGHT:
        return f"{code.name}: {details[:500]}"
    if code == grpc.StatusCode.CANCELLED:
        # The harness cancels a stream only after its last read, so this one is the server's.
        return f"cancelled by the server: {details[:500]}"
    streams = call.method.server_streaming or call.method.client_streaming
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not streams:
        return f"no answer within {UNARY_DEADLINE_S} s"
    return ""


def judge(call: Call, outcome: Outcome) -> None:
    """Raises AssertionError (for hypothesis to minimise) when the outcome breaks the rules."""
    assert not outcome.problem, f"{outcome.problem}\n{call!r}"
