"""Server interceptors: the one place domain errors become gRPC statuses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc
from grpc_status import rpc_status

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
