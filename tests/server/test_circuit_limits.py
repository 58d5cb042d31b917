"""Circuits whose parse or run would take unbounded time or memory are refused at once."""

from __future__ import annotations

import struct
import time
from contextlib import closing

import grpc
import pytest

from ibmq_gateway.client._rpc import retry_delay
from ibmq_gateway.server.core.model import CircuitSource
from ibmq_gateway.server.jobs.circuit_formats import InvalidCircuitsError, parse_circuits
from ibmq_gateway.server.jobs.circuit_limits import CircuitLimits
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import bell_circuit, chain_qasm3, connect, details, qpy_bytes, submit

QASM3 = 'OPENQASM 3.0; include "stdgates.inc"; '
QPY_QUBITS_AT = 33
"""Where a one-circuit QPY (version 16 on) holds its circuit's qubit count."""


def _qpy_declaring(qubits: int) -> bytes:
    payload = bytearray(qpy_bytes(bell_circuit(measure_all=True)))
    assert struct.unpack_from("!I", payload, QPY_QUBITS_AT) == (2,)
    struct.pack_into("!I", payload, QPY_QUBITS_AT, qubits)
    return bytes(payload)


HUGE = {
    # Unchecked, this one took the loader 14 s and 2.5 GB (a billion qubits: any memory).
    "qpy declaring 10^9 qubits": job_pb2.Circuit(qpy=_qpy_declaring(10**9)),
    "qasm3 of 10^4 qubits": job_pb2.Circuit(qasm3="OPENQASM 3.0; qubit[10000] q;"),
    "qasm2 of 10^6 gates": job_pb2.Circuit(
        qasm2='OPENQASM 2.0; include "qelib1.inc"; qreg q[1];' + "h q[0];" * 1_000_000
    ),
    "a loop of 2x10^6 runs": job_pb2.Circuit(
        qasm3=QASM3 + "qubit[1] q; for int i in [0:1999999] { h q[0]; }"
    ),
}


@pytest.mark.parametrize("circuit", list(HUGE.values()), ids=list(HUGE))
def test_a_circuit_past_the_limits_is_refused_before_it_is_parsed(gateway, circuit) -> None:
    stubs = connect(gateway.address)
    with pytest.raises(grpc.RpcError) as refused:
        stubs.jobs.SubmitJob(
            job_service_pb2.SubmitJobRequest(backend="aer_simulator", circuits=[circuit]),
            timeout=10,  # the unchecked parse of the QPY alone took longer
        )
    stubs.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = details(refused.value)
    assert info.reason == "INVALID_CIRCUIT"
    message = bad_request.field_violations[0].description
    assert message.startswith("circuits[0]: too large: the circuit has ")
    assert "the gateway takes" in message


def test_deep_nesting_is_a_clear_refusal(gateway) -> None:
    deep = "rx(" + "(" * 3000 + "0.1" + ")" * 3000 + ") q[0];"
    stubs = connect(gateway.address)
    with pytest.raises(grpc.RpcError) as refused:
        submit(stubs, "aer_simulator", job_pb2.Circuit(qasm3=QASM3 + "qubit[1] q; " + deep))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "maximum recursion depth" in details(refused.value)[1].field_violations[0].description
    # The gateway goes on: the next good circuit runs.
    assert submit(stubs).job.id
    stubs.close()


def test_loops_count_once_per_iteration_and_the_limits_are_settings() -> None:
    nested = QASM3 + "qubit[1] q; for int i in [0:9] { for int j in [0:9] { h q[0]; } }"
    source = CircuitSource("qasm3", nested.encode())
    assert len(parse_circuits([source], CircuitLimits(operations=100))) == 1
    with pytest.raises(InvalidCircuitsError, match="has 101 operations; the gateway takes 100"):
        parse_circuits([CircuitSource("qasm3", (nested + " x q[0];").encode())],
                       CircuitLimits(operations=100))  # fmt: skip
    with pytest.raises(InvalidCircuitsError, match="has 3 qubits; the gateway takes 2"):
        parse_circuits([CircuitSource("qasm3", b"OPENQASM 3.0; qubit[3] q;")],
                       CircuitLimits(qubits=2))  # fmt: skip


def test_a_qpy_older_than_the_checked_header_is_refused() -> None:
    payload = bytearray(qpy_bytes(bell_circuit()))
    payload[6] = 9
    with pytest.raises(InvalidCircuitsError, match="not valid QPY: QPY version 9 is older than"):
        parse_circuits([CircuitSource("qpy", bytes(payload))])


def test_a_submission_behind_too_much_openqasm_is_refused_and_taken_when_sent_again(
    tmp_path,
) -> None:
    settings = gateway_settings(tmp_path / "state", max_parse_wait=0.0)
    long_job = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator",
        circuits=[job_pb2.Circuit(qasm3=chain_qasm3(10_000))],  # about 3 s to parse
        request_id="long",
    )
    behind = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator",
        circuits=[job_pb2.Circuit(qasm3=chain_qasm3(100))],  # large enough to queue
        request_id="behind",
    )
    with EmbeddedGateway(settings) as running, closing(connect(running.address)) as stubs:
        ahead = stubs.jobs.SubmitJob.future(long_job, timeout=60)
        time.sleep(0.5)  # it reaches the parser long before its parse ends
        with pytest.raises(grpc.RpcError) as refused:
            stubs.jobs.SubmitJob(behind, timeout=30)
        ahead.result()
        stored_then = stubs.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=30).jobs
        again = stubs.jobs.SubmitJob(behind, timeout=30)  # the queue is empty now

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info, _ = details(refused.value)
    assert info.reason == "PARSER_BUSY"
    assert "send it again later (same request id)" in (refused.value.details() or "")
    assert (retry_delay(refused.value) or 0) > 0
    assert [job.id for job in stored_then] == [ahead.result().job.id]
    assert again.job.id != ahead.result().job.id
