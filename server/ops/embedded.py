"""A gateway running on a background thread with its own event loop.

The demo, the tests and the benchmarks use it to talk to a real server from synchronous
code (the client is synchronous, as qiskit's JobV1 is).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.ops.app import Gateway

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ibmq_gateway.server.core.settings import Settings
    from ibmq_gateway.server.executors.base import Executor


class EmbeddedGateway:
    """Starts a ``Gateway`` on a thread; ``restart`` keeps its port and state."""

    def __init__(self, settings: Settings, executors: Sequence[Executor] | None = None) -> None:
        self.settings = settings
        self._executors = executors
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.gateway: Gateway | None = None

    def start(self) -> str:
        """Starts the gateway and returns its address."""
        gateway = Gateway(self.settings, self._executors)
        self.call(gateway.start())
        self.gateway = gateway
        # Later starts (restarts) reuse the port the first start picked.
        self.settings = dataclasses.replace(self.settings, address=gateway.address)
        return gateway.address

    def stop(self) -> None:
        """Stops the gateway gracefully (its state stays on disk)."""
        if self.gateway is not None:
            self.call(self.gateway.stop())
            self.gateway = None

    def restart(self) -> str:
        """Stops and starts again on the same address and state directory."""
        self.stop()
        self._executors = None
        return self.start()

    def close(self) -> None:
        """Stops the gateway and its thread."""
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def address(self) -> str:
        """host:port of the running gateway."""
        assert self.gateway is not None
        return self.gateway.address

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        """Runs a coroutine on the gateway's loop and returns its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def __enter__(self) -> EmbeddedGateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
