"""The one way the gateway intercepts RPCs: by wrapping each call's behaviour."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc

if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor
    Handler = grpc.RpcMethodHandler

Unary = Callable[..., Awaitable[Any]]
"""A unary behaviour: ``async def (request, context) -> response``."""
Stream = Callable[..., AsyncIterator[Any]]
"""A streaming behaviour: an async generator of ``(request, context)``."""


class BehaviourInterceptor(_Interceptor):
    """Wraps each RPC's behaviour; subclasses say how, for unary and streaming calls.

    grpc's handlers are namedtuples holding the behaviour for the call's shape. A
    bidirectional behaviour (server reflection) takes a request iterator instead of a
    request but otherwise has a server stream's shape, so it is wrapped as a stream.

    grpc asks every interceptor for every call's handler. A method's wrapped handler
    depends on nothing but the method (what varies per call reaches the wrappers as their
    arguments), so each is made once and kept; the interceptors inside are then not asked
    again for that method. Unknown methods are not kept: their names come from clients.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            wrapped = self._wrap(await continuation(details), details.method)
            if wrapped is not None:
                self._wrapped[details.method] = wrapped
        return wrapped

    def _wrap(self, handler: Handler | None, method: str) -> Any:
        if handler is None:
            return handler
        handlers = cast("Any", handler)
        if handlers.request_deserializer is not None:
            deserializer = self.wrap_deserializer(handlers.request_deserializer)
            handlers = handlers._replace(request_deserializer=deserializer)
        if handlers.unary_unary is not None:
            return handlers._replace(unary_unary=self.wrap_unary(handlers.unary_unary, method))
        for kind in ("unary_stream", "stream_stream"):
            behaviour = getattr(handlers, kind)
            if behaviour is not None:
                stream = self.wrap_stream(_as_generator(behaviour), method)
                return handlers._replace(**{kind: stream})
        return handlers

    def wrap_deserializer(self, deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        """The request deserializer to use instead of ``deserializer`` (of every request)."""
        return deserializer

    def wrap_unary(self, behaviour: Unary, method: str) -> Unary:
        """The behaviour to run instead of a unary ``behaviour`` of ``/Service/Method``."""
        return behaviour

    def wrap_stream(self, behaviour: Stream, method: str) -> Stream:
        """The behaviour to run instead of a streaming ``behaviour``."""
        return behaviour


def _as_generator(behaviour: Any) -> Stream:
    """A streaming behaviour as an async generator, even one that writes with ``context.write``.

    The wrappers iterate what they wrap; health's ``Watch`` is a coroutine that writes its
    responses instead, and iterating it failed every call with INTERNAL.
    """
    if not inspect.iscoroutinefunction(behaviour):
        return cast("Stream", behaviour)

    async def generator(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await behaviour(request, context)
        return
        yield  # makes this an async generator that yields nothing

    return generator
