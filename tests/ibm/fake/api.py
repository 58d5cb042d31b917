"""The Quantum API (``/api/v1``): backends, instance usage, jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.ibm.fake import sampler
from tests.ibm.fake.jobs import Job, new_job_id
from tests.ibm.fake.wire import (
    Request,
    Response,
    api_error,
    iso_utc,
    json_response,
    no_content,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.ibm.fake.accounts import Accounts
    from tests.ibm.fake.devices import Device
    from tests.ibm.fake.jobs import JobBoard, JobEnding

    Handler = Callable[[Request], Response]

MAX_TAGS, MAX_TAG_LENGTH = 8, 86  # the spec's limits on job tags
MAX_COST = 10800  # seconds; larger max_execution_time values are capped, as the spec says
USAGE_LIMIT_SECONDS = 600  # the Open plan's monthly allowance


class QuantumApi:
    """Route handlers; each checks the bearer token and the ``Service-CRN`` header first."""

    def __init__(
        self,
        accounts: Accounts,
        devices: dict[str, Device],
        board: JobBoard,
        timing: Callable[[], tuple[float, float]],  # (queue_seconds, run_seconds) for a new job
        take_ending: Callable[[], JobEnding | None],  # a forced outcome armed for the next job
    ) -> None:
        self.accounts = accounts
        self.devices = devices
        self.board = board
        self.timing = timing
        self.take_ending = take_ending

    def guarded(self, handler: Handler) -> Handler:
        def check_then_handle(request: Request) -> Response:
            if (denied := self.accounts.authenticate(request)) is not None:
                return denied
            if request.headers.get("service-crn") != self.accounts.instance_crn:
                return api_error(403, "The Service-CRN header names no instance of this account.")
            return handler(request)

        return check_then_handle

    # -- backends and instance ------------------------------------------------------------

    def list_backends(self, request: Request) -> Response:
        wait_times = "wait_time_seconds" in (request.arg("fields") or "")
        devices = [
            device.listing(self.board.queue_length(device.name), wait_times)
            for device in self.devices.values()
        ]
        return json_response({"devices": devices})

    def configuration(self, request: Request) -> Response:
        return self._with_device(request, lambda device: json_response(device.configuration))

    def properties(self, request: Request) -> Response:
        # One calibration snapshot per device: ``updated_before`` gets the same one.
        return self._with_device(request, lambda device: json_response(device.properties))

    def backend_status(self, request: Request) -> Response:
        return self._with_device(
            request,
            lambda device: json_response(device.status(self.board.queue_length(device.name))),
        )

    def usage(self, request: Request) -> Response:
        consumed = sum(job.quantum_seconds for job in self.board.all())
        now = datetime.now(UTC)
        return json_response(
            {
                "instance_id": self.accounts.instance_crn,
                "plan_id": self.accounts.plan_id,
                "usage_period": {
                    "start_time": iso_utc(now.replace(day=1, hour=0, minute=0, second=0)),
                    "end_time": iso_utc(now),
                },
                "usage_consumed_seconds": consumed,
                "usage_limit_seconds": USAGE_LIMIT_SECONDS,
                "usage_allocation_seconds": USAGE_LIMIT_SECONDS,
                "usage_limit_reached": consumed >= USAGE_LIMIT_SECONDS,
            }
        )

    # -- jobs -----------------------------------------------------------------------------

    def create_job(self, request: Request) -> Response:
        body = request.json() or {}
        program_id = body.get("program_id")
        if program_id != "sampler":
            return api_error(400, f"Program {program_id!r} is not supported by the fake.")
        device = self.devices.get(body.get("backend") or "")
        if device is None:
            return api_error(404, f"Backend {body.get('backend')!r} not found.")
        tags = body.get("tags") or []
        if (problem := _tag_problem(tags)) is not None:
            return api_error(400, problem)
        try:
            work = sampler.parse(body.get("params"), device)
        except sampler.InvalidParams as error:
            return api_error(400, str(error))
        job = Job(
            id=new_job_id(),
            device=device,
            program_id=program_id,
            raw_params=body.get("params"),
            work=work,
            tags=list(tags),
            cost=min(int(body.get("cost") or MAX_COST), MAX_COST),
            private=bool(body.get("private")),
            session_id=body.get("session_id"),
            user_id=self.accounts.user_id,
            ending=self.take_ending(),
        )
        self.board.submit(job, *self.timing())
        created: dict[str, Any] = {"id": job.id, "backend": device.name}
        if job.private:
            created["private"] = True
        return json_response(created)

    def list_jobs(self, request: Request) -> Response:
        jobs = [job for job in self.board.all() if _matches(job, request)]
        jobs.sort(key=lambda job: job.created, reverse=request.arg("sort") != "ASC")
        limit = _bounded(request.arg("limit"), default=200, low=1, high=200)
        offset = _bounded(request.arg("offset"), default=0, low=0, high=2**31 - 1)
        include_params = request.arg("exclude_params") == "false"
        with self.board.lock:
            page = [job.view(include_params) for job in jobs[offset : offset + limit]]
        return json_response({"jobs": page, "count": len(jobs), "offset": offset, "limit": limit})

    def get_job(self, request: Request) -> Response:
        include_params = request.arg("exclude_params") != "true"
        return self._with_job(request, lambda job: json_response(job.view(include_params)))

    def delete_job(self, request: Request) -> Response:
        def delete(job: Job) -> Response:
            if not job.final:
                return api_error(400, "Only jobs in a final state can be deleted.")
            self.board.delete(job.id)
            return no_content()

        return self._with_job(request, delete)

    def results(self, request: Request) -> Response:
        def read(job: Job) -> Response:
            if job.result is None:
                return no_content()  # not (or no longer) available: the spec's 204
            text = job.result
            if job.private:
                job.result = None  # private results can be read exactly once
            return Response(200, text.encode())

        return self._with_job(request, read)

    def cancel(self, request: Request) -> Response:
        def cancel(job: Job) -> Response:
            if self.board.cancel(job):
                return no_content()
            return api_error(409, f"Job {job.id} is {job.status} and cannot be cancelled.")

        return self._with_job(request, cancel)

    def replace_tags(self, request: Request) -> Response:
        def replace(job: Job) -> Response:
            tags = (request.json() or {}).get("tags")
            if not isinstance(tags, list):
                return api_error(400, 'The body must be {"tags": [...]}.')
            if (problem := _tag_problem(tags)) is not None:
                return api_error(400, problem)
            job.tags = list(tags)
            return no_content()

        return self._with_job(request, replace)

    def metrics(self, request: Request) -> Response:
        caller = request.headers.get("x-qx-client-application", "")
        return self._with_job(request, lambda job: json_response(job.metrics(caller)))

    def logs(self, request: Request) -> Response:
        return self._with_job(
            request,
            lambda job: Response(200, job.logs().encode(), content_type="text/plain"),
        )

    # -- helpers --------------------------------------------------------------------------

    def _with_device(self, request: Request, then: Callable[[Device], Response]) -> Response:
        device = self.devices.get(request.params["name"])
        if device is None:
            return api_error(404, f"Backend {request.params['name']!r} not found.")
        return then(device)

    def _with_job(self, request: Request, then: Callable[[Job], Response]) -> Response:
        job = self.board.get(request.params["id"])
        if job is None:
            return api_error(404, f"Job {request.params['id']} not found.")
        with self.board.lock:
            return then(job)


def _tag_problem(tags: list[Any]) -> str | None:
    if len(tags) > MAX_TAGS:
        return f"A job can have at most {MAX_TAGS} tags."
    if any(not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH for tag in tags):
        return f"Tags must be strings of at most {MAX_TAG_LENGTH} characters."
    return None


def _bounded(value: str | None, default: int, low: int, high: int) -> int:
    """The spec's rule: a value outside the range silently becomes the default."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if low <= number <= high else default


def _matches(job: Job, request: Request) -> bool:
    """The list filters; ``tags`` repeats and a job must carry all of them."""
    if (backend := request.arg("backend")) and job.device.name != backend:
        return False
    if (program := request.arg("program")) and job.program_id != program:
        return False
    if (session := request.arg("session_id")) and job.session_id != session:
        return False
    if (pending := request.arg("pending")) is not None and job.final == (pending == "true"):
        return False
    if not set(request.query.get("tags", [])) <= set(job.tags):
        return False
    if (after := request.arg("created_after")) and job.created < _parse_time(after):
        return False
    return not ((before := request.arg("created_before")) and job.created > _parse_time(before))


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
