"""The gateway's one interface to IBM Quantum, built on qiskit-ibm-runtime's public API.

Every method is a coroutine. Each blocking client call runs on a lane (see ``lanes``): a
daemon thread owning its own ``QiskitRuntimeService``. The client sets no read timeout except on
submit, so every call has a deadline here; a call that misses it raises ``IbmTransientError``
and retires its lane (a fresh lane with a fresh service takes over). Calls for one IBM job go to
the lane holding its ``RuntimeJobV2``; a new lane re-fetches it with ``service.job(id)``.

A send (``POST /jobs``) is the exception to deadlines: it is not idempotent, so until it ends
nobody knows whether IBM took the job. A send that misses its deadline still frees its lane
for other calls, but ``submit`` waits for its outcome (the client's own 900 s read timeout
bounds it), and ``send_outcome`` lets a cancel wait for a send in flight.

Client exceptions become ``IbmError`` kinds in one place, ``errors.translate``; their
messages never contain the API key. qiskit-ibm-runtime is imported lazily (it costs ~1 s).

Size: one short method per IBM call the gateway makes, all through ``_call``, the one place
that picks a lane, sets the deadline and translates errors; split, that place would be too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ibmq_gateway.server.executors.ibm.errors import (
    IbmError,
    IbmRejectedError,
    IbmTransientError,
    translate,
)
from ibmq_gateway.server.executors.ibm.lanes import Lane, LanePool, LaneTimeout
from ibmq_gateway.server.executors.ibm.reading import (
    describe,
    failure,
    json_ready,
    normalize_status,
)
from ibmq_gateway.server.executors.ibm.records import (
    IbmAccount,
    IbmDevice,
    IbmDeviceStatus,
    IbmJobState,
    IbmJobTimes,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from qiskit import QuantumCircuit
    from qiskit.primitives import PrimitiveResult
    from qiskit_ibm_runtime import IBMBackend, QiskitRuntimeService

T = TypeVar("T")
log = logging.getLogger(__name__)

BACKENDS_KEY = "ibm:backends"  # devices, their status and calibration share one lane
_SAMPLER_WARNING_LOCK = threading.Lock()  # catch_warnings swaps process-wide filters


class IbmClient:
    """IBM Quantum for the gateway's event loop; see the module docstring."""

    def __init__(
        self,
        account: IbmAccount,
        *,
        lanes: int = 2,
        call_timeout: float = 60.0,
        submit_timeout: float = 300.0,
    ) -> None:
        self.account = account
        self.call_timeout = call_timeout
        self.submit_timeout = submit_timeout
        self._lanes = LanePool(lanes, self._new_service)
        self._sends: dict[str, Future[tuple[str, Lane]]] = {}
        """Sends in flight, by the job's first tag."""

    async def connect(self) -> None:
        """Builds the first service: IAM token exchange and instance lookup."""

        def connect(lane: Lane) -> None:
            _ = lane.service

        await self._call(BACKENDS_KEY, "connect", connect)

    async def devices(self) -> list[IbmDevice]:
        """Every device of the instance, with its configuration and ``Target``."""
        return await self._call(
            BACKENDS_KEY, "list devices", lambda lane: [_device(b) for b in lane.all_backends()]
        )

    async def device_status(self, name: str) -> IbmDeviceStatus:
        def status(lane: Lane) -> IbmDeviceStatus:
            state = lane.backend(name).status()
            return IbmDeviceStatus(
                operational=bool(state.operational),
                message=str(state.status_msg or ""),
                queue_length=int(state.pending_jobs or 0),
                wait_seconds=None,
            )

        return await self._call(BACKENDS_KEY, f"status of {name}", status)

    async def properties(self, name: str) -> dict[str, Any] | None:
        """The device's current calibration as a JSON-ready dict, or None if it has none."""

        def properties(lane: Lane) -> dict[str, Any] | None:
            found = lane.backend(name).properties(refresh=True)
            return None if found is None else json_ready(found.to_dict())

        return await self._call(BACKENDS_KEY, f"properties of {name}", properties)

    async def submit(
        self, backend: str, circuits: Sequence[QuantumCircuit], shots: int, tags: Sequence[str]
    ) -> str:
        """Submits one SamplerV2 job (one pub per circuit) and returns IBM's job id."""
        pubs, job_tags = [(circuit,) for circuit in circuits], list(tags)

        def submit(lane: Lane) -> tuple[str, Lane]:
            from qiskit_ibm_runtime import SamplerV2

            target = lane.backend(backend)
            with _SAMPLER_WARNING_LOCK, warnings.catch_warnings():
                # Deprecated in 0.50 for the client-side executor Sampler; expected for now.
                warnings.filterwarnings(
                    "ignore", "The SamplerV2 class is deprecated", DeprecationWarning
                )
                sampler = SamplerV2(mode=target)
            sampler.options.environment.job_tags = job_tags
            job = sampler.run(pubs, shots=shots)
            lane.keep(job)
            return str(job.job_id()), lane

        key = job_tags[0] if job_tags else "ibm:submit"
        job_id, lane = await self._send(key, f"submit to {backend}", submit)
        self._lanes.pin(job_id, lane)
        return job_id

    async def send_outcome(self, tag: str) -> str | None:
        """Waits for a send of the job tagged ``tag`` still in flight; IBM's id if it took it.

        None when no send is in flight or it failed (``find_job`` then tells the rest).
        """
        pending = self._sends.get(tag)
        if pending is None:
            return None
        try:
            job_id, _ = await asyncio.wrap_future(pending)
        except (Exception, asyncio.CancelledError):
            return None
        return job_id

    async def _send(
        self, key: str, what: str, call: Callable[[Lane], tuple[str, Lane]]
    ) -> tuple[str, Lane]:
        if self._lanes.closed:
            raise IbmError("The IBM client is closed.")
        try:
            lane, pending = self._lanes.put(key, call)
        except Exception as error:
            raise translate(error, self.account, what) from None
        self._sends[key] = pending
        pending.add_done_callback(lambda _: self._forget_send(key, pending))
        try:
            return await self._lanes.wait(lane, pending, self.submit_timeout)
        except LaneTimeout:
            pass
        except Exception as error:
            raise translate(error, self.account, what) from None
        if pending.cancelled():  # it never started: nothing was sent
            raise IbmTransientError(f"IBM Quantum was not reached in time ({what}).")
        log.warning("%s passed %g s; waiting for IBM's answer", what, self.submit_timeout)
        try:
            return await asyncio.wrap_future(pending)
        except Exception as error:
            raise translate(error, self.account, what) from None

    def _forget_send(self, key: str, pending: Future[tuple[str, Lane]]) -> None:
        if self._sends.get(key) is pending:
            del self._sends[key]

    async def find_job(self, tag: str) -> str | None:
        """The newest job carrying ``tag``, or None: checked before any submit."""

        def find(lane: Lane) -> tuple[str | None, Lane]:
            jobs = lane.service.jobs(job_tags=[tag], limit=1, descending=True)
            if not jobs:
                return None, lane
            lane.keep(jobs[0])
            return str(jobs[0].job_id()), lane

        job_id, lane = await self._call(tag, f"find the job tagged {tag}", find)
        if job_id is not None:
            self._lanes.pin(job_id, lane)
        return job_id

    async def status(self, job_id: str) -> IbmJobState:
        return await self._call(
            job_id, f"status of job {job_id}", lambda lane: _state(lane, job_id)
        )

    async def result(self, job_id: str) -> PrimitiveResult:
        """The decoded sampler result of a DONE job."""

        def result(lane: Lane) -> PrimitiveResult:
            from qiskit.primitives import PrimitiveResult

            job = lane.job(job_id)
            state = _state(lane, job_id)
            if state.status != "DONE":
                raise IbmRejectedError(f"IBM job {job_id} has no result: it is {state.status}.")
            found = job.result(timeout=0)
            if not isinstance(found, PrimitiveResult):
                raise IbmRejectedError(
                    f"IBM returned no sampler result for job {job_id} "
                    f"(got {type(found).__name__}; a private job's result can be read once)."
                )
            return found

        return await self._call(job_id, f"result of job {job_id}", result)

    async def times(self, job_id: str) -> IbmJobTimes:
        """The job's timestamps from IBM's metrics."""

        def read(lane: Lane) -> IbmJobTimes:
            stamps = lane.job(job_id).metrics().get("timestamps") or {}
            created, running, finished = (
                _moment(stamps.get(key)) for key in ("created", "running", "finished")
            )
            return IbmJobTimes(created, running, finished)

        return await self._call(job_id, f"timestamps of job {job_id}", read)

    async def cancel(self, job_id: str) -> bool:
        """True if IBM cancelled the job; False if it was already final (HTTP 409)."""

        def cancel(lane: Lane) -> bool:
            from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError

            try:
                lane.job(job_id).cancel()
            except RuntimeInvalidStateError:
                return False
            return True

        return await self._call(job_id, f"cancel job {job_id}", cancel)

    async def close(self) -> None:
        """Stops every lane; idle ones end at once, a hung call ends on its own."""
        await self._lanes.close(IbmError("The IBM client was closed."))

    async def _call(
        self, key: str, what: str, call: Callable[[Lane], T], timeout: float | None = None
    ) -> T:
        """Runs ``call`` on the lane for ``key`` within the timeout; translates its errors."""
        if self._lanes.closed:
            raise IbmError("The IBM client is closed.")
        seconds = self.call_timeout if timeout is None else timeout
        try:
            return await self._lanes.call(key, call, seconds)
        except LaneTimeout:
            raise IbmTransientError(
                f"IBM Quantum did not answer in time ({what}, {seconds:g} s); "
                "the connection was replaced. Retry later."
            ) from None
        except Exception as error:
            raise translate(error, self.account, what) from None

    def _new_service(self) -> QiskitRuntimeService:
        """A service for one lane, built in that lane's thread."""
        from qiskit_ibm_runtime import QiskitRuntimeService

        account = self.account
        options: dict[str, Any] = {}
        if account.api_url:
            parts = urlsplit(account.api_url)
            api_url = account.api_url
            options = {
                "url": f"{parts.scheme}://{parts.netloc}",
                "url_resolver": lambda *_: api_url,
            }
        return QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=account.token,
            instance=account.instance,
            **options,
        )


# -- what runs on a lane --------------------------------------------------------------------


def _moment(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _device(backend: IBMBackend) -> IbmDevice:
    config = backend.configuration()
    return IbmDevice(
        name=backend.name,
        version=str(config.backend_version),
        num_qubits=int(config.n_qubits),
        simulator=bool(getattr(config, "simulator", False)),
        target=backend.target,
        max_shots=int(getattr(config, "max_shots", 0) or 0),
        max_experiments=int(getattr(config, "max_experiments", 0) or 0),
        description=describe(backend),
    )


def _state(lane: Lane, job_id: str) -> IbmJobState:
    job = lane.job(job_id)
    raw = job.status()
    status = normalize_status(raw)
    if status is None:
        return IbmJobState("QUEUED", f"IBM reported an unknown job state {raw!r}.")
    if status != "ERROR":
        return IbmJobState(status)
    return IbmJobState(status, *failure(job))
