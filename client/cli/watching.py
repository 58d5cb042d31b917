"""Following a job from the command line until it is final.

On a terminal one status line updates in place (with a spinner and the elapsed time); piped
into a file or another program, each change is a line of its own, so logs keep the history.
Changes come from the job's status stream (``wait_for_final_state`` with a callback), never
from polling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from ibmq_gateway.client.cli.render import status_text

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console

    from ibmq_gateway.client import IBMQJob, QueueInfo


def follow(job: IBMQJob, console: Console) -> JobStatus:
    """Shows the job's status until it is final, then prints and returns the final status."""
    with StatusDisplay(job, console) as display:
        job.wait_for_final_state(callback=display.on_status)
    status = job.status()
    console.print(final_line(job, status))
    return status


class StatusDisplay:
    """The changing status of one job: a live line on a terminal, else a line per change.

    Args:
        job: The job followed.
        console: Where to show it.
    """

    def __init__(self, job: IBMQJob, console: Console) -> None:
        self._created = job.creation_date()
        self._console = console
        self._spinner = Spinner("dots")
        self._latest: tuple[JobStatus, QueueInfo | None] | None = None
        self._live: Live | None = None

    def on_status(
        self, job_id: str, status: JobStatus, job: Any, queue_info: QueueInfo | None = None
    ) -> None:
        """The ``wait_for_final_state`` callback: shows a new status (called on a thread)."""
        self._latest = (status, queue_info)
        if self._live is None:
            line = status_line(status, queue_info)
            self._console.print(Text.assemble(f"{self._elapsed():7.1f} s  ", line))

    def __rich__(self) -> Spinner:
        # Live calls this several times a second, which keeps the times on the line current.
        latest = self._latest
        line = status_line(*latest) if latest else Text("waiting for the gateway", style="dim")
        self._spinner.update(text=Text.assemble((f"{self._elapsed():.1f} s  ", "dim"), line))
        return self._spinner

    def __enter__(self) -> StatusDisplay:
        if self._console.is_terminal:
            self._live = Live(self, console=self._console, transient=True, refresh_per_second=8)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def _elapsed(self) -> float:
        # The creation time is the gateway's clock; never show a negative age for a job.
        return max((datetime.now(UTC) - self._created).total_seconds(), 0.0)


def status_line(status: JobStatus, queue_info: QueueInfo | None) -> Text:
    """A status, with its queue position and estimated start while it is queued."""
    line = status_text(status)
    if status is JobStatus.QUEUED and queue_info is not None:
        details = _queue_details(queue_info)
        if details:
            line.append("  " + " · ".join(details))
    return line


def final_line(job: IBMQJob, status: JobStatus) -> Text:
    """``job <id> DONE in 1.2 s``: the final status and how long the job took."""
    line = Text.assemble(f"job {job.job_id()} ", status_text(status))
    steps = list((job.time_per_step() or {}).values())
    if len(steps) > 1:
        line.append(f" in {_seconds((steps[-1] - steps[0]).total_seconds())}")
    return line


def _queue_details(queue_info: QueueInfo) -> list[str]:
    details = []
    if queue_info.position is not None:
        details.append(f"position {queue_info.position}")
    start = queue_info.estimated_start_time
    if start is not None:
        wait = (start - datetime.now(UTC)).total_seconds()
        # A passed estimate stays as a time: "in -3 s" would read like a mistake.
        when = f" (in {_seconds(wait)})" if wait >= 1 else ""
        details.append(f"starts about {start:%H:%M:%S}{when}")
    return details


def _seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"
