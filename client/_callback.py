"""Calling a user's status callback from a background thread while a job is awaited.

The waiting thread hands each status to the callback thread through a one-slot channel
where the latest value wins, so a slow callback never delays the wait; it sees the newest
status instead of every one.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus
from qiskit.providers.jobstatus import JOB_FINAL_STATES

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from ibmq_gateway.client.queueinfo import QueueInfo

Update = tuple[JobStatus, "QueueInfo | None"]


class _Channel:
    """One slot, latest value wins; readers see how many values were written."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._update: Update | None = None
        self._count = 0
        self.closed = False

    def put(self, update: Update) -> None:
        with self._condition:
            self._update = update
            self._count += 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def after(self, count: int) -> tuple[int, Update] | None:
        """Blocks until a value newer than ``count`` arrives; None once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self.closed or self._count > count)
            return None if self.closed or self._update is None else (self._count, self._update)

    def latest(self, pause: float) -> Update | None:
        """Sleeps ``pause`` seconds (less if closed), then returns the newest value."""
        with self._condition:
            self._condition.wait_for(lambda: self.closed, timeout=pause)
            return None if self.closed else self._update


class StatusReporter:
    """Runs ``callback(job_id, status, job, queue_info=...)`` in a thread during a wait.

    With ``wait=None`` the callback runs for each status that differs from the previous
    one; with ``wait=N`` it runs every N seconds with the newest status (nothing before the
    first status arrives). It never runs with a final status. An exception raised by the
    callback ends the thread and is raised again when the wait ends.

    Args:
        job: The job, passed to the callback.
        callback: The user's function.
        wait: Seconds between calls, or None to call on each change.
    """

    def __init__(self, job: Any, callback: Callable[..., Any], wait: float | None) -> None:
        self._job = job
        self._callback = callback
        self._wait = wait
        self._channel = _Channel()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ibmq-gateway-callback")
        self._thread.daemon = True

    def push(self, status: JobStatus, queue_info: QueueInfo | None) -> None:
        """Offers a status (and the queue information that came with it) to the callback."""
        self._channel.put((status, queue_info))

    def __enter__(self) -> StatusReporter:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._channel.close()
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def _run(self) -> None:
        try:
            if self._wait is None:
                self._on_change()
            else:
                self._every(self._wait)
        except BaseException as err:  # handed to the waiting thread, which raises it
            self._error = err

    def _on_change(self) -> None:
        count, previous = 0, None
        while (news := self._channel.after(count)) is not None:
            count, update = news
            if update[0] in JOB_FINAL_STATES:
                return
            if update != previous:
                previous = update
                self._call(update)

    def _every(self, pause: float) -> None:
        while not self._channel.closed:
            update = self._channel.latest(pause)
            if update is None:
                continue
            if update[0] in JOB_FINAL_STATES:
                return
            self._call(update)

    def _call(self, update: Update) -> None:
        status, queue_info = update
        self._callback(self._job.job_id(), status, self._job, queue_info=queue_info)
