"""What the benchmarks share: argument checks, the Bell circuit, channels and memory."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

if TYPE_CHECKING:
    from ibmq_gateway.server.ops.embedded import EmbeddedGateway

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# The benchmarks' gateways start with this admin token (bootstrap_token).
BENCH_TOKEN = "igw_bench-admin-token"


def loopback_credentials(token: str = BENCH_TOKEN) -> grpc.ChannelCredentials:
    """Plaintext to a loopback gateway, with ``authorization: Bearer <token>`` on each call."""
    return grpc.composite_channel_credentials(
        grpc.local_channel_credentials(), grpc.access_token_call_credentials(token)
    )


@contextlib.contextmanager
def embedded_gateway(**settings: Any) -> Iterator[EmbeddedGateway]:
    """A gateway on a thread of this process, on a state directory of its own (removed after),
    with the benchmarks' admin token and no fake devices (their catalogue takes seconds to
    build); ``settings`` override any other setting."""
    # Imported here: the benchmarks' client and raw-server processes import this module too.
    from ibmq_gateway.server.core.settings import Settings
    from ibmq_gateway.server.ops.embedded import EmbeddedGateway

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as state_dir:
        chosen: dict[str, Any] = {
            "address": "127.0.0.1:0",
            "state_dir": Path(state_dir),
            "fake_devices": (),
            "bootstrap_token": BENCH_TOKEN,
            **settings,
        }
        with EmbeddedGateway(Settings(**chosen)) as gateway:
            yield gateway


def separate_channel(address: str, index: int) -> grpc.aio.Channel:
    """An aio channel with its own TCP connection: the ``index``-th of a client's channels."""
    # Several channels, not one: a server or proxy may cap concurrent streams per HTTP/2
    # connection (100 is a common MAX_CONCURRENT_STREAMS) and streams beyond the cap wait.
    # This gateway does not (1,000 streams on one channel ran here without a stall), but
    # real watchers are many clients, not one connection. gRPC shares one connection
    # between channels with equal arguments (the global subchannel pool), so each channel
    # gets a local pool, and so its own TCP connection.
    options = [("grpc.use_local_subchannel_pool", 1), ("bench.channel_index", index)]
    return grpc.aio.secure_channel(address, loopback_credentials(), options=options)


def rss_kib() -> int:
    """This process's resident memory, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used so far, all its threads (not its children)."""
    # Fields 14 and 15 of /proc/<pid>/stat, counted after the command's closing bracket.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
