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
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except GatewayError as error:
            await _abort(context, error)
        except Exception:
            log.exception("unexpected error in a unary RPC")
            await context.abort(grpc.StatusCode.INTERNAL, _INTERNAL_MESSAGE)

    return guarded


def _guard_stream(
    behaviour: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    async def guarded(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except GatewayError as error:
            await _abort(context, error)
        except Exception:
            log.exception("unexpected error in a streaming RPC")
            await context.abort(grpc.StatusCode.INTERNAL, _INTERNAL_MESSAGE)

    return guarded


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: GatewayError) -> None:
    status = rpc_status.to_status(status_for(error))
    await context.abort(status.code, status.details, status.trailing_metadata)
