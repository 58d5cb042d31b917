"""A job's life through a real gateway: queue, run, finish, cancel, fail, time out.

Each backend runs one job at a time, so a slow job (``circuits.slow()``, about 3 s here)
keeps the next one QUEUED long enough to look at it.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from qiskit.exceptions import QiskitError
from qiskit.providers import JobStatus, JobTimeoutError
from qiskit.providers.jobstatus import JOB_FINAL_STATES
from qiskit_aer import AerSimulator

from ibmq_gateway.client import (
    IBMQJob,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    IBMQJobTimeoutError,
    QueueInfo,
)
from tests.client import circuits

pytestmark = pytest.mark.slow  # jobs that keep a backend busy for seconds


def _slow(sim, layers: int = 100) -> IBMQJob:
    job: IBMQJob = sim.run(circuits.slow(layers), shots=10, method="statevector")
    return job


def _wait_for(job: IBMQJob, status: JobStatus, timeout: float = 30) -> None:
    """Follows the job until it reaches ``status`` (polling is fine in a test)."""
    deadline = time.monotonic() + timeout
    while job.status() is not status:
        assert job.status() not in JOB_FINAL_STATES, job.status()
        assert time.monotonic() < deadline, f"{job.job_id()} never reached {status}"
        time.sleep(0.05)


def test_a_job_goes_through_the_queue_and_callbacks_see_each_step(sim):
    blocker = _slow(sim)
    job = sim.run(circuits.slow(30), shots=10, method="statevector")
    assert job.status() in (JobStatus.INITIALIZING, JobStatus.VALIDATING, JobStatus.QUEUED)
    seen: list[tuple[JobStatus, QueueInfo | None]] = []

    def callback(job_id, status, the_job, queue_info=None):
        assert job_id == job.job_id() and the_job is job
        seen.append((status, queue_info))

    job.wait_for_final_state(timeout=60, callback=callback)
    statuses = [status for status, _ in seen]
    assert JobStatus.QUEUED in statuses and JobStatus.RUNNING in statuses
    assert statuses.index(JobStatus.QUEUED) < statuses.index(JobStatus.RUNNING)
    assert not set(statuses) & set(JOB_FINAL_STATES)
    queued_infos = [info for status, info in seen if status is JobStatus.QUEUED and info]
    assert queued_infos and queued_infos[0].position == 1
    assert all(info is None for status, info in seen if status is JobStatus.RUNNING)
    assert job.status() is JobStatus.DONE and job.done()
    assert blocker.result(timeout=60).success


def test_queue_information_while_queued(sim):
    blocker = _slow(sim)
    job = sim.run(circuits.bell(), shots=10)
    _wait_for(job, JobStatus.QUEUED)
    info = job.queue_info()
    assert isinstance(info, QueueInfo) and info.job_id == job.job_id()
    assert info.position == 1 and job.queue_position() == 1
    assert job.queue_position(refresh=True) in (1, None)  # may have started meanwhile
    assert info.estimated_start_time is not None and "queue position: 1" in info.format()
    job.wait_for_final_state(timeout=60)
    assert job.queue_info() is None and job.queue_position() is None
    blocker.wait_for_final_state(timeout=60)


def test_a_callback_with_wait_runs_every_period_with_the_latest_status(sim):
    job = _slow(sim)
    calls: list[tuple[float, JobStatus]] = []
    job.wait_for_final_state(
        timeout=60,
        wait=0.5,
        callback=lambda _id, status, _job, **_: calls.append((time.monotonic(), status)),
    )
    assert len(calls) >= 3
    assert calls[-1][1] is JobStatus.RUNNING
    assert not {status for _, status in calls} & set(JOB_FINAL_STATES)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(calls)]
    assert all(0.3 < gap < 3 for gap in gaps), gaps  # 0.5 s, give or take a loaded machine


def test_an_exception_in_the_callback_is_raised_after_the_wait(sim):
    job = sim.run(circuits.bell(), shots=10)

    def callback(*args, **kwargs):
        raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        job.wait_for_final_state(timeout=60, callback=callback)
    assert job.status() is JobStatus.DONE


def test_result_counts_equal_aers(sim):
    batch = [circuits.two_registers(), circuits.bell()]
    job = sim.run(batch, shots=1000, seed_simulator=11, memory=True)
    result = job.result(timeout=60)
    expected = AerSimulator().run(batch, shots=1000, seed_simulator=11, memory=True).result()
    for index in range(2):
        assert result.get_counts(index) == expected.get_counts(index)
        assert result.get_memory(index) == expected.get_memory(index)
    assert set(result.get_counts(0)) <= {"1 00", "1 11"}
    assert result.job_id == job.job_id() and result.success
    assert result.client_version == job.client_version


def test_the_result_is_cached_and_refresh_reads_it_again(sim):
    job = sim.run(circuits.bell(), shots=50)
    first = job.result(timeout=60)
    assert job.result() is first
    again = job.result(refresh=True)
    assert again is not first and again.get_counts() == first.get_counts()


def test_cancel_a_queued_job(sim):
    blocker = _slow(sim)
    job = sim.run(circuits.bell(), shots=10)
    _wait_for(job, JobStatus.QUEUED)
    assert job.cancel() is True
    assert job.status() is JobStatus.CANCELLED and job.cancelled()
    with pytest.raises(IBMQJobInvalidStateError, match="Job was cancelled"):
        job.result()
    assert job.cancel() is False  # a final job cannot be cancelled: False, not an error
    assert job.error_message() is None
    blocker.wait_for_final_state(timeout=60)


def test_cancel_a_running_job(sim):
    job = _slow(sim, layers=150)
    _wait_for(job, JobStatus.RUNNING)
    assert job.running()
    assert job.cancel() is True
    job.wait_for_final_state(timeout=60)
    assert job.status() is JobStatus.CANCELLED
    assert "RUNNING" in (job.time_per_step() or {})
    with pytest.raises(IBMQJobInvalidStateError):
        job.result(partial=True)


def test_a_failed_experiment_fails_the_job_with_its_reason(sim):
    job = sim.run([circuits.bell(), circuits.non_clifford()], shots=100, method="stabilizer")
    message = job.error_message(timeout=60)
    assert job.status() is JobStatus.ERROR
    assert message is not None and "stabilizer" in message
    assert message.endswith(f"Error code: {job._record.error['code']}.")
    with pytest.raises(IBMQJobFailureError) as caught:
        job.result()
    assert caught.value.message == (
        f"Unable to retrieve result for job {job.job_id()}. Job has failed: {message}"
    )


def test_a_partial_result_holds_the_experiments_that_ran(sim):
    job = sim.run([circuits.bell(), circuits.non_clifford()], shots=100, method="stabilizer")
    result = job.result(timeout=60, partial=True)
    assert not result.success
    assert [experiment.success for experiment in result.results] == [True, False]
    assert set(result.get_counts(0)) <= {"00", "11"} and sum(result.get_counts(0).values()) == 100
    with pytest.raises(QiskitError):
        result.get_counts(1)


def test_a_job_that_fails_validation_has_no_partial_result(manila):
    job = manila.run(circuits.too_wide(), shots=10)
    job.wait_for_final_state(timeout=60)
    assert job.status() is JobStatus.ERROR
    assert "Error code:" in (job.error_message() or "")
    with pytest.raises(IBMQJobFailureError):
        job.result(partial=True)


def test_waits_time_out(sim):
    blocker = _slow(sim)
    job = sim.run(circuits.bell(), shots=10)
    started = time.monotonic()
    with pytest.raises(IBMQJobTimeoutError) as caught:
        job.result(timeout=0.5)
    assert caught.value.message == f"Timeout while waiting for job {job.job_id()}."
    assert 0.4 < time.monotonic() - started < 10
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=0.3)
    with pytest.raises(IBMQJobTimeoutError):
        job.error_message(timeout=0.3)
    assert job.result(timeout=60).success
    blocker.wait_for_final_state(timeout=60)


def test_a_final_status_is_cached_and_needs_no_gateway(gateway, sim):
    job = sim.run(circuits.bell(), shots=10)
    counts = job.result(timeout=60).get_counts()
    gateway.stop()
    assert job.status() is JobStatus.DONE
    assert job.done() and job.in_final_state()
    assert job.result().get_counts() == counts
    assert job.error_message() is None
    assert "COMPLETED" in (job.time_per_step() or {})
    job.wait_for_final_state(timeout=1)


def test_waiting_survives_a_gateway_restart(gateway, sim):
    job = _slow(sim)
    _wait_for(job, JobStatus.RUNNING)
    outcome: dict[str, object] = {}

    def wait() -> None:
        try:
            outcome["result"] = job.result(timeout=120)
        except Exception as err:  # handed to the test thread
            outcome["error"] = err

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    gateway.restart()
    waiter.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].success  # type: ignore[attr-defined]
    assert job.status() is JobStatus.DONE
