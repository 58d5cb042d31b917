"""The raw ceiling: what plain grpc.aio does on this machine with the gateway's shapes.

On a shared two-core machine a gateway figure alone says little; beside the same shape
served by a bare grpc.aio server in the same run, it becomes a ratio that survives the
noise. The raw server has generic handlers on bytes (no protos, no logic, no store):

- calls: a unary call or a server stream that answers at once with messages of the sizes
  the request asks for (the benches pass their gateway calls' sizes). The server runs on a
  thread of the caller's process, as the embedded gateway does.
- fan-out: N streams, opened by a client process over the same channels as the gateway's
  watchers; each round, one message stamped with time.time_ns() just before it is queued
  goes to every stream, and the delay is its receipt minus the stamp.
- memory: for the fan-out the raw server has a process of its own, so its VmRSS with the N
  streams open, minus before they opened, over N, is what a stream costs grpc.aio.

Clients use the benches' channel credentials (local credentials, plus a bearer token the
raw server ignores), so the transport is the gateway's and only the gateway's work differs.

    .venv/bin/python bench/ceiling.py [--runs 100] [--watchers 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from raw_server import (
    REPLAY,
    UNARY,
    WATCH,
    CallShape,
    ThreadedServer,
    fanout_server_process,
)
from shared import loopback_credentials, positive, separate_channel

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# No serializers: requests and replies are the bytes on the wire.
_AS_BYTES: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
# Seconds the parent waits for a child process's next report.
_REPORT_TIMEOUT = 120.0


# -- calls ------------------------------------------------------------------------------------


def measure_calls(shapes: Sequence[CallShape], runs: int, warmup: int) -> list[list[float]]:
    """Makes the calls in order, ``runs`` times after ``warmup``; seconds of each call per run."""
    with ThreadedServer() as address, grpc.secure_channel(address, loopback_credentials()) as ch:
        callers = [caller(ch, shape) for shape in shapes]
        for _ in range(warmup):
            for call in callers:
                call()
        return [[timed(call) for call in callers] for _ in range(runs)]


def caller(channel: grpc.Channel, shape: CallShape) -> Callable[[], object]:
    request = shape.encode()
    if shape.stream:
        replay = channel.unary_stream(REPLAY, **_AS_BYTES)
        return lambda: list(replay(request, timeout=30))
    unary = channel.unary_unary(UNARY, **_AS_BYTES)
    return lambda: unary(request, timeout=30)


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# -- fan-out and memory -----------------------------------------------------------------------


@dataclass(frozen=True)
class FanoutRun:
    """Delays of every message on every stream, and what the streams cost the raw server."""

    watchers: int
    rounds: int
    size: int
    delays_ms: list[float]
    lost: int
    failed: int
    channels: int
    open_seconds: float
    kib_per_stream: float


def measure_fanout(
    watchers: int, per_channel: int, rounds: int, size: int, interval: float = 0.1
) -> FanoutRun:
    """Raw server and its clients each in a spawned process (no fork: gRPC's threads would
    not survive it); this process only steers them."""
    context = multiprocessing.get_context("spawn")
    to_server, server_end = context.Pipe()
    to_clients, clients_end = context.Pipe()
    server = context.Process(target=fanout_server_process, args=(server_end,))
    server.start()
    listening = receive(to_server, "listening")
    plan = (listening["address"], watchers, per_channel, clients_end)
    clients = context.Process(target=fanout_client_process, args=plan)
    clients.start()
    ready = receive(to_clients, "ready")
    to_server.send(("publish", rounds, size, interval))
    published = receive(to_server, "published")
    done = receive(to_clients, "done")
    to_server.send(("stop",))
    for process in (clients, server):
        process.join(30)
    grown = published["kib"] - listening["kib"]
    return FanoutRun(
        watchers=watchers,
        rounds=rounds,
        size=size,
        delays_ms=done["delays_ms"],
        lost=watchers * rounds - len(done["delays_ms"]),
        failed=done["failed"],
        channels=ready["channels"],
        open_seconds=ready["seconds"],
        kib_per_stream=grown / max(1, published["streams"]),
    )


def receive(pipe: Connection, kind: str) -> dict[str, Any]:
    if not pipe.poll(_REPORT_TIMEOUT):
        raise TimeoutError(f"no {kind!r} from a ceiling process within {_REPORT_TIMEOUT:.0f} s")
    got, payload = pipe.recv()
    if got != kind:
        raise RuntimeError(f"expected {kind!r} from a ceiling process, got {got!r}")
    data: dict[str, Any] = payload
    return data


@dataclass
class Receipts:
    """What the client process saw over all its streams (one event loop: no locks)."""

    expected: int
    all_started: asyncio.Event
    started: int = 0
    failed: int = 0

    def note_started(self) -> None:
        self.started += 1
        if self.started >= self.expected:
            self.all_started.set()


def fanout_client_process(address: str, watchers: int, per_channel: int, pipe: Connection) -> None:
    """Reports ("ready", ...) once every stream is open, then ("done", ...) as plain data."""
    asyncio.run(follow_all(address, watchers, per_channel, pipe))


async def follow_all(address: str, watchers: int, per_channel: int, pipe: Connection) -> None:
    receipts = Receipts(expected=watchers, all_started=asyncio.Event())
    channels = [separate_channel(address, index) for index in range(-(-watchers // per_channel))]
    began = time.perf_counter()
    streams = [follow(channels[index // per_channel], receipts) for index in range(watchers)]
    tasks = [asyncio.create_task(stream) for stream in streams]
    await receipts.all_started.wait()
    opening = time.perf_counter() - began
    pipe.send(("ready", {"seconds": opening, "channels": len(channels)}))
    delays = [delay for per_stream in await asyncio.gather(*tasks) for delay in per_stream]
    for channel in channels:
        await channel.close(None)
    pipe.send(("done", {"delays_ms": delays, "failed": receipts.failed}))


async def follow(channel: grpc.aio.Channel, receipts: Receipts) -> list[float]:
    """One stream to its end: each message's receipt minus its stamp, in ms."""
    delays: list[float] = []
    started = False
    try:
        async for message in channel.unary_stream(WATCH, **_AS_BYTES)(b"", timeout=_REPORT_TIMEOUT):
            received_ns = time.time_ns()
            if not started:
                started = True
                receipts.note_started()
                continue
            (stamp_ns,) = struct.unpack_from(">Q", message)
            delays.append((received_ns - stamp_ns) / 1e6)
    except grpc.aio.AioRpcError:
        receipts.failed += 1
    finally:
        if not started:
            receipts.note_started()
    return delays


# -- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (sorts a copy)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def beside(figure: str, gateway: float, ceiling_name: str, ceiling: float, unit: str = "ms") -> str:
    """A gateway figure, its ceiling, and their ratio: the figure that survives noise."""
    ceiling_text = f"{ceiling_name} {figure} {ceiling:.1f} {unit}"
    return beside_text(f"gateway {figure} {gateway:.1f} {unit}", gateway, ceiling_text, ceiling)


def beside_text(gateway_text: str, gateway: float, ceiling_text: str, ceiling: float) -> str:
    """``beside`` with the two figures worded by the caller (a rate, say, not a time)."""
    ratio = f"{gateway / ceiling:.2f}x" if ceiling > 0 else "n/a"
    return f"{gateway_text} | {ceiling_text} | {ratio}"


def fanout_lines(run: FanoutRun) -> list[str]:
    figures = " ".join(
        f"{label} {percentile(run.delays_ms, fraction):.1f}"
        for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    )
    return [
        f"raw fan-out: 1 message ({run.size} B) to each of {run.watchers} streams x "
        f"{run.rounds} rounds, {run.channels} channels, clients in another process; "
        f"all opened in {run.open_seconds:.2f} s",
        f"  stamp -> receipt n={len(run.delays_ms)} {figures} max {max(run.delays_ms):.1f} ms; "
        f"lost {run.lost}, failed streams {run.failed}",
        f"  raw server VmRSS: about {run.kib_per_stream:.1f} KiB per open stream",
    ]


def fanout_ratio_lines(
    gateway: dict[str, list[float]], run: FanoutRun, gateway_kib: float | None
) -> list[str]:
    """Each named set of gateway delays (ms), and its memory per stream, beside the raw run."""
    lines = ["beside the raw fan-out of this run (p99, and the p50 ratio):"]
    raw_p50, raw_p99 = (percentile(run.delays_ms, fraction) for fraction in (0.5, 0.99))
    for name, delays in gateway.items():
        if not delays:
            continue
        p50, p99 = (percentile(delays, fraction) for fraction in (0.5, 0.99))
        lines.append(
            f"  {name:<28} {beside('p99', p99, 'raw fan-out', raw_p99)}; p50 {p50 / raw_p50:.2f}x"
        )
    if gateway_kib is not None:
        figure = beside("per open stream", gateway_kib, "raw", run.kib_per_stream, unit="KiB")
        lines.append(f"  {'memory':<28} {figure}")
    return lines


# Sizes of a Bell job's calls through the gateway (SubmitJob, WatchJob, GetJobResult), as
# bell_latency measured them here; the benches pass the sizes of their own run instead.
BELL_SHAPES = (
    CallShape(362, (174,)),
    CallShape(84, (260, 287, 346, 338, 367), stream=True),
    CallShape(34, (911,)),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=positive, default=100, help="measured call sequences")
    parser.add_argument("--warmup", type=int, default=5, help="discarded call sequences first")
    parser.add_argument("--watchers", type=positive, default=1000, help="fan-out streams (N)")
    parser.add_argument("--streams-per-channel", type=positive, default=100)
    parser.add_argument("--rounds", type=positive, default=20, help="messages per stream")
    parser.add_argument("--size", type=positive, default=300, help="fan-out message bytes")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    runs = measure_calls(BELL_SHAPES, args.runs, args.warmup)
    print(f"raw calls (a Bell job's sizes through the gateway), N={args.runs}:")
    for index, shape in enumerate(BELL_SHAPES):
        seconds = [run[index] * 1000 for run in runs]
        kind = "stream" if shape.stream else "unary"
        print(
            f"  {kind} {shape}: median {percentile(seconds, 0.5):.2f} ms "
            f"p90 {percentile(seconds, 0.9):.2f} ms"
        )
    fanout = measure_fanout(args.watchers, args.streams_per_channel, args.rounds, args.size)
    print("\n".join(fanout_lines(fanout)))


if __name__ == "__main__":
    main()
