"""Where a queued job stands: its position and the gateway's time estimates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ibmq_gateway.client._messages import job_status, parse_utc

_UNKNOWN = "unknown"


class QueueInfo:
    """Queue information of a job; every field may be unknown (None).

    Args:
        position: Position in the gateway's queue (1 = the next job to start).
        status: The job's gateway state, normally ``"QUEUED"``.
        estimated_start_time: When the job is expected to start (aware, or naive UTC).
        estimated_complete_time: When the job is expected to finish.
        hub_priority: Fair-share priority of the hub (IBM Quantum only).
        group_priority: Fair-share priority of the group (IBM Quantum only).
        project_priority: Fair-share priority of the project (IBM Quantum only).
        job_id: The id of the job.
        kwargs: Further fields (such as ``scope``), readable as attributes.
    """

    def __init__(
        self,
        position: int | None = None,
        status: str | None = None,
        estimated_start_time: datetime | str | None = None,
        estimated_complete_time: datetime | str | None = None,
        hub_priority: float | None = None,
        group_priority: float | None = None,
        project_priority: float | None = None,
        job_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.position = position
        self.hub_priority = hub_priority
        self.group_priority = group_priority
        self.project_priority = project_priority
        self.job_id = job_id
        self._status = status
        self._estimated_start_time = _utc(estimated_start_time)
        self._estimated_complete_time = _utc(estimated_complete_time)
        self._extra = kwargs

    @property
    def estimated_start_time(self) -> datetime | None:
        """When the job is expected to start, in local time."""
        return _local(self._estimated_start_time)

    @property
    def estimated_complete_time(self) -> datetime | None:
        """When the job is expected to finish, in local time."""
        return _local(self._estimated_complete_time)

    def known(self) -> bool:
        """Whether anything besides the job id is known (a position or any estimate)."""
        fields = (self.position, self._estimated_start_time, self._estimated_complete_time)
        priorities = (self.hub_priority, self.group_priority, self.project_priority)
        return any(value is not None for value in fields + priorities)

    def to_dict(self) -> dict[str, Any]:
        """Every field, with times in local time."""
        return {
            "job_id": self.job_id,
            "status": self._status,
            "position": self.position,
            "estimated_start_time": self.estimated_start_time,
            "estimated_complete_time": self.estimated_complete_time,
            "hub_priority": self.hub_priority,
            "group_priority": self.group_priority,
            "project_priority": self.project_priority,
            **self._extra,
        }

    def format(self) -> str:
        """A report for people: one line per field, ``unknown`` where a field is."""
        lines = [
            f"Job {_show(self.job_id)} queue information:",
            f"    queue position: {_show(self.position)}",
            f"    status: {self._status_value()}",
            f"    estimated start time: {_until(self._estimated_start_time)}",
            f"    estimated completion time: {_until(self._estimated_complete_time)}",
            f"    hub priority: {_show(self.hub_priority)}",
            f"    group priority: {_show(self.group_priority)}",
            f"    project priority: {_show(self.project_priority)}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        start, complete = self.estimated_start_time, self.estimated_complete_time
        status = job_status(self._status).name if self._status else _UNKNOWN
        fields = [
            f"job_id='{_show(self.job_id)}'",
            f"_status='{status}'",
            f"estimated_start_time='{start.isoformat() if start else _UNKNOWN}'",
            f"estimated_complete_time='{complete.isoformat() if complete else _UNKNOWN}'",
            f"position={_show(self.position)}",
            f"hub_priority={_show(self.hub_priority)}",
            f"group_priority={_show(self.group_priority)}",
            f"project_priority={_show(self.project_priority)}",
        ]
        return f"<{type(self).__name__}({', '.join(fields)})>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueueInfo):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not regular attributes: the extra fields.
        extra = self.__dict__.get("_extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"Attribute {name} is not defined.")

    def _status_value(self) -> str:
        return job_status(self._status).value if self._status else _UNKNOWN


def _utc(value: datetime | str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


def _local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone()


def _show(value: Any) -> Any:
    return _UNKNOWN if value is None else value


def _until(moment: datetime | None) -> str:
    """How far ``moment`` is from now, as ``2 hrs 3 min 10 sec`` (``... ago`` if past)."""
    if moment is None:
        return _UNKNOWN
    seconds = round((moment - datetime.now(UTC)).total_seconds())
    text = _duration(abs(seconds))
    return f"{text} ago" if seconds < 0 else text


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    parts = [(days, "days"), (hrs, "hrs"), (mins, "min")]
    shown = [f"{amount} {unit}" for amount, unit in parts if amount]
    return " ".join([*shown, f"{secs} sec"])
