"""Server interceptors: the one place domain errors become gRPC statuses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from ibmq_gateway.server.errors import GatewayError, status_for

log = logging.getLogger(__name__)

_INTERNAL_MESSAGE = "internal error in the gateway; the server log has the details"


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns ``GatewayError`` into its status (with details) and anything else into INTERNAL."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_guard_unary(handler.unary_unary))  # type: ignore[attr-defined,no-any-return]
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_guard_stream(handler.unary_stream))  # type: ignore[attr-defined,no-any-return]
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


def _guard_stream(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
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
