"""The filter of jobs(): statuses, tags, dates and their error messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qiskit.providers import JobStatus

from ibmq_gateway.client import IBMQBackendValueError
from ibmq_gateway.client._filters import job_filter
from ibmq_gateway.v1 import job_pb2

VALID = "Valid values are INITIALIZING, QUEUED, VALIDATING, RUNNING, CANCELLED, DONE, ERROR"


def test_no_arguments_match_everything():
    assert job_filter() == job_pb2.JobFilter()


@pytest.mark.parametrize("status", [JobStatus.DONE, "DONE", "done"])
def test_a_status_as_enum_or_name(status):
    assert list(job_filter(status=status).states) == [job_pb2.JOB_STATE_COMPLETED]


def test_a_list_of_statuses_covers_all_their_states():
    states = job_filter(status=[JobStatus.VALIDATING, "error"]).states
    assert list(states) == [
        job_pb2.JOB_STATE_VALIDATING,
        job_pb2.JOB_STATE_VALIDATED,
        job_pb2.JOB_STATE_ERROR_CREATING_JOB,
        job_pb2.JOB_STATE_ERROR_VALIDATING_JOB,
        job_pb2.JOB_STATE_ERROR_RUNNING_JOB,
    ]


def test_an_invalid_status_names_the_valid_ones():
    with pytest.raises(IBMQBackendValueError) as caught:
        job_filter(status="finished")
    assert caught.value.message == f'"finished" is not a valid status value. {VALID}'


@pytest.mark.parametrize(("operator", "match"), [("OR", 1), ("or", 1), ("AND", 2), (None, 1)])
def test_tag_operators(operator, match):
    if operator is None:
        assert job_filter(job_tags=["a"]).tag_match == job_pb2.TAG_MATCH_ANY
        return
    message = job_filter(job_tags=["a", "b"], job_tags_operator=operator)
    assert list(message.tags) == ["a", "b"] and message.tag_match == match


def test_an_invalid_tag_operator_is_refused():
    with pytest.raises(IBMQBackendValueError, match='"XOR" is not a valid job_tags_operator'):
        job_filter(job_tags=["a"], job_tags_operator="XOR")


def test_tags_must_be_a_list_of_strings():
    with pytest.raises(IBMQBackendValueError, match="job_tags needs to be a list or strings"):
        job_filter(job_tags={"a"})  # type: ignore[arg-type]


def test_dates_name_and_experiment():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    message = job_filter(
        start_datetime=start, end_datetime=start, job_name="^bell$", experiment_id="e1",
        backend_name="fake_manila",
    )  # fmt: skip
    assert message.created_after.ToDatetime(tzinfo=UTC) == start
    assert message.created_before.ToDatetime(tzinfo=UTC) == start
    assert (message.name_pattern, message.experiment_id) == ("^bell$", "e1")
    assert message.backend == "fake_manila"
