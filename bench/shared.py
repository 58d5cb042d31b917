"""What both benchmarks use: argument checks and the Bell circuit they run."""

from __future__ import annotations

import argparse

import grpc

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
