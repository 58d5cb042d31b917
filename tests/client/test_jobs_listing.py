"""Finding jobs again: jobs() with every filter, pagination, retrieve_job across backends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest
from qiskit import transpile
from qiskit.providers import JobStatus

from ibmq_gateway.client import IBMQBackendError, IBMQBackendValueError, IBMQJob, backend_service
from tests.client import circuits


@pytest.fixture
def history(sim, manila):
    """Four finished jobs: three on aer_simulator, one (failed) on fake_manila, oldest first."""
    jobs = [
        sim.run(circuits.bell(), job_name="alpha", job_tags=["a", "b"], experiment_id="e1"),
        sim.run(circuits.bell(), job_name="beta", job_tags=["b"], experiment_id="e1"),
        sim.run(circuits.bell(), job_name="alphabet", job_tags=["c"]),
        manila.run(circuits.too_wide(), job_name="wide"),
    ]
    for job in jobs:
        job.wait_for_final_state(timeout=60)
    return jobs


def ids(jobs: Iterable[IBMQJob]) -> list[str]:
    return [job.job_id() for job in jobs]


def test_newest_first_by_default_and_oldest_first_on_request(provider, history):
    assert ids(provider.backend.jobs()) == ids(reversed(history))
    assert ids(provider.backend.jobs(descending=False)) == ids(history)


def test_limit_and_skip(provider, history):
    assert ids(provider.backend.jobs(limit=2)) == ids(history[:1:-1])
    assert ids(provider.backend.jobs(limit=2, skip=1)) == [history[2].job_id(), history[1].job_id()]
    assert len(provider.backend.jobs(limit=None)) == 4
    assert len(provider.backend.jobs(limit=0)) == 4


def test_every_page_is_fetched(provider, history, monkeypatch):
    monkeypatch.setattr(backend_service, "MAX_PAGE_SIZE", 1)
    assert ids(provider.backend.jobs(limit=None)) == ids(reversed(history))
    assert ids(provider.backend.jobs(limit=3, skip=1)) == ids(reversed(history[:3]))


def test_by_backend(provider, sim, manila, history):
    assert ids(provider.backend.jobs(backend_name="fake_manila")) == [history[3].job_id()]
    assert ids(manila.jobs()) == [history[3].job_id()]
    assert ids(sim.jobs(limit=None, descending=False)) == ids(history[:3])


def test_by_status(provider, history):
    failed = [history[3].job_id()]
    assert ids(provider.backend.jobs(status=JobStatus.ERROR)) == failed
    assert ids(provider.backend.jobs(status="error")) == failed
    assert len(provider.backend.jobs(status=["DONE", JobStatus.ERROR])) == 4
    assert provider.backend.jobs(status=JobStatus.QUEUED) == []


def test_an_invalid_status_is_refused(provider):
    with pytest.raises(IBMQBackendValueError) as caught:
        provider.backend.jobs(status="finished")
    assert caught.value.message.startswith('"finished" is not a valid status value.')


def test_by_name_pattern(provider, history):
    assert ids(provider.backend.jobs(job_name="alpha", descending=False)) == [
        history[0].job_id(),
        history[2].job_id(),
    ]
    assert ids(provider.backend.jobs(job_name="^alpha$")) == [history[0].job_id()]


def test_by_tags(provider, history):
    any_of = provider.backend.jobs(job_tags=["a", "c"], descending=False)
    assert ids(any_of) == [history[0].job_id(), history[2].job_id()]
    all_of = provider.backend.jobs(job_tags=["a", "b"], job_tags_operator="AND")
    assert ids(all_of) == [history[0].job_id()]
    with pytest.raises(IBMQBackendValueError):
        provider.backend.jobs(job_tags=["a"], job_tags_operator="NOR")
    with pytest.raises(IBMQBackendValueError):
        provider.backend.jobs(job_tags="a")


def test_by_experiment_and_creation_time(provider, history):
    assert len(provider.backend.jobs(experiment_id="e1")) == 2
    start = history[1].creation_date()
    end = history[2].creation_date()
    between = provider.backend.jobs(start_datetime=start, end_datetime=end, descending=False)
    assert ids(between) == ids(history[1:3])
    naive_local = (start - timedelta(microseconds=1)).replace(tzinfo=None)
    assert len(provider.backend.jobs(start_datetime=naive_local, limit=None)) == 3
    assert provider.backend.jobs(start_datetime=datetime.now().astimezone() + timedelta(1)) == []


def test_listed_jobs_are_full_jobs(provider, history):
    listed = provider.backend.jobs(job_name="^wide$")[0]
    assert listed.status() is JobStatus.ERROR
    assert listed.error_message() == history[3].error_message()
    assert listed.backend().name == "fake_manila"


def test_a_backend_retrieves_only_its_own_jobs(sim, manila, history):
    assert sim.retrieve_job(history[0].job_id()).name() == "alpha"
    with (
        pytest.warns(UserWarning, match="belongs to another backend"),
        pytest.raises(IBMQBackendError) as caught,
    ):
        manila.retrieve_job(history[0].job_id())
    assert caught.value.message == (
        f"Failed to get job {history[0].job_id()}: job does not belong to backend fake_manila."
    )


def test_backend_jobs_takes_the_providers_arguments_but_backend_name(provider, sim):
    import inspect

    service = list(inspect.signature(provider.backend.jobs).parameters)
    service.remove("backend_name")
    assert list(inspect.signature(sim.jobs).parameters) == service


def test_run_validates_its_arguments(sim):
    with pytest.raises(IBMQBackendValueError, match="job_tags needs to be a list or strings"):
        sim.run(circuits.bell(), job_tags={"a"})
    with pytest.raises(IBMQBackendValueError, match="share level"):
        sim.run(circuits.bell(), job_share_level="everyone")
    with pytest.raises(IBMQBackendValueError, match="QuantumCircuit"):
        sim.run("OPENQASM 2.0;")
    with pytest.raises(IBMQBackendValueError, match="run options"):
        sim.run(circuits.bell(), callback=object())
    assert sim.jobs() == []


def test_each_run_is_a_new_job(sim):
    bell = transpile(circuits.bell(), sim)
    first, second = sim.run(bell, shots=5), sim.run(bell, shots=5)
    assert first.job_id() != second.job_id()
