"""Large OpenQASM parsed in a worker process: the same circuits, the same errors."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from qiskit import QuantumCircuit

from ibmq_gateway.server.core.errors import ParserBusyError
from ibmq_gateway.server.core.model import CircuitSource
from ibmq_gateway.server.jobs.circuit_formats import InvalidCircuitsError, parse_circuits
from ibmq_gateway.server.jobs.circuit_limits import CircuitLimits
from ibmq_gateway.server.jobs.circuit_parser import (
    IN_PROCESS_FROM_BYTES,
    ON_THE_LOOP_UP_TO_BYTES,
    CircuitParser,
)
from tests.helpers import BELL_QASM3, bell_circuit, chain_qasm3, qpy_bytes


def chain_qasm2(gates: int) -> str:
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[3];", "creg c[3];"]
    lines += [f"u1({0.01 * index}) q[{index % 3}];" for index in range(gates)]
    return "\n".join([*lines, "measure q -> c;"])


LARGE = CircuitSource("qasm3", chain_qasm3(100).encode())
LARGE_QASM2 = CircuitSource("qasm2", chain_qasm2(100).encode())
SMALL = CircuitSource("qasm3", BELL_QASM3.encode())


@pytest.fixture
def parser():
    parser = CircuitParser(CircuitLimits(), workers=1)
    yield parser
    parser.close()


def children() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


def test_the_sources_are_large_enough_to_leave_the_process() -> None:
    assert len(LARGE.payload) >= IN_PROCESS_FROM_BYTES
    assert len(LARGE_QASM2.payload) >= IN_PROCESS_FROM_BYTES
    assert len(SMALL.payload) < IN_PROCESS_FROM_BYTES


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to its thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def parse_counting_hops(
    parser: CircuitParser, sources: list[CircuitSource]
) -> tuple[list[QuantumCircuit], int]:
    async def parse() -> tuple[list[QuantumCircuit], int]:
        executor = CountingExecutor()
        asyncio.get_running_loop().set_default_executor(executor)
        return await parser.parse(sources), executor.submitted

    return asyncio.run(parse())


def test_small_qpy_loads_on_the_event_loop_and_the_rest_on_a_thread(
    parser: CircuitParser,
) -> None:
    small_qpy = CircuitSource("qpy", qpy_bytes(bell_circuit()))
    large_qpy = CircuitSource("qpy", qpy_bytes(QuantumCircuit.from_qasm_str(chain_qasm2(200))))
    assert len(small_qpy.payload) <= ON_THE_LOOP_UP_TO_BYTES < len(large_qpy.payload)

    for sources, hops in (([small_qpy], 0), ([large_qpy], 1), ([small_qpy, SMALL], 1)):
        circuits, handed_to_a_thread = parse_counting_hops(parser, sources)
        assert circuits == parse_circuits(sources)
        assert handed_to_a_thread == hops


def test_large_openqasm_comes_back_as_the_circuits_parsed_here(parser: CircuitParser) -> None:
    sources = [LARGE, SMALL, LARGE_QASM2]

    circuits = asyncio.run(parser.parse(sources))

    expected = parse_circuits(sources)
    assert all(isinstance(circuit, QuantumCircuit) for circuit in circuits)
    assert circuits == expected
    assert [circuit.size() for circuit in circuits] == [103, 4, 103]


def test_only_large_openqasm_is_parsed_in_a_worker_process(parser: CircuitParser) -> None:
    before = children()
    asyncio.run(parser.parse([SMALL]))
    assert not children() - before

    asyncio.run(parser.parse([LARGE]))
    assert children() - before


def test_bad_circuits_parsed_in_a_worker_are_all_reported(parser: CircuitParser) -> None:
    bad_gate = CircuitSource("qasm3", LARGE.payload + b"\nfoo q[0];")
    bad_syntax = CircuitSource("qasm2", LARGE_QASM2.payload.replace(b"creg", b"creeg"))

    with pytest.raises(InvalidCircuitsError) as caught:
        asyncio.run(parser.parse([bad_gate, SMALL, bad_syntax]))

    assert [violation.index for violation in caught.value.violations] == [0, 2]
    assert "gate 'foo' is not defined" in caught.value.violations[0].message


def test_limits_hold_in_the_worker_too() -> None:
    parser = CircuitParser(CircuitLimits(operations=50), workers=1)
    try:
        with pytest.raises(InvalidCircuitsError) as caught:
            asyncio.run(parser.parse([LARGE]))
    finally:
        parser.close()

    assert "50" in caught.value.violations[0].message


def test_a_killed_worker_is_replaced_and_the_parse_still_answers(parser: CircuitParser) -> None:
    before = children()
    asyncio.run(parser.parse([LARGE]))
    for pid in children() - before:
        os.kill(pid, signal.SIGKILL)

    circuits = asyncio.run(parser.parse([LARGE]))

    assert circuits == parse_circuits([LARGE])


LONG = CircuitSource("qasm3", chain_qasm3(3000).encode())
"""About 0.8 s of parsing, as estimated from its size."""


def test_a_submission_behind_more_parsing_than_allowed_is_refused() -> None:
    parser = CircuitParser(CircuitLimits(), max_wait=0.5, workers=1)

    async def behind_a_long_parse() -> tuple[ParserBusyError, list[QuantumCircuit]]:
        ahead = asyncio.create_task(parser.parse([LONG]))
        await asyncio.sleep(0)  # it is queued for the worker now
        with pytest.raises(ParserBusyError) as refused:
            await parser.parse([LARGE], refuse_when_busy=True)
        waited = await parser.parse([LARGE])  # a stored job's circuits wait their turn
        await ahead
        return refused.value, waited

    try:
        refused, waited = asyncio.run(behind_a_long_parse())
        # The queue is empty again: the next submission is taken.
        after = asyncio.run(parser.parse([LARGE], refuse_when_busy=True))
    finally:
        parser.close()

    assert refused.reason == "PARSER_BUSY"
    assert 0.5 < refused.retry_after < 2
    assert "send it again later (same request id)" in str(refused)
    assert waited == after == parse_circuits([LARGE])


def test_small_submissions_are_never_refused_for_a_busy_worker() -> None:
    parser = CircuitParser(CircuitLimits(), max_wait=0.0, workers=1)

    async def beside_a_long_parse() -> list[QuantumCircuit]:
        ahead = asyncio.create_task(parser.parse([LONG]))
        await asyncio.sleep(0)
        small = await parser.parse([SMALL], refuse_when_busy=True)  # parsed on a thread
        await ahead
        return small

    try:
        assert asyncio.run(beside_a_long_parse()) == parse_circuits([SMALL])
    finally:
        parser.close()
