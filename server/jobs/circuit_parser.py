"""Submitted circuits parsed where their parsing cannot hold up the gateway.

The OpenQASM parsers are pure Python: on a thread they still hold the interpreter lock the
event loop needs, so a burst of large submissions stalled every RPC and stream
(``bench/parse_burst.py``: GetJob's p99 27 times its idle figure). Sources with more than
``IN_PROCESS_FROM_BYTES`` of OpenQASM are parsed in a worker process, which hands the
circuits back as QPY: loading a 120-gate circuit from QPY takes 0.1 ms where parsing its
OpenQASM 3 takes 45 ms. Smaller ones parse on a thread: a process round trip would cost them
more than their parse. Small QPY, most jobs, loads on the event loop itself: a thread's round
trip would cost it more than its load.

The worker processes' queue is bounded by time: a submission that would wait there for
more than ``max_wait`` seconds of parsing (estimated from the OpenQASM ahead of it) is
refused with a time to come back, instead of waiting past its caller's deadline.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, cast

from qiskit import qpy

from ibmq_gateway.server.core.errors import ParserBusyError
from ibmq_gateway.server.core.worker_processes import follow_gateway, worker_context
from ibmq_gateway.server.jobs.circuit_formats import (
    CircuitViolation,
    InvalidCircuitsError,
    parse_circuits,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qiskit import QuantumCircuit

    from ibmq_gateway.server.core.model import CircuitSource
    from ibmq_gateway.server.jobs.circuit_limits import CircuitLimits

IN_PROCESS_FROM_BYTES = 1024
"""OpenQASM text in one submission from which it is parsed in a worker process (about
16 ms of parsing; a Bell circuit, 100 bytes, parses in 1.2 ms)."""
ON_THE_LOOP_UP_TO_BYTES = 4096
"""QPY in one submission up to which it is loaded on the event loop (a Bell circuit's 336
bytes in 22 us, 4 KiB in about 0.2 ms), where a hop to a thread and back costs 0.1 to 0.3 ms."""
PARSER_NICENESS = 10
"""How far below the gateway's priority the parser processes run. A parse uses a whole core
for tens of milliseconds; at the gateway's priority a burst of them took the CPU the event
loop needed (``bench/parse_burst.py``: GetJob's p99 went from 4.0 to 2.5 times idle once
they ran niced). Simulations keep the gateway's priority: niced, a Bell job waited about
2.5 ms longer for its worker while the gateway's own threads were busy."""
_BYTES_PER_SECOND = {"qasm3": 60 * 1024, "qasm2": 3 * 1024 * 1024}
"""How fast one process parses each text format here (``qiskit.qasm3`` is pure Python,
``qiskit.qasm2`` is Rust): what the queue's length in seconds is estimated from."""


class CircuitParser:
    """Reads submissions' circuits: large OpenQASM in a worker process, the rest on a thread."""

    def __init__(
        self, limits: CircuitLimits, *, max_wait: float = 5.0, workers: int | None = None
    ) -> None:
        """``max_wait``: seconds of parsing a submission may wait behind. ``workers``: parser
        processes; by default half the machine's cores, at least one (the other half stays
        with the event loop and the simulations)."""
        self._limits = limits
        self._max_wait = max_wait
        self._workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._queued_s = 0.0
        """Estimated parsing time of what the worker processes have been given and not
        yet finished."""

    async def parse(
        self, sources: Sequence[CircuitSource], *, refuse_when_busy: bool = False
    ) -> list[QuantumCircuit]:
        """One qiskit circuit per source, in order.

        ``refuse_when_busy``: for a new submission, which its sender may send again later;
        a stored job's circuits are parsed however long they wait.

        Raises:
            InvalidCircuitsError: at least one source is not a valid circuit; it lists them all.
            ParserBusyError: ``refuse_when_busy``, and the worker processes' queue is longer
                than ``max_wait``.
        """
        if _loads_at_once(sources):
            return parse_circuits(sources, self._limits)
        text = sum(len(s.payload) for s in sources if s.format in _BYTES_PER_SECOND)
        if text < IN_PROCESS_FROM_BYTES:
            return await asyncio.to_thread(parse_circuits, sources, self._limits)
        parse_s = sum(
            len(s.payload) / _BYTES_PER_SECOND[s.format]
            for s in sources
            if s.format in _BYTES_PER_SECOND
        )
        waiting_s = self._queued_s / self._workers
        if refuse_when_busy and waiting_s > self._max_wait:
            raise ParserBusyError(waiting_s)
        self._queued_s += parse_s
        try:
            payload = await self._in_worker(list(sources))
        finally:
            self._queued_s -= parse_s
        if payload is None:
            # QPY cannot hold something these circuits use: parse them here after all.
            return await asyncio.to_thread(parse_circuits, sources, self._limits)
        return _loaded(payload)

    def close(self) -> None:
        """Stops the worker process, dropping parses not yet started."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def _in_worker(self, sources: list[CircuitSource]) -> bytes | None:
        # A worker can die of something else (the OOM killer, an operator): a second try on
        # a fresh one tells that from circuits that kill their parser.
        for _ in range(2):
            pool = self._started_pool()
            try:
                return await asyncio.wrap_future(pool.submit(parse_to_qpy, sources, self._limits))
            except BrokenProcessPool:
                self._replace_broken(pool)
        violation = CircuitViolation(
            0,
            "the parser process ended while reading these circuits, twice (out of memory?); "
            "send fewer or smaller circuits",
        )
        raise InvalidCircuitsError([violation])

    def _started_pool(self) -> ProcessPoolExecutor:
        # Started on the first large submission: a gateway that never gets one has no process.
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers,
                    mp_context=worker_context(__name__),
                    initializer=follow_gateway,
                    initargs=(os.getpid(), PARSER_NICENESS),
                )
            return self._pool

    def _replace_broken(self, broken: ProcessPoolExecutor) -> None:
        with self._pool_lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)


def _loads_at_once(sources: Sequence[CircuitSource]) -> bool:
    """Whether the sources are QPY small enough to load on the event loop."""
    qpy_only = all(source.format == "qpy" for source in sources)
    return qpy_only and sum(len(s.payload) for s in sources) <= ON_THE_LOOP_UP_TO_BYTES


def parse_to_qpy(sources: Sequence[CircuitSource], limits: CircuitLimits) -> bytes | None:
    """In the worker: the circuits as one QPY payload; None if QPY cannot write them."""
    circuits = parse_circuits(sources, limits)
    buffer = io.BytesIO()
    try:
        qpy.dump(circuits, buffer)
    # QPY writers raise all kinds of exceptions on what they do not support.
    except Exception:
        return None
    return buffer.getvalue()


def _loaded(payload: bytes) -> list[QuantumCircuit]:
    # The worker wrote circuits only, so every program read back is one.
    return cast("list[QuantumCircuit]", qpy.load(io.BytesIO(payload)))
