"""Proto ⇄ qiskit conversions: states, targets, results, options, circuits, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qiskit import qasm2, transpile
from qiskit.providers import JobStatus
from qiskit.result import Result
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from ibmq_gateway.client import IBMQJobApiError
from ibmq_gateway.client import _messages as messages
from ibmq_gateway.server.api.backend_messages import target_to_proto
from ibmq_gateway.server.jobs.result_encoding import result_to_proto
from ibmq_gateway.v1 import backend_pb2, job_pb2
from tests.client import circuits

# --- states -------------------------------------------------------------------------------

EXPECTED_STATUS = {
    job_pb2.JOB_STATE_CREATING: JobStatus.INITIALIZING,
    job_pb2.JOB_STATE_VALIDATING: JobStatus.VALIDATING,
    job_pb2.JOB_STATE_VALIDATED: JobStatus.VALIDATING,
    job_pb2.JOB_STATE_QUEUED: JobStatus.QUEUED,
    job_pb2.JOB_STATE_RUNNING: JobStatus.RUNNING,
    job_pb2.JOB_STATE_COMPLETED: JobStatus.DONE,
    job_pb2.JOB_STATE_CANCELLED: JobStatus.CANCELLED,
    job_pb2.JOB_STATE_ERROR_CREATING_JOB: JobStatus.ERROR,
    job_pb2.JOB_STATE_ERROR_VALIDATING_JOB: JobStatus.ERROR,
    job_pb2.JOB_STATE_ERROR_RUNNING_JOB: JobStatus.ERROR,
}


@pytest.mark.parametrize(("state", "status"), EXPECTED_STATUS.items())
def test_every_gateway_state_maps_to_its_qiskit_status(state, status):
    assert messages.job_status(messages.state_name(state)) is status


def test_every_state_of_the_contract_is_in_the_table():
    named = set(job_pb2.JobState.values()) - {job_pb2.JOB_STATE_UNSPECIFIED}
    assert named == set(EXPECTED_STATUS)


@pytest.mark.parametrize("state", [job_pb2.JOB_STATE_UNSPECIFIED, 99])
def test_unspecified_and_unknown_states_are_api_errors(state):
    with pytest.raises(IBMQJobApiError, match="Unexpected job state"):
        messages.job_status(messages.state_name(state))


def test_a_future_error_state_is_still_an_error():
    assert messages.job_status("ERROR_SOMETHING_NEW") is JobStatus.ERROR


def test_the_reverse_mapping_lists_every_state_of_a_status():
    assert messages.states_for(JobStatus.VALIDATING) == [
        job_pb2.JOB_STATE_VALIDATING,
        job_pb2.JOB_STATE_VALIDATED,
    ]
    assert messages.states_for(JobStatus.INITIALIZING) == [job_pb2.JOB_STATE_CREATING]
    assert len(messages.states_for(JobStatus.ERROR)) == 3


# --- targets ------------------------------------------------------------------------------


def test_a_device_target_survives_the_round_trip():
    original = FakeManilaV2().target
    rebuilt = messages.target_from_proto(target_to_proto(original))
    assert rebuilt.num_qubits == original.num_qubits
    assert rebuilt.dt == pytest.approx(original.dt)
    assert set(rebuilt.operation_names) == set(original.operation_names)
    for name in original.operation_names:
        assert rebuilt[name].keys() == original[name].keys(), name
    assert rebuilt["cx"][(0, 1)].error == pytest.approx(original["cx"][(0, 1)].error)
    assert rebuilt["measure"][(2,)].duration == pytest.approx(original["measure"][(2,)].duration)


def test_transpiling_against_a_rebuilt_target_gives_the_same_basis():
    target = messages.target_from_proto(target_to_proto(FakeManilaV2().target))
    compiled = transpile(circuits.two_registers(), target=target, seed_transpiler=1)
    assert set(compiled.count_ops()) <= {"rz", "sx", "x", "cx", "measure"}


def test_instructions_without_properties_are_global_and_unknown_names_are_left_out():
    original = AerSimulator().target
    rebuilt = messages.target_from_proto(target_to_proto(original))
    assert rebuilt["cx"] == {None: None}
    assert "save_statevector" in original.operation_names
    assert "save_statevector" not in rebuilt.operation_names
    assert {"if_else", "while_loop", "for_loop", "switch_case", "measure", "reset"} <= set(
        rebuilt.operation_names
    )
    compiled = transpile(circuits.bell(), target=rebuilt)
    assert compiled.count_ops() == {"h": 1, "cx": 1, "measure": 2}


def test_an_entry_without_qubits_applies_everywhere_with_its_properties():
    message = backend_pb2.Target(
        num_qubits=2,
        instructions=[
            backend_pb2.TargetInstruction(
                name="x", properties=[backend_pb2.InstructionProperties(error=0.1)]
            ),
            backend_pb2.TargetInstruction(name="barrier"),
        ],
    )
    target = messages.target_from_proto(message)
    assert target["x"][None].error == 0.1
    assert target.dt is None
    assert "barrier" in target.operation_names


# --- results ------------------------------------------------------------------------------


def _through_gateway(result: Result, partial: bool = False) -> Result:
    message = result_to_proto(
        result, job_id="j", backend="aer_simulator", partial=partial, header={}
    )
    return messages.result_from_proto(message, {"qiskit": "2"})


def test_counts_and_memory_come_back_as_aer_prints_them():
    batch = [circuits.two_registers(), circuits.bell()]
    original = AerSimulator().run(batch, shots=200, memory=True, seed_simulator=5).result()
    converted = _through_gateway(original)
    for index in range(2):
        assert converted.get_counts(index) == original.get_counts(index)
        assert converted.get_memory(index) == original.get_memory(index)
    header = converted.results[0].header
    assert header["creg_sizes"] == [["a", 2], ["b", 1]]
    assert isinstance(header["memory_slots"], int) and isinstance(header["n_qubits"], int)
    assert header["metadata"] == {"purpose": "registers"}
    assert converted.get_counts("registers") == original.get_counts(0)
    assert converted.success and converted.client_version == {"qiskit": "2"}
    assert converted.results[0].seed_simulator == original.results[0].seed_simulator


def test_a_partial_result_keeps_the_experiments_that_ran():
    batch = [circuits.bell(), circuits.non_clifford()]
    original = AerSimulator().run(batch, shots=100, method="stabilizer").result()
    converted = _through_gateway(original, partial=True)
    assert not converted.success
    assert converted.status == "PARTIAL COMPLETED"
    assert [experiment.success for experiment in converted.results] == [True, False]
    assert converted.get_counts(0) == original.get_counts(0)


def test_counts_keys_convert_to_hex():
    assert messages._hex("1 01") == "0x5"
    assert messages._hex("") == "0x0"
    assert messages._hex("0x3") == "0x3"


# --- run options, structs, circuits, times ------------------------------------------------


def test_run_options_split_into_typed_fields_and_extra():
    message = messages.run_options_to_proto(
        {"shots": 10, "memory": True, "seed_simulator": 7, "method": "statevector", "x": None}
    )
    assert (message.shots, message.memory, message.seed_simulator) == (10, True, 7)
    assert not message.HasField("extra") or "x" not in message.extra
    assert messages.run_options_to_dict(message) == {
        "shots": 10,
        "memory": True,
        "seed_simulator": 7,
        "method": "statevector",
    }


def test_run_options_without_values_stay_unset():
    message = messages.run_options_to_proto({"shots": None})
    assert not message.HasField("shots")
    assert messages.run_options_to_dict(message) == {}


def test_values_without_a_json_form_are_refused():
    with pytest.raises(TypeError):
        messages.run_options_to_proto({"callback": object()})


def test_numpy_values_are_sent_as_plain_numbers():
    import numpy as np

    message = messages.run_options_to_proto({"shots": np.int64(5), "angles": np.array([0.5])})
    assert message.shots == 5
    assert messages.struct_to_dict(message.extra) == {"angles": [0.5]}


def test_a_circuit_survives_qpy_exactly():
    original = circuits.two_registers()
    assert messages.circuit_from_proto(messages.circuit_to_proto(original)) == original


def test_openqasm_circuits_are_parsed():
    source = qasm2.dumps(circuits.bell())
    parsed = messages.circuit_from_proto(job_pb2.Circuit(qasm2=source))
    assert parsed.count_ops() == {"h": 1, "cx": 1, "measure": 2}
    qasm3_source = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'
        "x q[0];\nc[0] = measure q[0];\n"
    )
    parsed3 = messages.circuit_from_proto(job_pb2.Circuit(qasm3=qasm3_source))
    assert parsed3.count_ops() == {"x": 1, "measure": 1}


def test_a_circuit_without_a_program_is_an_api_error():
    with pytest.raises(IBMQJobApiError):
        messages.circuit_from_proto(job_pb2.Circuit())


def test_naive_datetimes_are_local_times():
    local = datetime(2024, 5, 1, 12, 0)
    timestamp = messages.to_timestamp(local)
    assert messages.to_datetime(timestamp) == local.astimezone(UTC)


def test_iso_strings_and_naive_datetimes_parse_as_utc():
    assert messages.parse_utc("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    aware = datetime(2024, 5, 1, 14, tzinfo=UTC) + timedelta(hours=0)
    assert messages.parse_utc(aware.isoformat()) == aware


# --- jobs ---------------------------------------------------------------------------------


def test_a_job_message_becomes_constructor_arguments():
    job = job_pb2.Job(
        id="j1",
        backend="fake_manila",
        state=job_pb2.JOB_STATE_QUEUED,
        name="n",
        tags=["a"],
        share_level=job_pb2.SHARE_LEVEL_HUB,
        scheduling_mode=job_pb2.SCHEDULING_MODE_DEDICATED,
        experiment_id="e",
        client_info={"qiskit": "2"},
        owner="ann",
        queue_info=job_pb2.QueueInfo(position=2, scope=job_pb2.QUEUE_SCOPE_GATEWAY),
    )
    job.create_time.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC))
    fields = messages.job_fields(job)
    assert fields["status"] == "QUEUED" and fields["final"] is False
    assert fields["share_level"] == "hub" and fields["run_mode"] == "dedicated"
    assert fields["info_queue"]["position"] == 2 and fields["info_queue"]["scope"] == "gateway"
    assert fields["info_queue"]["estimated_start_time"] is None
    assert fields["creation_date"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert fields["error"] is None and fields["owner"] == "ann"


def test_a_failed_job_carries_its_error():
    job = job_pb2.Job(
        id="j1",
        state=job_pb2.JOB_STATE_ERROR_RUNNING_JOB,
        final=True,
        error=job_pb2.JobError(code=2001, reason="R", message="m"),
    )
    assert messages.job_fields(job)["error"] == {"code": 2001, "reason": "R", "message": "m"}
    assert messages.job_fields(job)["info_queue"] is None
