"""The Prometheus endpoint: what a scrape says after a few jobs, streams and bad requests."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import connect, slow_job_circuit, states_until_final, submit, watch

JOBS = "ibmq_gateway.v1.JobService"
BAD_CIRCUIT = job_pb2.Circuit(qasm3="OPENQASM 3.0; qubit[1] q; not_a_gate q[0];")


class Samples:
    """One scrape, parsed: the value of each sample by its name and labels."""

    def __init__(self, text: str) -> None:
        self._values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def get(self, name: str, **labels: str) -> float | None:
        """The sample's value, or None if the scrape has no such sample."""
        return self._values.get((f"ibmq_gateway_{name}", frozenset(labels.items())))

    def requests(self, method: str, code: str) -> float | None:
        return self.get("rpc_requests_total", service=JOBS, method=method, code=code)

    def jobs(self, backend: str, state: str) -> float | None:
        return self.get("jobs", backend=backend, state=state)

    def finished(self, backend: str, state: str) -> float | None:
        return self.get("jobs_finished_total", backend=backend, state=state)


def scrape(port: int | None) -> Samples:
    """GET /metrics of the gateway whose metrics endpoint is on ``port``."""
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return Samples(response.read().decode())


def scrape_until(port: int | None, check: Callable[[Samples], bool]) -> Samples:
    """Scrapes until ``check`` holds (for what the server does after answering)."""
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(port)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


@pytest.fixture
def gateway(tmp_path):
    """The test gateway of this module serves metrics on a free port."""
    with EmbeddedGateway(gateway_settings(tmp_path / "state", metrics_port=0)) as running:
        yield running


@pytest.fixture
def port(gateway: EmbeddedGateway) -> int | None:
    """The port of the gateway's metrics endpoint."""
    assert gateway.gateway is not None
    return gateway.gateway.metrics_port


def test_rpcs_are_counted_by_method_and_status_code(stubs, port):
    first = submit(stubs).job
    assert states_until_final(stubs, first.id)[-1] == "COMPLETED"  # a whole WatchJob
    submit(stubs)
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs, "aer_simulator", BAD_CIRCUIT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError):
        stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id="no-such-job"))

    # An abort reaches the client before the server's interceptor counts it.
    samples = scrape_until(
        port,
        lambda s: (
            None
            not in (s.requests("SubmitJob", "INVALID_ARGUMENT"), s.requests("GetJob", "NOT_FOUND"))
        ),
    )
    assert samples.requests("SubmitJob", "OK") == 2
    assert samples.requests("SubmitJob", "INVALID_ARGUMENT") == 1
    assert samples.requests("GetJob", "NOT_FOUND") == 1
    assert samples.requests("WatchJob", "OK") == 1


def test_unary_calls_are_timed_whole_and_streams_to_their_first_message(stubs, port):
    job = submit(stubs).job
    states_until_final(stubs, job.id)
    with pytest.raises(grpc.RpcError):
        submit(stubs, "aer_simulator", BAD_CIRCUIT)

    submits = {"service": JOBS, "method": "SubmitJob"}
    samples = scrape_until(port, lambda s: s.get("rpc_duration_seconds_count", **submits) == 2)
    assert samples.get("rpc_duration_seconds_count", **submits) == 2
    assert samples.get("rpc_duration_seconds_bucket", **submits, le="+Inf") == 2
    assert (samples.get("rpc_duration_seconds_sum", **submits) or 0) > 0
    watches = {"service": JOBS, "method": "WatchJob"}
    assert samples.get("stream_first_message_seconds_count", **watches) == 1
    assert samples.get("rpc_duration_seconds_count", **watches) is None


def test_jobs_are_counted_by_backend_and_state(stubs, port):
    done = submit(stubs).job
    states_until_final(stubs, done.id)
    blocker = submit(stubs, "aer_simulator", slow_job_circuit()).job
    waiting = submit(stubs).job
    samples = scrape_until(port, lambda s: s.jobs("aer_simulator", "RUNNING") == 1)
    samples = scrape_until(port, lambda s: s.jobs("aer_simulator", "QUEUED") == 1)
    assert samples.jobs("aer_simulator", "RUNNING") == 1
    assert samples.get("backend_pending_jobs", backend="aer_simulator") == 2
    assert (samples.get("backend_estimated_wait_seconds", backend="aer_simulator") or 0) > 0
    assert samples.jobs("fake_manila", "QUEUED") == 0
    assert samples.get("backend_pending_jobs", backend="fake_manila") == 0

    for job in (waiting, blocker):
        stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id))
    samples = scrape_until(
        port, lambda s: s.get("backend_pending_jobs", backend="aer_simulator") == 0
    )
    assert samples.finished("aer_simulator", "COMPLETED") == 1
    assert samples.finished("aer_simulator", "CANCELLED") == 2
    assert samples.finished("fake_manila", "COMPLETED") == 0
    for state in ("CREATING", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING"):
        assert samples.jobs("aer_simulator", state) == 0


def test_open_streams_count_the_watches_that_are_open(stubs, port):
    assert scrape(port).get("open_streams") == 0
    blocker = submit(stubs, "aer_simulator", slow_job_circuit()).job
    stream = watch(stubs, blocker.id)
    next(stream)  # the server has subscribed before it sends anything

    samples = scrape(port)
    assert samples.get("open_streams") == 1
    assert samples.get("stream_first_message_seconds_count", service=JOBS, method="WatchJob") == 1

    stream.cancel()
    # The stream's end is counted a moment after the feed lets go of it.
    samples = scrape_until(
        port,
        lambda s: s.get("open_streams") == 0 and s.requests("WatchJob", "CANCELLED") == 1,
    )
    assert samples.get("open_streams") == 0
    assert samples.requests("WatchJob", "CANCELLED") == 1
    stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=blocker.id))


def test_each_gateway_has_its_own_registry_and_stops_its_endpoint(tmp_path):
    with (
        EmbeddedGateway(gateway_settings(tmp_path / "a", metrics_port=0)) as first,
        EmbeddedGateway(gateway_settings(tmp_path / "b", metrics_port=0)) as second,
    ):
        stubs = connect(first.address)
        submit(stubs)
        stubs.close()
        assert first.gateway is not None and second.gateway is not None
        assert scrape(first.gateway.metrics_port).requests("SubmitJob", "OK") == 1
        assert scrape(second.gateway.metrics_port).requests("SubmitJob", "OK") is None
        stopped = first.gateway.metrics_port
    with pytest.raises(urllib.error.URLError):
        scrape(stopped)


def test_no_endpoint_unless_a_port_is_set(tmp_path):
    with EmbeddedGateway(gateway_settings(tmp_path / "state")) as running:
        assert running.gateway is not None
        assert running.gateway.metrics_port is None


def test_metrics_settings_come_from_the_environment():
    settings = Settings.load(
        environ={"IBMQ_GATEWAY_METRICS_PORT": "9464", "IBMQ_GATEWAY_METRICS_ADDRESS": "0.0.0.0"}
    )
    assert settings.metrics_port == 9464
    assert settings.metrics_address == "0.0.0.0"
    assert Settings.load(environ={}).metrics_port is None
