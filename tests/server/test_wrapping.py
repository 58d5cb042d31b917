"""Interceptors wrap a method's behaviour once, not on every call, and still run per call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ibmq_gateway.server.api.wrapping import BehaviourInterceptor, Unary

if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor

CHECK = "/grpc.health.v1.Health/Check"


class CountingWrapper(BehaviourInterceptor):
    """Counts the wrappers it makes and the calls that pass through them."""

    def __init__(self) -> None:
        super().__init__()
        self.wrapped: list[str] = []
        self.calls = 0

    def wrap_unary(self, behaviour: Unary, method: str) -> Unary:
        self.wrapped.append(method)

        async def counted(request: Any, context: Any) -> Any:
            self.calls += 1
            return await behaviour(request, context)

        return counted


class HandlerLookups(_Interceptor):
    """Innermost: counts how often grpc's own handler lookup is reached."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        self.lookups.append(details.method)
        return await continuation(details)


async def test_a_method_is_wrapped_once_and_every_call_still_runs_the_wrappers() -> None:
    outer, inner, lookups = CountingWrapper(), CountingWrapper(), HandlerLookups()
    server = grpc.aio.server(interceptors=[outer, inner, lookups])
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            for _ in range(3):
                await check(health_pb2.HealthCheckRequest(), timeout=10)
            unknown = channel.unary_unary("/nowhere.Service/Method", None, None)
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await unknown(b"", timeout=10)
                assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(None)

    assert outer.wrapped == inner.wrapped == [CHECK]
    assert outer.calls == inner.calls == 3
    # Unknown methods are looked up on every call: their names are the clients' to choose.
    assert lookups.lookups == [CHECK, "/nowhere.Service/Method", "/nowhere.Service/Method"]
