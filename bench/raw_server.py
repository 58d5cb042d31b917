"""A bare grpc.aio server with the gateway's shapes, for the benches' raw ceiling.

Generic handlers on bytes (no protos, no interceptors, no store): ``Unary`` and ``Replay``
answer at once with messages of the sizes their request asks for (``CallShape``), and
``Watch`` streams are fed by a ``Fanout``, whose rounds put one stamped message in every
open stream's queue. ``ThreadedServer`` runs it on a thread, as EmbeddedGateway runs the
gateway; ``fanout_server_process`` runs it as a process of its own, so that its VmRSS
counts only what its streams cost; ``unary_server_process`` does too, so that a throughput
ceiling's server has a process and its GIL to itself, as a ``serve`` process has.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from shared import rss_kib

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_SERVICE = "ceiling.Raw"
UNARY, REPLAY, WATCH = (f"/{_SERVICE}/{name}" for name in ("Unary", "Replay", "Watch"))
# The first message of a Watch stream: it tells the client the stream is open.
HELLO = b"open"


@dataclass(frozen=True)
class CallShape:
    """One call's message sizes in bytes: its request and each of its replies."""

    request: int
    replies: tuple[int, ...]
    stream: bool = False

    def encode(self) -> bytes:
        """The request: the reply sizes, padded with zeros to the request's size."""
        header = struct.pack(f">H{len(self.replies)}I", len(self.replies), *self.replies)
        return header.ljust(self.request, b"\0")

    def __str__(self) -> str:
        replies = "+".join(str(size) for size in self.replies)
        return f"{self.request} B -> {replies} B"


def reply_sizes(request: bytes) -> tuple[int, ...]:
    (count,) = struct.unpack_from(">H", request)
    sizes: tuple[int, ...] = struct.unpack_from(f">{count}I", request, 2)
    return sizes


async def _unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return bytes(reply_sizes(request)[0])


async def _replay(
    request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    for size in reply_sizes(request):
        yield bytes(size)


class Fanout:
    """The open streams' queues (one event loop: no locks); a round puts a message in each."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes | None]] = set()

    async def stream(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queues.add(queue)
        try:
            yield HELLO
            while (message := await queue.get()) is not None:
                yield message
        finally:
            self.queues.discard(queue)

    async def publish(self, rounds: int, size: int, interval: float) -> None:
        """Sends ``rounds`` stamped messages to every stream, then ends the streams."""
        for _ in range(rounds):
            await asyncio.sleep(interval)
            message = struct.pack(">Q", time.time_ns()).ljust(size, b"\0")
            for queue in self.queues:
                queue.put_nowait(message)
        for queue in self.queues:
            queue.put_nowait(None)


def build_server(fanout: Fanout) -> tuple[grpc.aio.Server, str]:
    """The raw server, bound to a free loopback port, not started; and its address."""
    # No serializers: the handlers take and return bytes as they are on the wire.
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Replay": grpc.unary_stream_rpc_method_handler(_replay),
        "Watch": grpc.unary_stream_rpc_method_handler(fanout.stream),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    return server, f"127.0.0.1:{port}"


class ThreadedServer:
    """The raw server on a thread with its own event loop, as EmbeddedGateway runs the gateway."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None

    def __enter__(self) -> str:
        self._thread.start()
        address: str = self._call(self._start())
        return address

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> str:
        self._server, address = build_server(Fanout())
        await self._server.start()
        return address

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop(1)

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(30)


def fanout_server_process(pipe: Connection) -> None:
    """Reports ("listening", ...), publishes on ("publish", ...), stops on ("stop",)."""
    asyncio.run(serve_fanout(pipe))


async def serve_fanout(pipe: Connection) -> None:
    fanout = Fanout()
    server, address = build_server(fanout)
    await server.start()
    pipe.send(("listening", {"address": address, "kib": rss_kib()}))
    loop = asyncio.get_running_loop()
    _, rounds, size, interval = await loop.run_in_executor(None, pipe.recv)
    # Read before the rounds: their queued messages are not what an open stream costs.
    opened = {"kib": rss_kib(), "streams": len(fanout.queues)}
    await fanout.publish(rounds, size, interval)
    pipe.send(("published", opened))
    await loop.run_in_executor(None, pipe.recv)
    await server.stop(1)


def unary_server_process(pipe: Connection) -> None:
    """Reports ("listening", {"address": ...}), answers calls until ("stop",)."""
    asyncio.run(serve_until_stopped(pipe))


async def serve_until_stopped(pipe: Connection) -> None:
    server, address = build_server(Fanout())
    await server.start()
    pipe.send(("listening", {"address": address}))
    # On an executor thread: the event loop goes on answering calls while this waits.
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    await server.stop(1)
