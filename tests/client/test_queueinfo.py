"""QueueInfo: equality, dict form, report and repr."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ibmq_gateway.client import QueueInfo


def _info(**fields: Any) -> QueueInfo:
    start = datetime.now(UTC) + timedelta(minutes=3, seconds=10.4)
    base: dict[str, Any] = {
        "position": 2,
        "status": "QUEUED",
        "estimated_start_time": start,
        "estimated_complete_time": start + timedelta(hours=1),
        "job_id": "j1",
        "scope": "gateway",
    }
    return QueueInfo(**(base | fields))


def test_equal_fields_make_equal_infos():
    first = _info()
    assert first == QueueInfo(**first.to_dict())
    assert first != _info(position=3)
    assert first != "QueueInfo"


def test_to_dict_has_every_field_with_local_times():
    info = _info()
    data = info.to_dict()
    assert data["position"] == 2 and data["job_id"] == "j1" and data["scope"] == "gateway"
    assert data["estimated_start_time"].utcoffset() == datetime.now().astimezone().utcoffset()
    assert data["hub_priority"] is None


def test_times_given_as_iso_strings_are_utc():
    info = QueueInfo(estimated_start_time="2024-01-01T10:00:00")
    assert info.estimated_start_time == datetime(2024, 1, 1, 10, tzinfo=UTC)


def test_known_means_a_position_or_an_estimate():
    assert _info().known()
    assert QueueInfo(position=None, estimated_start_time=datetime.now(UTC)).known()
    assert not QueueInfo(job_id="j1", status="QUEUED").known()


def test_format_is_a_report_with_unknowns():
    report = _info(estimated_complete_time=None).format()
    lines = report.splitlines()
    assert lines[0] == "Job j1 queue information:"
    assert lines[1] == "    queue position: 2"
    assert lines[2] == "    status: job is queued"
    assert lines[3] == "    estimated start time: 3 min 10 sec"
    assert lines[4] == "    estimated completion time: unknown"
    assert lines[5] == "    hub priority: unknown"


def test_format_of_a_past_estimate_says_ago():
    info = QueueInfo(estimated_start_time=datetime.now(UTC) - timedelta(hours=2, seconds=5.4))
    assert "    estimated start time: 2 hrs 5 sec ago" in info.format().splitlines()


def test_repr_names_every_field():
    text = repr(_info(estimated_complete_time=None))
    assert text.startswith("<QueueInfo(job_id='j1', _status='QUEUED', estimated_start_time='")
    assert "estimated_complete_time='unknown', position=2, hub_priority=unknown" in text


def test_extra_fields_are_attributes():
    assert _info().scope == "gateway"
    with pytest.raises(AttributeError, match="Attribute missing is not defined"):
        _ = _info().missing
