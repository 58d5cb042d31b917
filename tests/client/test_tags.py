"""update_tags' computation: order, job-manager tags, validation."""

from __future__ import annotations

import pytest

from ibmq_gateway.client import IBMQBackendValueError, IBMQJobInvalidStateError
from ibmq_gateway.client._tags import updated_tags, validate_tags

CURRENT = ["a", "b", "ibmq_jobset_1"]


def test_nothing_to_do_is_refused():
    with pytest.raises(IBMQJobInvalidStateError, match="none of the parameters are specified"):
        updated_tags(CURRENT)


def test_replacement_keeps_job_manager_tags():
    assert updated_tags(CURRENT, replacement_tags=["c"]) == {"c", "ibmq_jobset_1"}


def test_an_empty_replacement_clears_all_but_job_manager_tags():
    assert updated_tags(CURRENT, replacement_tags=[]) == {"ibmq_jobset_1"}


def test_additions_and_removals():
    assert updated_tags(CURRENT, additional_tags=["c"], removal_tags=["a"]) == {
        "b",
        "c",
        "ibmq_jobset_1",
    }


def test_adding_and_removing_the_same_tag_changes_nothing():
    assert updated_tags(CURRENT, additional_tags=["c"], removal_tags=["c"]) == set(CURRENT)


def test_replace_then_add_then_remove():
    tags = updated_tags(
        CURRENT, replacement_tags=["x", "y"], additional_tags=["z"], removal_tags=["y", "a"]
    )
    assert tags == {"x", "z", "ibmq_jobset_1"}


def test_job_manager_tags_are_never_removed(caplog):
    assert "ibmq_jobset_1" in updated_tags(CURRENT, removal_tags=["ibmq_jobset_1"])
    assert "reserved" in caplog.text


def test_removing_a_missing_tag_is_ignored_with_a_warning(caplog):
    assert updated_tags(CURRENT, removal_tags=["nope"]) == set(CURRENT)
    assert "nope" in caplog.text


def test_an_empty_addition_still_counts_as_a_request():
    assert updated_tags(CURRENT, additional_tags=[]) == set(CURRENT)


@pytest.mark.parametrize("bad", [{"a"}, "a", [1], ("a",)])
def test_each_argument_must_be_a_list_of_strings(bad):
    for name in ("replacement_tags", "additional_tags", "removal_tags"):
        with pytest.raises(
            IBMQJobInvalidStateError, match="job_tags needs to be a list or strings"
        ):
            updated_tags(CURRENT, **{name: bad})


def test_validation_raises_the_callers_error():
    with pytest.raises(IBMQBackendValueError):
        validate_tags({"a"}, IBMQBackendValueError)
    validate_tags(None, IBMQBackendValueError)
    validate_tags([], IBMQBackendValueError)
