"""IBMQJob's documented constructor and its cache, with a gateway that is not there.

Any call to the gateway would fail with IBMQJobApiError, so each test that passes proves
the member answered from the cache.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qiskit.providers import JobStatus, JobV1
from qiskit_aer import AerSimulator

from ibmq_gateway.client import (
    IBMQJob,
    IBMQJobApiError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    QueueInfo,
)
from ibmq_gateway.client._rpc import ApiClient
from tests.client import circuits

CREATED = "2024-03-01T10:00:00"


@pytest.fixture
def api():
    client = ApiClient("127.0.0.1:1", token="")  # nothing listens there
    yield client
    client.close()


def test_the_documented_constructor(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED", name="n", tags=["a"], share_level="hub")
    assert isinstance(job, JobV1) and job.version == 1
    assert job.job_id() == "j1" and job.name() == "n" and job.share_level() == "hub"
    assert job.creation_date() == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert job.creation_date().utcoffset() == datetime.now().astimezone().utcoffset()


def test_a_final_status_is_answered_without_the_gateway(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED")
    assert job.status() is JobStatus.DONE
    assert job.done() and job.in_final_state() and not job.running() and not job.cancelled()
    job.wait_for_final_state(timeout=0)


def test_a_live_status_asks_the_gateway(api):
    job = IBMQJob(None, api, "j1", CREATED, "RUNNING")
    with pytest.raises(IBMQJobApiError, match="UNAVAILABLE") as caught:
        job.status()
    assert caught.value.message.startswith("Unable to retrieve job j1:")


def test_an_unknown_state_is_an_api_error(api):
    with pytest.raises(IBMQJobApiError):
        IBMQJob(None, api, "j1", CREATED, "TRANSPILING")


def test_unknown_fields_are_attributes_with_a_trailing_underscore(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED", batman="robin", summary_data={"x": 1})
    assert job.batman_ == "robin" and job.summary_data_ == {"x": 1}
    with pytest.raises(AttributeError, match="Attribute batman is not defined"):
        _ = job.batman


def test_tags_are_a_copy(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED", tags=["a"])
    job.tags().append("b")
    assert job.tags() == ["a"]


def test_submit_is_not_supported(api):
    with pytest.raises(NotImplementedError):
        IBMQJob(None, api, "j1", CREATED, "QUEUED").submit()


def test_a_result_given_without_client_info_is_usable(api):
    result = AerSimulator().run(circuits.bell(), shots=10).result().to_dict()
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED", result=result)
    assert sum(job.result().get_counts().values()) == 10
    assert job.result() is job.result()


def test_results_of_cancelled_and_failed_jobs(api):
    cancelled = IBMQJob(None, api, "j1", CREATED, "CANCELLED")
    with pytest.raises(IBMQJobInvalidStateError, match="Job was cancelled"):
        cancelled.result(partial=True)
    error = {"code": 1101, "reason": "CIRCUIT_TOO_WIDE", "message": "Too wide."}
    failed = IBMQJob(None, api, "j2", CREATED, "ERROR_VALIDATING_JOB", error=error)
    expected = "Unable to retrieve result for job j2. Job has failed: Too wide. Error code: 1101."
    with pytest.raises(IBMQJobFailureError) as caught:
        failed.result(partial=True)  # never ran, so not even a partial result is asked for
    assert caught.value.message == expected
    assert failed.error_message() == "Too wide. Error code: 1101."
    assert IBMQJob(None, api, "j3", CREATED, "COMPLETED").error_message() is None


def test_a_failure_without_details_reports_its_state(api):
    failed = IBMQJob(None, api, "j1", CREATED, "ERROR_RUNNING_JOB", error={"code": 0})
    assert failed.error_message() == "ERROR_RUNNING_JOB"


def test_queue_information_of_a_queued_job(api):
    info = {"position": 3, "status": "QUEUED", "job_id": "j1"}
    job = IBMQJob(None, api, "j1", CREATED, "QUEUED", info_queue=info)
    assert job.queue_position() == 3
    running = IBMQJob(None, api, "j1", CREATED, "RUNNING", info_queue=QueueInfo(position=1))
    assert running.queue_position() is None  # queue information only exists while queued


def test_cached_fields_of_a_final_job(api):
    steps = {"QUEUED": "2024-03-01T10:00:01", "RUNNING": datetime(2024, 3, 1, 10, 0, 2)}
    job = IBMQJob(
        None, api, "j1", CREATED, "COMPLETED", time_per_step=steps, run_mode="dedicated",
        experiment_id="e1", client_info={"qiskit": "2.6"}, header={"h": 1},
        run_options={"shots": 5},
    )  # fmt: skip
    assert job.time_per_step() == {
        "QUEUED": datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC),
        "RUNNING": datetime(2024, 3, 1, 10, 0, 2, tzinfo=UTC),
    }
    assert job.scheduling_mode() == "dedicated" and job.experiment_id == "e1"
    assert job.client_version == {"qiskit": "2.6"}
    assert job.header() == {"h": 1} and job.backend_options() == {"shots": 5}


def test_setting_client_version_is_deprecated(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED", client_info={"a": "1"})
    with pytest.warns(DeprecationWarning):
        job.client_version = {"b": "2"}
    assert job.client_version == {"b": "2"}


def test_invalid_updates_fail_before_any_call(api):
    job = IBMQJob(None, api, "j1", CREATED, "COMPLETED")
    with pytest.raises(IBMQJobInvalidStateError) as caught:
        job.update_name(5)  # type: ignore[arg-type]
    assert caught.value.message == (
        '"5" of type "<class \'int\'>" is not a valid job name. The job name needs to be a string.'
    )
    with pytest.raises(IBMQJobInvalidStateError, match="none of the parameters"):
        job.update_tags()
