"""Proto timestamps of the gateway's times: what protobuf's own conversion gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from ibmq_gateway.server.api.job_messages import timestamp

MOMENTS = [
    datetime(2026, 12, 7, 23, 51, 6, 123456, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 12, 0),  # naive: local time, as FromDatetime after astimezone
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_timestamp_is_what_protobuf_makes_of_the_same_moment(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment.astimezone(UTC))

    assert timestamp(moment) == expected
    assert timestamp(moment).ToDatetime(tzinfo=UTC) == moment.astimezone(UTC)
