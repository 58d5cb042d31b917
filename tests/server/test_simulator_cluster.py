"""A gateway whose local backends run on a real Dask cluster (``--simulator-cluster``)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.dask_cluster import ClusterProcesses, free_port, local_cluster
from tests.helpers import Stubs, connect, slow_job_circuit, submit, wait_final, watch

if TYPE_CHECKING:
    from pathlib import Path

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WAIT_S = 60.0


def health(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def backend(stubs: Stubs, name: str = "aer_simulator") -> backend_service_pb2.GetBackendResponse:
    request = backend_service_pb2.GetBackendRequest(name=name)
    response: backend_service_pb2.GetBackendResponse = stubs.backends.GetBackend(request)
    return response


def state(stubs: Stubs, job_id: str) -> str:
    job = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=10).job
    return job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


@pytest.fixture
def cluster_gateway(tmp_path: Path) -> Iterator[tuple[EmbeddedGateway, str]]:
    with local_cluster(workers=2) as address:
        settings = gateway_settings(tmp_path / "state", simulator_cluster=address, workers=1)
        with EmbeddedGateway(settings) as gateway:
            yield gateway, address


def test_jobs_run_on_the_cluster_whose_threads_set_each_backends_slots(
    cluster_gateway: tuple[EmbeddedGateway, str],
) -> None:
    gateway, _ = cluster_gateway
    stubs = connect(gateway.address)

    assert health(gateway.address, "simulator") == SERVING
    # Two worker threads on the cluster, whatever --workers and --concurrency say.
    assert backend(stubs).backend.concurrency == 2
    assert backend(stubs, "fake_manila").backend.concurrency == 2
    job = submit(stubs, "aer_simulator", run_options=job_pb2.RunOptions(shots=100)).job
    final = wait_final(stubs, job.id)
    assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"


def test_cancel_of_a_running_job_frees_its_slot_at_once_and_it_stays_cancelled(
    cluster_gateway: tuple[EmbeddedGateway, str],
) -> None:
    gateway, _ = cluster_gateway
    stubs = connect(gateway.address)
    options = job_pb2.RunOptions(shots=100)
    job = submit(stubs, "aer_simulator", *[slow_job_circuit()] * 4, run_options=options).job
    stream = watch(stubs, job.id, timeout=120)
    follow_until(stream, "RUNNING")

    stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id), timeout=10)

    assert backend(stubs).backend.status.pending_jobs == 0
    assert follow_until(stream, "CANCELLED")[-1] == "CANCELLED"
    # The next job runs on the freed workers; the cancelled one never turns DONE.
    after = submit(stubs, "aer_simulator", run_options=options).job
    assert job_pb2.JobState.Name(wait_final(stubs, after.id).state) == "JOB_STATE_COMPLETED"
    assert state(stubs, job.id) == "CANCELLED"


def test_a_gateway_without_the_option_never_imports_dask(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from ibmq_gateway.server.ops.app import Gateway\n"
        "from ibmq_gateway.server.core.settings import Settings\n"
        "async def main():\n"
        "    settings = Settings(address='127.0.0.1:0', state_dir=Path(sys.argv[1]),"
        " fake_devices=())\n"
        "    gateway = Gateway(settings)\n"
        "    await gateway.start()\n"
        "    await gateway.stop()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
        "    print(sorted({'dask', 'distributed'} & set(sys.modules)))\n"
    )
    outcome = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert outcome.stdout.strip().splitlines()[-1] == "[]"


def test_slots_follow_workers_joining_the_cluster(tmp_path: Path) -> None:
    with ClusterProcesses() as cluster:
        cluster.start_scheduler()
        cluster.start_workers(1)
        settings = gateway_settings(tmp_path / "state", simulator_cluster=cluster.address)
        with EmbeddedGateway(settings) as gateway:
            stubs = connect(gateway.address)
            until(lambda: backend(stubs).backend.concurrency == 1, "one worker counts")
            cluster.start_workers(1)
            until(lambda: backend(stubs).backend.concurrency == 2, "two workers count")


def test_an_unreachable_scheduler_keeps_jobs_queued_until_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    with ClusterProcesses(port) as cluster:
        settings = gateway_settings(tmp_path / "state", simulator_cluster=cluster.address)
        with EmbeddedGateway(settings) as gateway:
            stubs = connect(gateway.address)
            assert health(gateway.address, "simulator") == NOT_SERVING
            assert health(gateway.address, "") == SERVING
            status = backend(stubs).backend.status
            assert not status.operational
            assert (
                f"simulator cluster at tcp://127.0.0.1:{port} is unreachable" in status.status_msg
            )
            job = submit(stubs, "aer_simulator", run_options=job_pb2.RunOptions(shots=100)).job
            until(lambda: state(stubs, job.id) == "QUEUED", "the job is queued")

            cluster.start_scheduler()
            cluster.start_workers(2)

            final = wait_final(stubs, job.id)
            assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"
            assert health(gateway.address, "simulator") == SERVING


def test_a_scheduler_lost_mid_run_sends_the_job_back_to_the_queue(tmp_path: Path) -> None:
    with ClusterProcesses() as cluster:
        cluster.start_scheduler()
        cluster.start_workers(2)
        settings = gateway_settings(tmp_path / "state", simulator_cluster=cluster.address)
        with EmbeddedGateway(settings) as gateway:
            stubs = connect(gateway.address)
            until(lambda: backend(stubs).backend.concurrency == 2, "both workers count")
            job = submit(
                stubs,
                "aer_simulator",
                *[slow_job_circuit()] * 4,
                run_options=job_pb2.RunOptions(shots=200),
            ).job
            stream = watch(stubs, job.id, timeout=120)
            states = follow_until(stream, "RUNNING")

            cluster.kill_scheduler()
            states += follow_until(stream, "QUEUED")
            until(lambda: health(gateway.address, "simulator") == NOT_SERVING, "health says so")
            cluster.start_scheduler()
            cluster.start_workers(2)
            states += follow_until(stream, "COMPLETED")

            # Queue position updates repeat QUEUED; the moves between states are these.
            moves = [
                now for before, now in zip(["", *states], states, strict=False) if now != before
            ]
            assert moves[-4:] == ["RUNNING", "QUEUED", "RUNNING", "COMPLETED"]
            assert moves.count("RUNNING") == 2
            assert states.count("COMPLETED") == 1
            result = stubs.jobs.GetJobResult(
                job_service_pb2.GetJobResultRequest(job_id=job.id), timeout=30
            )
            assert [sum(e.counts.values()) for e in result.result.results] == [200] * 4


def follow_until(stream: Iterator[job_service_pb2.WatchJobResponse], target: str) -> list[str]:
    """The states the stream reports, through the first ``target``."""
    states = []
    for message in stream:
        if message.HasField("event"):
            states.append(job_pb2.JobState.Name(message.event.job.state).removeprefix("JOB_STATE_"))
            if states[-1] == target:
                return states
    raise AssertionError(f"the stream ended before {target}: {states}")
