"""Server interceptors: where domain errors become statuses, and where each call is observed.

``ObservingInterceptor`` goes first (outermost), so it sees the status the client gets,
after ``ErrorInterceptor`` has mapped the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from ibmq_gateway.server.api.auth import current_principal
from ibmq_gateway.server.api.peers import PerPeerLog, peer_host
from ibmq_gateway.server.api.wrapping import BehaviourInterceptor, Stream, Unary
from ibmq_gateway.server.core.errors import GatewayError, MalformedRequestError, status_for

log = logging.getLogger(__name__)

_INTERNAL_MESSAGE = "internal error in the gateway; the server log has the details"


class ErrorInterceptor(BehaviourInterceptor):
    """Turns ``GatewayError`` into its status (with details) and anything else into INTERNAL.

    A request whose bytes do not decode reaches no servicer: it ends INVALID_ARGUMENT with
    reason MALFORMED_REQUEST, and one log line (at most one per peer every few seconds).
    """

    def __init__(self) -> None:
        super().__init__()
        self._malformed_log = PerPeerLog(log, MALFORMED_LOG_EVERY_S)

    def wrap_deserializer(self, deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        # grpc would answer a decode error with UNKNOWN and log its traceback.
        def tolerant(data: bytes) -> Any:
            try:
                return deserializer(data)
            except DecodeError as error:
                return _Malformed(str(error))

        return tolerant

    def wrap_unary(self, behaviour: Unary, method: str) -> Unary:
        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async with _statuses(context):
                self._refuse_malformed(request, method, context)
                return await behaviour(request, context)

        return guarded

    def wrap_stream(self, behaviour: Stream, method: str) -> Stream:
        async def guarded(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async with _statuses(context):
                if isinstance(request, AsyncIterator):
                    # A request stream (reflection): its messages are decoded as they come.
                    request = self._refusing_malformed(request, method, context)
                else:
                    self._refuse_malformed(request, method, context)
                async for response in behaviour(request, context):
                    yield response

        return guarded

    async def _refusing_malformed(
        self, requests: AsyncIterator[Any], method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for request in requests:
            self._refuse_malformed(request, method, context)
            yield request

    def _refuse_malformed(
        self, request: Any, method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        if isinstance(request, _Malformed):
            peer = context.peer()
            line = "malformed request to %s from %s: %s"
            self._malformed_log.warning(peer_host(peer), line, method, peer, request.problem)
            raise MalformedRequestError(method.strip("/"), request.problem)


MALFORMED_LOG_EVERY_S = 10.0
"""At most one log line per peer in this many seconds for malformed requests."""


@dataclass(frozen=True)
class _Malformed:
    """What the tolerant deserializer hands on instead of raising."""

    problem: str


class _statuses:
    """Ends the RPC with the status an escaping exception maps to."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> bool:
        if (
            error is None
            or isinstance(error, grpc.aio.AbortError)
            or not isinstance(error, Exception)
        ):
            return False
        if isinstance(error, GatewayError):
            status = rpc_status.to_status(status_for(error))
            await self._context.abort(status.code, status.details, status.trailing_metadata)
        if isinstance(error, NotImplementedError):
            # A generated servicer's default body (health's List, in the version installed).
            await self._context.abort(grpc.StatusCode.UNIMPLEMENTED, "method not implemented")
        log.error("unexpected error in an RPC", exc_info=error)
        await self._context.abort(grpc.StatusCode.INTERNAL, _INTERNAL_MESSAGE)
        return False


@dataclass(frozen=True)
class Call:
    """One RPC as observers see it: which method and who called. Never the request."""

    service: str
    """Full service name, e.g. ``ibmq_gateway.v1.JobService``."""
    method: str
    """Method name, e.g. ``SubmitJob``."""
    principal: str
    peer: str
    streaming: bool
    """True for server streams."""


class CallObserver(Protocol):
    """Something told about every call: metrics, the RPC log."""

    def first_message(self, call: Call, seconds: float) -> None:
        """A server stream sent its first message ``seconds`` after the call started."""

    def finished(self, call: Call, code: grpc.StatusCode, seconds: float) -> None:
        """The call ended with ``code`` after ``seconds``."""


def principal_of() -> str:
    """Who is calling, as far as authentication got ("-" before or without it)."""
    user = current_principal.get()
    return user.name if user is not None else "-"


class ObservingInterceptor(BehaviourInterceptor):
    """Tells each observer when a call ends, and how (and when a stream first answers)."""

    def __init__(self, observers: Sequence[CallObserver]) -> None:
        super().__init__()
        self._observers = tuple(observers)

    def wrap_unary(self, behaviour: Unary, method: str) -> Unary:
        service, _, name = method.strip("/").rpartition("/")
        return self._unary(behaviour, service, name)

    def wrap_stream(self, behaviour: Stream, method: str) -> Stream:
        service, _, name = method.strip("/").rpartition("/")
        return self._stream(behaviour, service, name)

    def _unary(
        self, behaviour: Callable[..., Awaitable[Any]], service: str, method: str
    ) -> Callable[..., Awaitable[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _describe(context, service, method, streaming=False)
            with _finishing(call, context, self._observers):
                return await behaviour(request, context)

        return observed

    def _stream(
        self, behaviour: Callable[..., AsyncIterator[Any]], service: str, method: str
    ) -> Callable[..., AsyncIterator[Any]]:
        async def observed(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = _describe(context, service, method, streaming=True)
            with _finishing(call, context, self._observers) as elapsed:
                first = True
                async for response in behaviour(request, context):
                    if first:
                        _first_message(self._observers, call, elapsed())
                        first = False
                    yield response

        return observed


def _describe(
    context: grpc.aio.ServicerContext[Any, Any], service: str, method: str, *, streaming: bool
) -> Call:
    # The principal is filled in when the call is reported: authentication runs inside.
    return Call(service, method, "-", context.peer(), streaming)


@contextlib.contextmanager
def _finishing(
    call: Call, context: grpc.aio.ServicerContext[Any, Any], observers: Sequence[CallObserver]
) -> Iterator[Callable[[], float]]:
    """Times the call and reports the status it ended with; yields the elapsed-time clock."""
    started = time.perf_counter()
    code = grpc.StatusCode.UNKNOWN
    try:
        yield lambda: time.perf_counter() - started
        code = _status_code(context, grpc.StatusCode.OK)
    except (asyncio.CancelledError, GeneratorExit):
        # The client went away (or the server is stopping) before the call ended.
        code = grpc.StatusCode.CANCELLED
        raise
    except BaseException:
        # An abort has already put its status on the context.
        code = _status_code(context, grpc.StatusCode.UNKNOWN)
        raise
    finally:
        seconds = time.perf_counter() - started
        known = dataclasses.replace(call, principal=principal_of())
        _notify(observers, lambda observer: observer.finished(known, code, seconds))


def _status_code(
    context: grpc.aio.ServicerContext[Any, Any], default: grpc.StatusCode
) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else default


def _first_message(observers: Sequence[CallObserver], call: Call, seconds: float) -> None:
    known = dataclasses.replace(call, principal=principal_of())
    _notify(observers, lambda observer: observer.first_message(known, seconds))


def _notify(observers: Sequence[CallObserver], tell: Callable[[CallObserver], None]) -> None:
    # Observing a call must never fail it.
    for observer in observers:
        try:
            tell(observer)
        except Exception:
            log.exception("call observer %r failed", observer)
