"""BackendService over gRPC: the local backends, their targets, status and calibration."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2

from ibmq_gateway.v1 import backend_service_pb2
from tests.helpers import details, submit, wait_final


def _backends(stubs, omit_targets=False):
    request = backend_service_pb2.ListBackendsRequest(omit_targets=omit_targets)
    return {b.name: b for b in stubs.backends.ListBackends(request).backends}


def test_local_backends_are_offered_with_no_configuration(stubs):
    backends = _backends(stubs)
    assert {"aer_simulator", "fake_manila", "fake_brisbane"} <= set(backends)
    assert backends["fake_manila"].num_qubits == 5
    assert backends["fake_brisbane"].num_qubits == 127
    assert all(b.local and b.status.operational for b in backends.values())


def test_a_device_target_carries_its_calibrated_instructions(stubs):
    request = backend_service_pb2.GetBackendRequest(name="fake_manila")
    backend = stubs.backends.GetBackend(request).backend
    instructions = {i.name: i for i in backend.target.instructions}
    assert {"cx", "rz", "sx", "x", "measure"} <= set(instructions)
    cx = instructions["cx"].properties
    assert cx and all(len(p.qubits) == 2 and p.HasField("error") for p in cx)
    assert backend.target.HasField("dt") and backend.has_properties


def test_listing_can_leave_targets_out(stubs):
    assert all(not b.HasField("target") for b in _backends(stubs, omit_targets=True).values())


def test_pending_jobs_count_what_waits_or_runs(stubs):
    jobs = [submit(stubs).job for _ in range(3)]
    request = backend_service_pb2.GetBackendRequest(name="aer_simulator")
    pending = stubs.backends.GetBackend(request).backend.status.pending_jobs
    assert 0 <= pending <= 3
    for job in jobs:
        wait_final(stubs, job.id)
    assert stubs.backends.GetBackend(request).backend.status.pending_jobs == 0


def test_device_properties_are_its_calibration(stubs):
    request = backend_service_pb2.GetBackendPropertiesRequest(name="fake_manila")
    properties = stubs.backends.GetBackendProperties(request).properties
    assert properties["backend_name"].endswith("manila")  # the snapshot keeps its device name
    assert len(properties["qubits"]) == 5 and len(properties["gates"]) > 0


def test_ideal_simulator_has_no_properties(stubs):
    request = backend_service_pb2.GetBackendPropertiesRequest(name="aer_simulator")
    assert not stubs.backends.GetBackendProperties(request).HasField("properties")


@pytest.mark.parametrize("stamp", [{"nanos": -1}, {"seconds": -62_135_596_801}])
def test_properties_at_a_time_no_calendar_holds_are_invalid_argument(stubs, stamp):
    # Found by the fuzzer: protobuf carries any seconds and nanos; converting them was INTERNAL.
    as_of = timestamp_pb2.Timestamp(**stamp)
    request = backend_service_pb2.GetBackendPropertiesRequest(name="fake_manila", as_of_time=as_of)
    with pytest.raises(grpc.RpcError) as caught:
        stubs.backends.GetBackendProperties(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details(caught.value)[1].field_violations] == ["as_of_time"]


@pytest.mark.parametrize("call", ["GetBackend", "GetBackendProperties"])
def test_unknown_backend_is_not_found(stubs, call):
    request_type = getattr(backend_service_pb2, f"{call}Request")
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stubs.backends, call)(request_type(name="ibm_nowhere"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert details(caught.value)[0].reason == "BACKEND_NOT_FOUND"
