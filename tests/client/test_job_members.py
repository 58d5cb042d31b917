"""Every member of IBMQJob on a finished job, and the same data through retrieve_job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.providers import JobStatus
from qiskit_ibm_runtime.models import BackendProperties

from ibmq_gateway.client import IBMQBackendApiError, IBMQJob
from tests.client import circuits


@pytest.fixture
def finished(manila) -> tuple[IBMQJob, list[QuantumCircuit], datetime]:
    """A finished two-circuit job on fake_manila with every optional field set."""
    batch = transpile([circuits.two_registers(), circuits.bell()], manila, seed_transpiler=5)
    submitted = datetime.now(UTC)
    job = manila.run(
        batch,
        job_name="members",
        job_share_level="project",
        job_tags=["demo", "ibmq_jobset_7"],
        experiment_id="exp-1",
        header={"purpose": "members"},
        shots=300,
        memory=True,
        seed_simulator=3,
        foo="bar",
    )
    job.wait_for_final_state(timeout=60)
    return job, batch, submitted


def test_identity_and_submission_data(finished, manila):
    job, batch, submitted = finished
    assert job.job_id() and job.backend() is manila and job.version == 1
    created = job.creation_date()
    assert created.tzinfo is not None and abs(created - submitted) < timedelta(seconds=5)
    assert job.name() == "members"
    assert sorted(job.tags()) == ["demo", "ibmq_jobset_7"]
    assert job.share_level() == "project"
    assert job.experiment_id == "exp-1"
    assert job.client_version["ibmq-gateway"] and job.client_version["qiskit"]
    assert job.header() == {"purpose": "members"}
    options = job.backend_options()
    assert (options["shots"], options["memory"], options["seed_simulator"]) == (300, True, 3)
    assert options["foo"] == "bar"
    assert job.circuits() == batch
    assert job.owner_ is not None  # gateway fields without a parameter: trailing underscore


def test_status_and_steps(finished):
    job, _, submitted = finished
    assert job.status() is JobStatus.DONE
    assert job.done() and job.in_final_state() and not job.running() and not job.cancelled()
    steps = job.time_per_step()
    assert steps is not None
    order = ["CREATING", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED"]
    assert list(steps) == order
    for moment in steps.values():
        assert moment.tzinfo is not None
        assert (
            submitted - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)
        )
    assert job.scheduling_mode() == "fairshare"
    assert job.queue_position() is None and job.queue_info() is None
    job.refresh()
    assert job.status() is JobStatus.DONE


def test_result_and_error_message(finished):
    job, _, _ = finished
    result = job.result()
    assert sum(result.get_counts(0).values()) == 300
    assert len(result.get_memory(1)) == 300
    assert job.error_message() is None
    assert job.cancel() is False


def test_properties_are_the_calibration_when_the_job_ran(finished):
    job, _, _ = finished
    properties = job.properties()
    assert isinstance(properties, BackendProperties)
    assert properties.gate_error("cx", [0, 1]) > 0


def test_qobj_is_deprecated_and_qasm_shaped(finished):
    job, batch, _ = finished
    with pytest.warns(DeprecationWarning, match="qobj"):
        qobj = job.qobj()
    assert qobj["type"] == "QASM" and qobj["qobj_id"] == job.job_id()
    assert qobj["config"]["shots"] == 300 and qobj["config"]["memory"] is True
    assert qobj["header"] == {"purpose": "members"}
    assert [experiment["header"]["name"] for experiment in qobj["experiments"]] == [
        circuit.name for circuit in batch
    ]
    assert qobj["experiments"][0]["header"]["creg_sizes"] == [["a", 2], ["b", 1]]


def test_update_name_and_tags(finished, provider):
    job, _, _ = finished
    assert job.update_name("renamed") == "renamed" and job.name() == "renamed"
    tags = job.update_tags(replacement_tags=["x"], additional_tags=["y"], removal_tags=["x"])
    assert sorted(tags) == ["ibmq_jobset_7", "y"]
    assert sorted(job.update_tags(additional_tags=[])) == ["ibmq_jobset_7", "y"]
    again = provider.backend.retrieve_job(job.job_id())
    assert again.name() == "renamed" and sorted(again.tags()) == ["ibmq_jobset_7", "y"]


def test_submit_is_not_supported(finished):
    with pytest.raises(NotImplementedError):
        finished[0].submit()


def test_a_retrieved_job_has_the_same_data(finished, provider, manila):
    job, batch, _ = finished
    again = provider.backend.retrieve_job(job.job_id())
    assert again is not job and again.backend() is manila
    assert again.status() is JobStatus.DONE
    assert again.name() == job.name() and again.tags() == job.tags()
    assert again.experiment_id == job.experiment_id
    assert again.scheduling_mode() == job.scheduling_mode()
    assert again.share_level() == job.share_level()
    assert again.creation_date() == job.creation_date()
    assert again.time_per_step() == job.time_per_step()
    assert again.header() == job.header() and again.backend_options() == job.backend_options()
    assert again.client_version == job.client_version
    assert again.circuits() == batch
    assert again.result().get_counts() == job.result().get_counts()
    assert again.error_message() == job.error_message()
    with pytest.warns(DeprecationWarning):
        assert again.qobj()["experiments"] == job.qobj()["experiments"]


def test_a_failed_job_retrieved_gives_the_same_error(sim, provider):
    job = sim.run([circuits.bell(), circuits.non_clifford()], shots=10, method="stabilizer")
    message = job.error_message(timeout=60)
    again = provider.backend.retrieve_job(job.job_id())
    assert again.status() is JobStatus.ERROR
    assert again.error_message() == message


def test_an_unknown_job_cannot_be_retrieved(provider, sim):
    with pytest.raises(IBMQBackendApiError) as caught:
        provider.backend.retrieve_job("no-such-job")
    assert caught.value.message.startswith("Failed to get job no-such-job: NOT_FOUND")
    with pytest.raises(IBMQBackendApiError):
        sim.retrieve_job("no-such-job")
