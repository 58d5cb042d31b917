"""Every RPC the gateway serves, read from the services' descriptors, not listed by hand.

A method added to a .proto file is fuzzed without anyone remembering to: the strategies in
``requests`` refuse to run for a method they have no entry for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from ibmq_gateway.v1 import backend_service_pb2, job_service_pb2


@dataclass(frozen=True)
class Method:
    """One RPC: its path and message types, and the shape of its call."""

    path: str
    """``/package.Service/Method``, as on the wire."""
    request: type[Any]
    response: type[Any]
    server_streaming: bool
    client_streaming: bool

    @property
    def name(self) -> str:
        """``Service/Method`` without the package, for reports."""
        service, _, method = self.path.strip("/").rpartition("/")
        return f"{service.rpartition('.')[2]}/{method}"

    @property
    def open(self) -> bool:
        """Whether the gateway answers it without a token (health, for probes)."""
        return self.path.startswith("/grpc.health.v1.Health/")


def _methods_of(module: Any) -> list[Method]:
    methods = []
    for service in module.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            methods.append(_method(service, method))
    return methods


def _method(service: descriptor.ServiceDescriptor, method: descriptor.MethodDescriptor) -> Method:
    return Method(
        path=f"/{service.full_name}/{method.name}",
        request=message_factory.GetMessageClass(method.input_type),
        response=message_factory.GetMessageClass(method.output_type),
        server_streaming=method.server_streaming,
        client_streaming=method.client_streaming,
    )


METHODS: tuple[Method, ...] = tuple(
    method
    for module in (job_service_pb2, backend_service_pb2, health_pb2, reflection_pb2)
    for method in _methods_of(module)
)
"""The gateway's own services, then health and reflection (which it serves too)."""

BY_NAME = {method.name: method for method in METHODS}
