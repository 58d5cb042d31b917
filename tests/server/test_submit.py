"""SubmitJob: formats, options, idempotency, and every kind of bad input."""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import struct_pb2
from qiskit import QuantumCircuit

from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import (
    BELL_QASM2,
    BELL_QASM3,
    bell_circuit,
    details,
    qpy_bytes,
    submit,
    wait_final,
)


def _result(stubs, job_id):
    request = job_service_pb2.GetJobResultRequest(job_id=job_id)
    return stubs.jobs.GetJobResult(request).result


@pytest.mark.parametrize(
    "circuit",
    [
        job_pb2.Circuit(qasm3=BELL_QASM3),
        job_pb2.Circuit(qasm2=BELL_QASM2),
        job_pb2.Circuit(qpy=qpy_bytes(bell_circuit())),
    ],
    ids=["qasm3", "qasm2", "qpy"],
)
def test_each_circuit_format_runs(stubs, circuit):
    job = submit(stubs, "aer_simulator", circuit, run_options=job_pb2.RunOptions(shots=500)).job
    assert wait_final(stubs, job.id).state == job_pb2.JOB_STATE_COMPLETED
    counts = dict(_result(stubs, job.id).results[0].counts)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 500


def test_many_circuits_with_run_options_and_metadata(stubs):
    circuits = [job_pb2.Circuit(qasm3=BELL_QASM3), job_pb2.Circuit(qasm2=BELL_QASM2)]
    header = struct_pb2.Struct()
    header.update({"purpose": "test"})
    options = job_pb2.RunOptions(shots=64, memory=True, seed_simulator=7)
    job = submit(
        stubs,
        "aer_simulator",
        *circuits,
        run_options=options,
        name="pair",
        tags=["a", "b"],
        share_level=job_pb2.SHARE_LEVEL_PROJECT,
        experiment_id="exp-1",
        header=header,
    ).job
    assert (job.name, list(job.tags), job.experiment_id) == ("pair", ["a", "b"], "exp-1")
    assert job.share_level == job_pb2.SHARE_LEVEL_PROJECT and job.circuit_count == 2
    wait_final(stubs, job.id)
    result = _result(stubs, job.id)
    assert len(result.results) == 2 and result.success
    assert all(len(r.memory) == 64 and r.shots == 64 for r in result.results)
    again = submit(stubs, "aer_simulator", *circuits, run_options=options).job
    wait_final(stubs, again.id)
    assert dict(_result(stubs, again.id).results[0].counts) == dict(result.results[0].counts)


def test_same_request_id_and_payload_returns_the_first_job(stubs):
    first = submit(stubs, request_id="req-1")
    second = submit(stubs, request_id="req-1")
    assert second.deduplicated and not first.deduplicated
    assert second.job.id == first.job.id


def test_same_request_id_with_another_payload_is_invalid_argument(stubs):
    first = submit(stubs, request_id="req-2")
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs, request_id="req-2", run_options=job_pb2.RunOptions(shots=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert first.job.id in str(caught.value.details())
    assert details(caught.value)[0].reason == "REQUEST_ID_REUSED"


@pytest.mark.parametrize(
    ("circuits", "field", "fragment"),
    [
        ([job_pb2.Circuit(qasm3="qubit[2] q; h q[0]; nonsense;")], "circuits[0]", "OpenQASM 3"),
        (
            [job_pb2.Circuit(qasm3=BELL_QASM3), job_pb2.Circuit(qasm2="OPENQASM 2.0; qreg;")],
            "circuits[1]",
            "OpenQASM 2",
        ),
        ([job_pb2.Circuit(qpy=b"not qpy at all")], "circuits[0]", "QPY"),
        ([job_pb2.Circuit()], "circuits[0]", "qasm3, qasm2 or qpy"),
    ],
    ids=["qasm3", "qasm2-second", "qpy", "empty"],
)
def test_unparseable_circuit_names_its_index(stubs, circuits, field, fragment):
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs, "aer_simulator", *circuits)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = details(caught.value)[1].field_violations
    assert [v.field for v in violations] == [field]
    assert fragment in violations[0].description


def test_bad_input_creates_no_job(stubs):
    with pytest.raises(grpc.RpcError):
        submit(stubs, "aer_simulator", job_pb2.Circuit(qasm3="garbage"), request_id="bad")
    listing = stubs.jobs.ListJobs(job_service_pb2.ListJobsRequest())
    assert list(listing.jobs) == []
    assert not submit(stubs, request_id="bad").deduplicated


def test_unknown_backend_is_not_found(stubs):
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs, "ibm_nowhere")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "aer_simulator" in str(caught.value.details())
    assert details(caught.value)[0].reason == "BACKEND_NOT_FOUND"


def _struct(values):
    message = struct_pb2.Struct()
    message.update(values)
    return message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"run_options": job_pb2.RunOptions(shots=0)}, "run_options.shots"),
        ({"run_options": job_pb2.RunOptions(shots=10**9)}, "run_options.shots"),
        ({"tags": ["ok", " "]}, "tags[1]"),
        ({"name": "n" * 201}, "name"),
        ({"share_level": 99}, "share_level"),
        # Found by the fuzzer: a Struct carries doubles JSON cannot write; they were INTERNAL.
        ({"header": _struct({"x": [math.nan]})}, "header"),
        ({"run_options": job_pb2.RunOptions(extra=_struct({"x": math.inf}))}, "run_options.extra"),
    ],
    ids=[
        "zero-shots",
        "too-many-shots",
        "blank-tag",
        "long-name",
        "unknown-share-level",
        "nan-in-header",
        "infinity-in-options",
    ],
)
def test_invalid_options_are_invalid_argument(stubs, fields, field):
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [v.field for v in details(caught.value)[1].field_violations]


def test_circuit_wider_than_the_backend_ends_in_error(stubs):
    wide = QuantumCircuit(7, 7)
    wide.h(0)
    wide.measure_all(add_bits=False)
    job = submit(stubs, "fake_manila", job_pb2.Circuit(qpy=qpy_bytes(wide))).job
    # On an idle backend it is refused in its creating commit: no look finds it validating.
    got = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id)).job
    assert got.state == job_pb2.JOB_STATE_ERROR_VALIDATING_JOB
    final = wait_final(stubs, job.id)
    assert final.state == job_pb2.JOB_STATE_ERROR_VALIDATING_JOB
    assert final.error.code == 1101 and final.error.reason == "CIRCUIT_TOO_WIDE"
    assert "7 qubits" in final.error.message and "fake_manila" in final.error.message


def test_untranspiled_circuit_on_a_device_ends_in_error(stubs):
    job = submit(stubs, "fake_manila", job_pb2.Circuit(qasm3=BELL_QASM3)).job
    final = wait_final(stubs, job.id)
    assert final.state == job_pb2.JOB_STATE_ERROR_VALIDATING_JOB
    assert final.error.reason == "INSTRUCTION_NOT_SUPPORTED"
    assert "transpile" in final.error.message
