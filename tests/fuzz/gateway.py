"""The fuzzed gateway seen from outside: whether it still serves, and its resident memory."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def serving(address: str, timeout: float = 10.0) -> bool:
    """Whether the gateway's health service says SERVING (asked on a new channel)."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def rss_kib(pid: int | str = "self") -> int:
    """A process's resident memory (this one's by default), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
