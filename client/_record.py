"""What the client knows of a job: the gateway's record of it as of the last snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus
from qiskit.providers.jobstatus import JOB_FINAL_STATES

from ibmq_gateway.client._messages import job_status, parse_utc
from ibmq_gateway.client.queueinfo import QueueInfo

if TYPE_CHECKING:
    from datetime import datetime


@dataclass
class JobRecord:
    """One snapshot of a job; replaced as a whole when a newer one arrives."""

    creation_date: datetime
    """In UTC."""
    api_status: str
    """The gateway state name, e.g. ``"QUEUED"``."""
    status: JobStatus
    final: bool
    """The gateway's word on whether the state can still change."""
    queue_info: QueueInfo | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    time_per_step: dict[str, datetime] = field(default_factory=dict)
    """Step name -> when the job entered it, in UTC."""
    error: dict[str, Any] | None = None
    run_mode: str | None = None
    share_level: str = "none"
    client_info: dict[str, str] = field(default_factory=dict)
    experiment_id: str | None = None
    header: dict[str, Any] | None = None
    run_options: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields without a place above, keyed by their name plus a trailing underscore."""

    @classmethod
    def from_fields(
        cls,
        *,
        creation_date: str | datetime,
        status: str,
        final: bool | None = None,
        info_queue: QueueInfo | dict[str, Any] | None = None,
        time_per_step: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        share_level: str | None = None,
        client_info: dict[str, str] | None = None,
        **fields: Any,
    ) -> JobRecord:
        """A record from ``IBMQJob``'s constructor arguments (or ``_messages.job_fields``).

        Raises:
            IBMQJobApiError: ``status`` is not a gateway state this client knows.
        """
        mapped = job_status(status)
        known = {name: fields.pop(name, None) for name in _OPTIONAL}
        return cls(
            creation_date=parse_utc(creation_date),
            api_status=status,
            status=mapped,
            final=mapped in JOB_FINAL_STATES if final is None else final,
            queue_info=_queue_info(mapped, info_queue),
            tags=list(tags or []),
            time_per_step={step: parse_utc(at) for step, at in (time_per_step or {}).items()},
            share_level=share_level or "none",
            client_info=dict(client_info or {}),
            extra={f"{name}_": value for name, value in fields.items()},
            **known,
        )

    def error_message(self) -> str:
        """Why the job failed: ``'<message>. Error code: <code>.'`` from the job's error."""
        if self.error and self.error.get("message"):
            message = str(self.error["message"]).rstrip(".")
            return f"{message}. Error code: {self.error.get('code')}."
        return self.api_status if self.api_status.startswith("ERROR") else "Unknown error."


_OPTIONAL = ("name", "error", "run_mode", "experiment_id", "header", "run_options")


def _queue_info(status: JobStatus, info: QueueInfo | dict[str, Any] | None) -> QueueInfo | None:
    # Queue information only means something while the job waits in the queue.
    if status is not JobStatus.QUEUED or not info:
        return None
    return info if isinstance(info, QueueInfo) else QueueInfo(**info)
