"""Jobs: the record IBM keeps, and a real lifecycle Queued → Running → a final state.

Each job gets a thread: it waits in the queue, takes its device (one job at a time, as on a
QPU), simulates on Aer with the device's noise, and holds the Running state for a configurable
time, so a poller sees every state. Cancelling wakes the thread at once.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import qiskit

from tests.ibm.fake import sampler
from tests.ibm.fake.wire import iso_utc

if TYPE_CHECKING:
    from tests.ibm.fake.devices import Device

FINAL_STATES = frozenset({"Completed", "Cancelled", "Failed"})
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # IBM job ids look like xids: base32hex


def new_job_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


@dataclass(frozen=True)
class JobEnding:
    """A forced outcome for a job, used instead of its simulated one (fault injection)."""

    status: str  # "Cancelled" or "Failed"
    reason: str
    reason_code: int | None = None
    reason_solution: str | None = None
    label: str | None = None  # the top-level ``status`` string, when it differs from state


RAN_TOO_LONG = JobEnding(
    status="Cancelled",
    reason="Job was cancelled because it exceeded its maximum execution time.",
    reason_code=1305,
    reason_solution="Reduce the work in the job or raise its max_execution_time.",
    label="Cancelled - Ran too long",
)


@dataclass
class Job:
    id: str
    device: Device
    program_id: str
    raw_params: Any  # as submitted, returned by GET /jobs/{id} unless excluded or private
    work: sampler.SamplerWork
    tags: list[str]
    cost: int
    private: bool
    session_id: str | None
    user_id: str
    ending: JobEnding | None  # forced outcome, if a fault was armed for this job
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "Queued"
    label: str | None = None
    reason: str | None = None
    reason_code: int | None = None
    reason_solution: str | None = None
    running_at: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = None  # RuntimeEncoder JSON text, once Completed
    wake: threading.Event = field(default_factory=threading.Event)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def quantum_seconds(self) -> int:
        if self.running_at is None or self.status == "Queued":
            return 0
        end = self.finished_at or datetime.now(UTC)
        return max(1, round((end - self.running_at).total_seconds()))

    def finish(self, status: str, ending: JobEnding | None = None) -> None:
        self.status = status
        self.finished_at = datetime.now(UTC)
        if ending is not None:
            self.label = ending.label
            self.reason = ending.reason
            self.reason_code = ending.reason_code
            self.reason_solution = ending.reason_solution
        self.wake.set()

    def view(self, include_params: bool) -> dict[str, Any]:
        """The job as ``GET /jobs/{id}`` and ``GET /jobs`` show it."""
        state: dict[str, Any] = {"status": self.status}
        for key in ("reason", "reason_code", "reason_solution"):
            if (value := getattr(self, key)) is not None:
                state[key] = value
        body: dict[str, Any] = {
            "id": self.id,
            "backend": self.device.name,
            "state": state,
            "status": self.label or self.status,
            "program": {"id": self.program_id},
            "created": iso_utc(self.created),
            "cost": self.cost,
            "tags": list(self.tags),
            "user_id": self.user_id,
            "usage": self._usage(),
            "estimated_running_time_seconds": round(1.0 + self.work.shots / 4000, 3),
        }
        if self.session_id:
            body["session_id"] = self.session_id
        if self.private:
            body["private"] = True  # and never the params
        elif include_params:
            body["params"] = self.raw_params
        return body

    def metrics(self, caller: str) -> dict[str, Any]:
        """``GET /jobs/{id}/metrics``."""
        timestamps = {
            "created": iso_utc(self.created),
            "running": iso_utc(self.running_at) if self.running_at else None,
            "finished": iso_utc(self.finished_at) if self.finished_at else None,
        }
        usage = self._usage()
        seconds = usage["qpu_charge_time_seconds"]
        return {
            "timestamps": timestamps,
            "usage": {**usage, "quantum_seconds": seconds, "seconds": seconds},
            "qiskit_version": qiskit.__version__,
            "caller": caller,
        }

    def logs(self) -> str:
        lines = [f"{iso_utc(self.created)} job {self.id} queued on {self.device.name}"]
        if self.running_at:
            lines.append(f"{iso_utc(self.running_at)} job {self.id} running")
        if self.finished_at:
            lines.append(f"{iso_utc(self.finished_at)} job {self.id} {self.status.lower()}")
        return "\n".join(lines) + "\n"

    def _usage(self) -> dict[str, Any]:
        return {
            "qpu_charge_time_seconds": self.quantum_seconds,
            "status": "complete" if self.final else "pending",
        }


class JobBoard:
    """Every job of the fake instance, and the threads that move them along."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards every job's mutable fields
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []

    def submit(self, job: Job, queue_seconds: float, run_seconds: float) -> None:
        with self.lock:
            self._jobs[job.id] = job
        thread = threading.Thread(
            target=self._lifecycle,
            args=(job, queue_seconds, run_seconds),
            name=f"fake-ibm-job-{job.id}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self.lock:
            return list(self._jobs.values())

    def delete(self, job_id: str) -> None:
        with self.lock:
            self._jobs.pop(job_id, None)

    def queue_length(self, device_name: str) -> int:
        with self.lock:
            return sum(
                1 for job in self._jobs.values() if job.device.name == device_name and not job.final
            )

    def cancel(self, job: Job) -> bool:
        """Cancel a job that is not final; False if it already is (the API's 409)."""
        with self.lock:
            if job.final:
                return False
            job.finish("Cancelled")
            return True

    def stop(self, timeout: float = 5.0) -> None:
        """Wake every job thread and wait for them, so nothing outlives the fake."""
        for job in self.all():
            job.wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _lifecycle(self, job: Job, queue_seconds: float, run_seconds: float) -> None:
        if job.wake.wait(queue_seconds):
            return  # cancelled while queued, or the fake stopped
        # One job at a time per device, as on a QPU, and none while it is offline: later jobs
        # stay Queued meanwhile.
        while not (job.device.online and job.device.run_lock.acquire(timeout=0.05)):
            if job.wake.wait(0.05):
                return
        try:
            self._run(job, run_seconds)
        finally:
            job.device.run_lock.release()

    def _run(self, job: Job, run_seconds: float) -> None:
        with self.lock:
            if job.final:
                return
            job.status = "Running"
            job.running_at = datetime.now(UTC)
        started = time.monotonic()
        ending = job.ending
        result = None
        if ending is None:
            try:
                result = sampler.run(job.work, job.device)
            except Exception as error:  # the job fails; the fake carries on
                ending = JobEnding("Failed", f"Error executing the job: {error}")
        if job.wake.wait(max(0.0, run_seconds - (time.monotonic() - started))):
            return  # cancelled while running, or the fake stopped
        with self.lock:
            if job.final:
                return
            if ending is not None:
                job.finish(ending.status, ending)
            else:
                job.result = result
                job.finish("Completed")
