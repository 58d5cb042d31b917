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
from typing import TYPE_CHECKING, Any, Protocol, cast

import grpc
from grpc_status import rpc_status

from ibmq_gateway.server.auth import current_principal
from ibmq_gateway.server.errors import GatewayError, status_for

log = logging.getLogger(__name__)

_INTERNAL_MESSAGE = "internal error in the gateway; the server log has the details"


if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor
    _Handler = grpc.RpcMethodHandler


class ErrorInterceptor(_Interceptor):
    """Turns ``GatewayError`` into its status (with details) and anything else into INTERNAL."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        # grpc's handlers are namedtuples; their behaviours are coroutines under grpc.aio.
        handlers = cast("Any", handler)
        if handlers.unary_unary is not None:
            return cast(
                "_Handler", handlers._replace(unary_unary=_guard_unary(handlers.unary_unary))
            )
        if handlers.unary_stream is not None:
            return cast(
                "_Handler", handlers._replace(unary_stream=_guard_stream(handlers.unary_stream))
            )
        if handlers.stream_stream is not None:  # server reflection: same shape as a stream
            return cast(
                "_Handler", handlers._replace(stream_stream=_guard_stream(handlers.stream_stream))
            )
        return handler


def _guard_unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with _statuses(context):
            return await behaviour(request, context)

    return guarded


def _guard_stream(
    behaviour: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    async def guarded(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async with _statuses(context):
            async for response in behaviour(request, context):
                yield response

    return guarded


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


class ObservingInterceptor(_Interceptor):
    """Tells each observer when a unary or server-streaming call ends, and how."""

    def __init__(self, observers: Sequence[CallObserver]) -> None:
        self._observers = tuple(observers)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        handlers = cast("Any", handler)
        service, _, method = handler_call_details.method.strip("/").rpartition("/")
        if handlers.unary_unary is not None:
            unary = self._unary(handlers.unary_unary, service, method)
            return cast("_Handler", handlers._replace(unary_unary=unary))
        if handlers.unary_stream is not None:
            stream = self._stream(handlers.unary_stream, service, method)
            return cast("_Handler", handlers._replace(unary_stream=stream))
        # The gateway has no client streams; reflection's bidirectional stream goes unobserved.
        return handler

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
