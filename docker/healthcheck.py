#!/usr/bin/env python3
"""Exits 0 when a gateway's gRPC health service says SERVING, else 1.

The image installs this file as ``ibmq-gateway-healthcheck`` and runs it as its HEALTHCHECK;
tests/test_docker.py runs it against a live gateway. The address to check is the first
argument if there is one, else the port of ``IBMQ_GATEWAY_ADDRESS`` on this host (a wildcard
host such as 0.0.0.0 is checked on 127.0.0.1), else 127.0.0.1:50051.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

WILDCARD_HOSTS = {"", "0.0.0.0", "[::]", "*"}


def target(argv: list[str]) -> str:
    """The address to check."""
    if len(argv) > 1:
        return argv[1]
    host, _, port = os.environ.get("IBMQ_GATEWAY_ADDRESS", "127.0.0.1:50051").rpartition(":")
    return f"{'127.0.0.1' if host in WILDCARD_HOSTS else host}:{port}"


def main(argv: list[str]) -> int:
    address = target(argv)
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=3
            )
    except grpc.RpcError as error:
        print(f"{address}: {error.code().name} {error.details()}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{address}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
