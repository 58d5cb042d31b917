"""``FakeIBM``: one loopback HTTP server playing IAM, Global Search, Global Catalog and the
Quantum API, with a request log and fault hooks.

The four IBM hosts become four path prefixes of one server; the environment variables and
constructor arguments in ``environ()`` and ``service_kwargs()`` point the client at them.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.ibm.fake.accounts import Accounts
from tests.ibm.fake.api import QuantumApi
from tests.ibm.fake.devices import Device
from tests.ibm.fake.faults import Faults
from tests.ibm.fake.jobs import RAN_TOO_LONG, Job, JobBoard, JobEnding
from tests.ibm.fake.wire import Request, Response, api_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

# Where each IBM host lives on the fake.
IAM_ROOT = "/iam"
SEARCH_ROOT = "/global-search"
CATALOG_ROOT = "/global-catalog/api/v1"
API_ROOT = "/api/v1"

DEFAULT_CRN = (
    "crn:v1:bluemix:public:quantum-computing:us-east:a/fakeaccount0001:"
    "00000000-fake-4bad-8ibm-000000000001::"
)


@dataclass(frozen=True)
class Route:
    method: str
    root: str
    template: str  # IBM's path template, relative to the root, e.g. "/jobs/{id}"
    handler: Callable[[Request], Response]
    label: str | None = None

    @property
    def name(self) -> str:
        """How tests name the route in fault hooks and the request log: ``"GET /jobs/{id}"``."""
        return self.label or f"{self.method} {self.template}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        found = re.fullmatch(re.escape(self.root) + pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    route: str | None  # the route's name; None if nothing matched
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int  # 0 when the connection was dropped on purpose
    seconds: float
    at: float  # time.monotonic() when the request arrived


class FakeIBM:
    """IBM Quantum Platform on 127.0.0.1, with real fake devices and real simulations.

    Args:
        devices: API name → fake backend; by default ``ibm_fake_manila`` (FakeManilaV2).
        api_key: The one API key IAM accepts.
        instance_crn: The account's one Quantum instance (region and cname are read from it).
        queue_seconds: How long each new job stays Queued (at least).
        run_seconds: How long each job stays Running (at least; the simulation runs inside).
    """

    def __init__(
        self,
        devices: Mapping[str, FakeBackendV2] | None = None,
        *,
        api_key: str = "fake-ibm-api-key",
        instance_crn: str = DEFAULT_CRN,
        queue_seconds: float = 0.2,
        run_seconds: float = 0.2,
    ) -> None:
        if devices is None:
            from qiskit_ibm_runtime.fake_provider import FakeManilaV2

            devices = {"ibm_fake_manila": FakeManilaV2()}
        self.devices = {name: Device.from_fake(name, fake) for name, fake in devices.items()}
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.accounts = Accounts(api_key=api_key, instance_crn=instance_crn)
        self.board = JobBoard()
        self.routes = self._routes()
        self.faults = Faults(routes={route.name for route in self.routes})
        self._log: list[RecordedRequest] = []
        self._log_lock = threading.Lock()
        self._arrivals: Counter[str | None] = Counter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeIBM:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-ibm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release held (delayed) requests, and wake and join every job thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.board.stop()

    def __enter__(self) -> FakeIBM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- how to point qiskit-ibm-runtime here ---------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + API_ROOT

    @property
    def api_key(self) -> str:
        return self.accounts.api_key

    @property
    def instance_crn(self) -> str:
        return self.accounts.instance_crn

    def environ(self) -> dict[str, str]:
        """Variables that move IAM, Global Search and Global Catalog here.

        ``IAM_URL`` is read by the client itself for both of its token managers; the other
        two by the IBM Cloud SDK's ``configure_service("global_search" | "global_catalog")``.
        """
        return {
            "IAM_URL": self.url + IAM_ROOT,
            "GLOBAL_SEARCH_URL": self.url + SEARCH_ROOT,
            "GLOBAL_CATALOG_URL": self.url + CATALOG_ROOT,
        }

    def service_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Arguments for ``QiskitRuntimeService`` (with ``environ()`` set) to use this fake."""
        api_url = self.api_url
        return {
            "channel": "ibm_quantum_platform",
            "token": self.api_key,
            "instance": self.instance_crn,
            "url": self.url,
            # The default resolver would build https://quantum.<host>/api/v1 from ``url``.
            "url_resolver": lambda *_: api_url,
            **overrides,
        }

    # -- what happened --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._log)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.route == route]

    def count(self, route: str) -> int:
        """Calls to ``route`` answered (a held call counts once its answer goes)."""
        return len(self.requests_to(route))

    def arrived(self, route: str) -> int:
        """Calls to ``route`` received, answered or still held."""
        with self._log_lock:
            return self._arrivals[route]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def job(self, job_id: str) -> Job:
        job = self.board.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    # -- fault hooks ----------------------------------------------------------------------

    def fail_next(
        self, route: str, times: int = 1, status: int = 503, message: str = "Injected failure"
    ) -> None:
        """Answer the next ``times`` calls to ``route`` with ``status`` and IBM's error body."""
        self.faults.fail(route, _positive(times), status, message)

    def rate_limit(self, route: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls with 429 and ``Retry-After: retry_after`` (seconds)."""
        self.faults.rate_limit(route, _positive(times), retry_after)

    def drop_next(self, route: str, times: int = 1) -> None:
        """Close the connection without any answer on the next ``times`` calls."""
        self.faults.drop(route, _positive(times))

    def lose_answer_next(self, route: str, times: int = 1) -> None:
        """Handle the next ``times`` calls (a job is created), then close without answering."""
        self.faults.lose_answer(route, _positive(times))

    def delay(self, route: str, seconds: float, times: int | None = None) -> None:
        """Hold calls to ``route`` for ``seconds`` before answering (all calls if times is None).

        A delay longer than a caller's timeout is a timeout; ``stop()`` releases held calls.
        """
        self.faults.delay(route, seconds, None if times is None else _positive(times))

    def next_jobs_run_too_long(self, count: int = 1) -> None:
        """The next ``count`` submitted jobs end Cancelled with reason code 1305."""
        self.faults.end_jobs(RAN_TOO_LONG, _positive(count))

    def next_jobs_fail(
        self, count: int = 1, reason: str = "Injected failure", reason_code: int | None = None
    ) -> None:
        """The next ``count`` submitted jobs end Failed with this reason."""
        self.faults.end_jobs(JobEnding("Failed", reason, reason_code), _positive(count))

    def reject_api_key(self, key: str | None = None, status: int = 401) -> None:
        """IAM refuses the key (with ``status``) and the API refuses tokens issued for it."""
        self.accounts.iam_reject_status = status
        self.accounts.rejected_keys.add(key or self.api_key)

    def accept_api_key(self, key: str | None = None) -> None:
        self.accounts.rejected_keys.discard(key or self.api_key)

    def set_backend_status(self, name: str, online: bool, message: str = "") -> None:
        """Take a device offline (its jobs wait, Queued) or bring it back."""
        device = self.devices[name]
        device.online = online
        device.status_message = "active" if online else (message or "maintenance")

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- serving --------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        started = time.monotonic()
        route, params = self._match(request)
        with self._log_lock:
            self._arrivals[route.name if route else None] += 1
        delay, injected = self.faults.take(route.name if route else None)
        if delay:
            self._stopping.wait(delay)
        if injected is not None:
            response = injected
        elif route is None:
            response = api_error(404, f"No route for {request.method} {request.path}.")
        else:
            try:
                response = route.handler(replace(request, params=params))
            except Exception:  # a bug in the fake: say so loudly, as a 500
                response = api_error(500, "Fake IBM crashed:\n" + traceback.format_exc())
            if self.faults.answer_lost(route.name):
                response = Response(0, drop=True)
        self._record(request, route, response, started)
        return response

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if (params := route.match(request.method, request.path)) is not None:
                return route, params
        return None, {}

    def _record(
        self, request: Request, route: Route | None, response: Response, started: float
    ) -> None:
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            route=route.name if route else None,
            query=request.query,
            headers=request.headers,
            status=0 if response.drop else response.status,
            seconds=time.monotonic() - started,
            at=started,
        )
        with self._log_lock:
            self._log.append(entry)

    def _routes(self) -> list[Route]:
        api = QuantumApi(
            self.accounts,
            self.devices,
            self.board,
            timing=lambda: (self.queue_seconds, self.run_seconds),
            # Late-bound: the fault table is built from these routes' names.
            take_ending=lambda: self.faults.take_job_ending(),
        )
        guard = api.guarded
        table: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/backends", api.list_backends),
            ("GET", "/backends/{name}/configuration", api.configuration),
            ("GET", "/backends/{name}/properties", api.properties),
            ("GET", "/backends/{name}/status", api.backend_status),
            ("GET", "/instances/usage", api.usage),
            ("POST", "/jobs", api.create_job),
            ("GET", "/jobs", api.list_jobs),
            ("GET", "/jobs/{id}", api.get_job),
            ("DELETE", "/jobs/{id}", api.delete_job),
            ("GET", "/jobs/{id}/results", api.results),
            ("POST", "/jobs/{id}/cancel", api.cancel),
            ("PUT", "/jobs/{id}/tags", api.replace_tags),
            ("GET", "/jobs/{id}/metrics", api.metrics),
            ("GET", "/jobs/{id}/logs", api.logs),
        ]
        return [
            Route("POST", IAM_ROOT, "/identity/token", self.accounts.issue_token),
            Route("POST", SEARCH_ROOT, "/v3/resources/search", self.accounts.search),
            Route("GET", CATALOG_ROOT, "/{id}", self.accounts.catalog_entry, "GET /catalog/{id}"),
            *(Route(method, API_ROOT, path, guard(handler)) for method, path, handler in table),
        ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request held by a delay never blocks shutdown
    fake: FakeIBM


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    # HTTP/1.0: one request per connection, so a dropped answer never poisons a reused one.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.fake.dispatch(request)
        if response.drop:
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up (a timeout test); nobody is left to answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log on the fake is the record."""


def _positive(count: int) -> int:
    if count < 1:
        raise ValueError("a fault must apply at least once")
    return count
