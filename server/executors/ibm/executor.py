"""The IBM executor: gateway jobs run on IBM Quantum's devices with the team's one API key.

Program: each gateway job becomes one job of IBM's ``sampler`` program (``SamplerV2`` in job
mode), one pub per circuit at the job's shots. The sampler is what replaced ``backend.run``
at IBM: it takes ISA circuits as they are and returns every shot's bits, from which the
gateway rebuilds the counts and memory a legacy ``Result`` carries. (qiskit-ibm-runtime
0.50 deprecated ``SamplerV2`` in favour of the client-side sampler over the new ``executor``
program, whose wire format is still moving; the pin on the client keeps this choice
deliberate.)

Nothing is sent twice: every IBM job carries the tag ``ibmq-gateway:<job id>``, looked for
before each send (see ``sending``). Once recorded, IBM's id is how the job is re-attached
after a restart.

Faults: IBM's "too many requests" and an IBM that cannot be reached put the job back in the
gateway's queue (``RetryLater``); a job already at IBM is polled until it ends, however long
IBM is unreachable; a refused API key makes the ``ibm`` upstream unhealthy and IBM's
devices refuse new jobs with a message saying so, while local backends go on working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ibmq_gateway.server.executors.base import (
    BackendInfo,
    BackendStatus,
    Changed,
    ExecutionError,
    Executor,
)
from ibmq_gateway.server.executors.ibm.client import IbmClient
from ibmq_gateway.server.executors.ibm.devices import IbmDevices
from ibmq_gateway.server.executors.ibm.errors import (
    IbmAuthError,
    IbmError,
    IbmRejectedError,
)
from ibmq_gateway.server.executors.ibm.jobs import Follower, failure
from ibmq_gateway.server.executors.ibm.poller import IbmPoller
from ibmq_gateway.server.executors.ibm.records import IbmAccount
from ibmq_gateway.server.executors.ibm.results import sampler_to_result
from ibmq_gateway.server.executors.ibm.sending import Sender, gateway_tag

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.result import Result

    from ibmq_gateway.server.core.model import Job
    from ibmq_gateway.server.core.settings import Settings
    from ibmq_gateway.server.executors.base import RunReporter

log = logging.getLogger(__name__)

RESULT_UNREADABLE = 2103
CONNECT_RETRY_S = (5.0, 300.0)
"""First and longest pause between attempts to reach IBM at start."""
AUTH_RETRY_S = 300.0


class IbmExecutor(Executor):
    """Runs jobs on the devices of one IBM Quantum instance."""

    resumes_runs: ClassVar[bool] = True
    upstream: ClassVar[str | None] = "ibm"

    def __init__(self, client: IbmClient, *, poll_ceiling: float = 30.0) -> None:
        self._client = client
        self._devices = IbmDevices(client)
        self._poller = IbmPoller(client, poll_ceiling, self._auth_failed)
        self._sender = Sender(client, self._auth_failed)
        self._problem: str | None = "connecting to IBM Quantum"
        self._key_refused = False
        self._changed: Changed | None = None
        self._sent: dict[str, str] = {}
        """Gateway job id → IBM job id, for jobs running at IBM."""
        self._sending: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> IbmExecutor:
        """An executor for the settings' API key and instance (which must be set)."""
        assert settings.ibm_token and settings.ibm_instance
        account = IbmAccount(
            token=settings.ibm_token, instance=settings.ibm_instance, api_url=settings.ibm_url
        )
        client = IbmClient(account, call_timeout=settings.ibm_call_timeout)
        return cls(client, poll_ceiling=settings.ibm_poll_ceiling)

    # -- the executor interface ----------------------------------------------------------

    async def start(self, changed: Changed) -> None:
        """Tries IBM once now; if it cannot be reached, keeps trying in the background."""
        self._changed = changed
        if not await self._connect():
            self._spawn(self._connect_until_done())

    def problem(self) -> str | None:
        return self._problem

    def backends(self) -> list[BackendInfo]:
        return list(self._devices.infos.values())

    def status(self, backend: str) -> BackendStatus | None:
        found = self._devices.status(backend)
        if self._problem is not None:
            return BackendStatus(False, f"unavailable: {self._problem}")
        return found

    def properties(self, backend: str, as_of: datetime | None = None) -> dict[str, Any] | None:
        # IBM keeps calibration history, but the gateway serves the current calibration.
        return self._devices.properties(backend)

    async def run(self, job: Job, circuits: list[QuantumCircuit], reporter: RunReporter) -> Result:
        follower = Follower(self._devices, job, reporter, self._reachable_again)
        ibm_id = job.provider_job_id or await self._send(job, circuits, reporter, follower)
        self._sent[job.id] = ibm_id
        final = await self._poller.until_final(ibm_id, follower.observe)
        self._sent.pop(job.id, None)
        if final.status != "DONE":
            raise failure(ibm_id, final)
        self._spawn(self._learn_times(job.backend, ibm_id))
        # Polls may miss a short RUNNING; a job that is done has run.
        await reporter.running()
        return await self._result(job, ibm_id, circuits)

    async def cancel(self, job: Job) -> None:
        ibm_id = self._sent.pop(job.id, None) or job.provider_job_id
        if ibm_id:
            self._spawn(self._cancel_at_ibm(ibm_id))
        elif job.id in self._sending:
            self._spawn(self._cancel_by_tag(job.id))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._poller.close()
        await self._client.close()

    # -- connecting ----------------------------------------------------------------------

    async def _connect(self) -> bool:
        try:
            await self._client.connect()
            await self._devices.load()
        except IbmAuthError as error:
            self._problem, self._key_refused = AUTH_PROBLEM, True
            log.error("IBM Quantum: %s (%s)", AUTH_PROBLEM, error)
            return False
        except IbmError as error:
            self._key_refused = False
            self._problem = f"IBM Quantum cannot be reached ({error}); the gateway keeps trying"
            log.warning("IBM Quantum: %s", self._problem)
            return False
        self._problem, self._key_refused = None, False
        log.info("IBM Quantum devices: %s", ", ".join(self._devices.infos) or "none")
        self._spawn(self._devices.follow())
        return True

    async def _connect_until_done(self) -> None:
        pause = CONNECT_RETRY_S[0]
        while True:
            await asyncio.sleep(AUTH_RETRY_S if self._key_refused else pause)
            pause = min(pause * 2, CONNECT_RETRY_S[1])
            if await self._connect():
                await self._notify()
                return

    def _auth_failed(self, error: IbmAuthError) -> None:
        if self._key_refused:
            return
        self._spawn(self._try_key_until_accepted())
        self._problem, self._key_refused = AUTH_PROBLEM, True
        log.error("IBM Quantum: %s (%s)", AUTH_PROBLEM, error)
        self._spawn(self._notify())

    async def _try_key_until_accepted(self) -> None:
        """Asks IBM again now and then, so a key IBM accepts again is noticed without a job."""
        probe = next(iter(self._devices.infos))  # only a gateway that listed devices gets here
        while self._key_refused:
            await asyncio.sleep(AUTH_RETRY_S)
            with contextlib.suppress(IbmError):
                await self._client.device_status(probe)
                self._reachable_again()

    def _reachable_again(self) -> None:
        if self._problem is not None and self._devices.infos:
            self._problem, self._key_refused = None, False
            log.info("IBM Quantum accepts the gateway's API key again")
            self._spawn(self._notify())

    async def _notify(self) -> None:
        if self._changed is not None:
            await self._changed()

    # -- sending -------------------------------------------------------------------------

    async def _send(
        self,
        job: Job,
        circuits: list[QuantumCircuit],
        reporter: RunReporter,
        follower: Follower,
    ) -> str:
        """Sends the job to IBM (unless IBM has it already) and records IBM's id."""
        tag = gateway_tag(job.id)
        shots = job.run_options.shots or self._devices.infos[job.backend].default_shots
        self._sending.add(job.id)
        try:
            ibm_id = await self._sender.find_or_send(job, circuits, shots, tag)
            # Before any await: a cancel from now on must find IBM's id.
            self._sent[job.id] = ibm_id
        finally:
            self._sending.discard(job.id)
        # It waits in IBM's queue now: no snapshot with IBM's id may show the gateway's queue.
        await follower.at_ibm()
        await reporter.sent(ibm_id)
        log.info("job %s is IBM job %s on %s", job.id, ibm_id, job.backend)
        return ibm_id

    # -- results and cancels -------------------------------------------------------------

    async def _result(self, job: Job, ibm_id: str, circuits: list[QuantumCircuit]) -> Result:
        """Fetches the result once (retrying while IBM cannot be reached) and converts it."""
        pause = 1.0
        while True:
            try:
                primitive = await self._client.result(ibm_id)
                break
            except IbmRejectedError as error:
                raise ExecutionError(
                    RESULT_UNREADABLE,
                    "IBM_RESULT_UNREADABLE",
                    f"IBM job {ibm_id} is done but IBM refuses its result: {error}",
                ) from None
            except IbmError as error:
                if isinstance(error, IbmAuthError):
                    self._auth_failed(error)
                log.warning("fetching IBM job %s's result failed: %s", ibm_id, error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60.0)
        return await asyncio.to_thread(
            sampler_to_result,
            primitive,
            circuits,
            backend_name=job.backend,
            backend_version=self._devices.infos[job.backend].version,
            job_id=job.id,
            memory=bool(job.run_options.memory),
        )

    async def _learn_times(self, backend: str, ibm_id: str) -> None:
        """Folds how long the job waited at IBM and ran into the device's estimates."""
        try:
            times = await self._client.times(ibm_id)
        except IbmError as error:
            log.info("IBM job %s's timestamps are not to be had: %s", ibm_id, error)
            return
        if times.created and times.running:
            self._devices.record_wait(backend, (times.running - times.created).total_seconds())
        if times.running and times.finished:
            self._devices.record_run(backend, (times.finished - times.running).total_seconds())

    async def _cancel_at_ibm(self, ibm_id: str) -> None:
        """Cancels the job at IBM, trying until IBM answers (a job left running costs quota)."""
        pause = 1.0
        while True:
            try:
                if not await self._client.cancel(ibm_id):
                    log.info("IBM job %s had already ended; nothing to cancel", ibm_id)
                return
            except IbmRejectedError as error:
                log.warning("IBM does not know job %s; nothing to cancel: %s", ibm_id, error)
                return
            except IbmError as error:
                log.warning(
                    "cancelling IBM job %s failed (next try in %.0f s): %s", ibm_id, pause, error
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60.0)

    async def _cancel_by_tag(self, job_id: str) -> None:
        """Cancels the IBM job of a gateway job cancelled while it was being sent."""
        tag = gateway_tag(job_id)
        ibm_id = await self._client.send_outcome(tag) or await self._sender.look_for(tag)
        if ibm_id is not None:
            await self._cancel_at_ibm(ibm_id)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_crash)


AUTH_PROBLEM = (
    "IBM Quantum refused the gateway's API key; the operator must set a valid key "
    "(IBMQ_GATEWAY_IBM_TOKEN or ibm_token_file); the gateway tries the key again every "
    "5 minutes"
)
"""The same words for every refusal, so that each failed call does not count as news."""


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("IBM executor task failed", exc_info=task.exception())
