"""Jobs accepted per second and submit-to-result time: SQLite, PostgreSQL with one replica
and with three, in one run; and how long a state change takes to reach a watcher on the
replica that committed it against one on another replica.

Each configuration runs real ``ibmq-gateway serve`` processes on loopback (the PostgreSQL
ones on a database of their own on the machine's server, dropped afterwards):

* accepted: ``--jobs`` small Bell jobs (QPY, durable: SubmitJob answers after the commit),
  ``--in-flight`` calls at once over one round-robin channel to every replica; beside it
  its raw ceiling (see ceiling.py): as many unary calls to a bare grpc.aio server, through
  the same client loop, channel options and credentials, with the SubmitJob request's and
  reply's byte sizes as this configuration's calls measured them. The raw server has a
  process of its own, as ``serve`` has, started once per run; each configuration drives it
  once its own jobs are final, so the gateways idle meanwhile and the ratio compares the
  two servers on the same machine at about the same time; and the CPU time the replicas'
  processes (not their simulators) used per job, while accepting and until all were final;
* submit to result: ``--runs`` Bell jobs one after another (submit, follow the stream from
  the submit's token to the final event, fetch the result), on a replica that does not
  lead when there is one, so the job crosses replicas;
* state change to watcher: for each of those jobs a watcher on every replica; the delay
  from the event's commit (its ``event_time``, same machine, same clock) to its receipt,
  split by whether the watcher is on the leading replica (which commits the job's state
  changes) or on another.

    .venv/bin/python bench/replicas.py [--jobs 1000] [--in-flight 64] [--runs 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import psycopg
from ceiling import beside_text, receive
from qiskit import QuantumCircuit, qpy
from raw_server import UNARY, CallShape, unary_server_process
from shared import BENCH_TOKEN, cpu_seconds, loopback_credentials, positive

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

# The tests' process launcher and throwaway databases, from the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres import fresh_database
from tests.processes import Served, free_port

BACKEND = "aer_simulator"
RUNNING, COMPLETED = job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_COMPLETED
Request = TypeVar("Request")
Reply = TypeVar("Reply")


def bell_qpy() -> bytes:
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


BELL = job_pb2.Circuit(qpy=bell_qpy())


@dataclass
class Gateways:
    """The ``serve`` processes of one configuration; the first to start leads."""

    name: str
    served: list[Served] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        return [served.address for served in self.served]

    def cpu_seconds(self) -> float:
        """The CPU time every replica's process has used so far (not its simulators)."""
        return sum(cpu_seconds(served.process.pid) for served in self.served)

    def stub(self, addresses: list[str]) -> job_service_pb2_grpc.JobServiceStub:
        return job_service_pb2_grpc.JobServiceStub(round_robin_channel(addresses))


def round_robin_channel(addresses: list[str]) -> grpc.Channel:
    """The benches' credentials, calls spread over every address."""
    target = "ipv4:" + ",".join(addresses)
    options = [("grpc.lb_policy_name", "round_robin")]
    return grpc.secure_channel(target, loopback_credentials(), options=options)


@contextlib.contextmanager
def started(name: str, replicas: int, database: str | None, root: Path) -> Iterator[Gateways]:
    gateways = Gateways(name)
    env = {"IBMQ_GATEWAY_BOOTSTRAP_TOKEN": BENCH_TOKEN, "IBMQ_GATEWAY_FAKE_DEVICES": ""}
    if database:
        env["IBMQ_GATEWAY_DATABASE"] = database
    try:
        for index in range(replicas):  # one after another, so the first leads
            state = root / f"{name.replace(' ', '-')}-{index}"
            gateways.served.append(Served(state, free_port(), env=env))
        yield gateways
    finally:
        for served in gateways.served:
            served.kill()


def submit_request() -> job_service_pb2.SubmitJobRequest:
    return job_service_pb2.SubmitJobRequest(
        backend=BACKEND, circuits=[BELL], run_options=job_pb2.RunOptions(shots=1024)
    )


def calls_per_second(
    method: grpc.UnaryUnaryMultiCallable[Request, Reply],
    request: Request,
    calls: int,
    in_flight: int,
) -> tuple[float, Reply]:
    """Calls/s from the first call to the last answer, ``in_flight`` at a time, after one call
    that brings the connections up; returns it and the last answer. The gateway and its raw
    ceiling both go through this loop, so that only the server differs."""
    method(request, timeout=30, wait_for_ready=True)  # connections up
    slots = threading.Semaphore(in_flight)
    futures = []
    start = time.perf_counter()
    for _ in range(calls):
        slots.acquire()
        future = method.future(request, timeout=60)
        future.add_done_callback(lambda _: slots.release())
        futures.append(future)
    last = [future.result() for future in futures][-1]
    return calls / (time.perf_counter() - start), last


def accepted_per_second(
    gateways: Gateways, jobs: int, in_flight: int
) -> tuple[float, job_service_pb2.SubmitJobResponse]:
    """Jobs/s over every replica; returns it and the last answer."""
    stub = gateways.stub(gateways.addresses)
    return calls_per_second(stub.SubmitJob, submit_request(), jobs, in_flight)


@contextlib.contextmanager
def raw_unary_server() -> Iterator[str]:
    """The raw server in a process of its own, as ``serve`` is; yields its address."""
    context = multiprocessing.get_context("spawn")  # no fork: gRPC's threads would not survive
    pipe, server_end = context.Pipe()
    process = context.Process(target=unary_server_process, args=(server_end,), daemon=True)
    process.start()
    try:
        yield receive(pipe, "listening")["address"]
    finally:
        with contextlib.suppress(OSError):  # it may have died already; join tells
            pipe.send(("stop",))
        process.join(30)
        if process.is_alive():
            process.kill()


def raw_per_second(address: str, shape: CallShape, calls: int, in_flight: int) -> float:
    """The throughput ceiling: the raw server's unary call with ``shape``'s sizes."""
    with round_robin_channel([address]) as channel:
        # No serializers: the request and reply are the bytes on the wire.
        unary = channel.unary_unary(UNARY, request_serializer=None, response_deserializer=None)
        rate, _ = calls_per_second(unary, shape.encode(), calls, in_flight)
    return rate


def wait_final(stub: job_service_pb2_grpc.JobServiceStub, job_id: str) -> None:
    request = job_service_pb2.WatchJobRequest(job_id=job_id)
    for message in stub.WatchJob(request, timeout=600):
        if message.HasField("event") and message.event.job.final:
            return
    raise RuntimeError(f"the stream of {job_id} ended before its final event")


@dataclass
class Delays:
    """Commit-to-receipt delays of state changes, in seconds, by where the watcher was."""

    leading: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)


def watch_states(
    stub: job_service_pb2_grpc.JobServiceStub, job_id: str, token: str, into: list[float]
) -> None:
    request = job_service_pb2.WatchJobRequest(job_id=job_id, resume_token=token)
    for message in stub.WatchJob(request, timeout=60):
        received = time.time_ns()
        event = message.event
        if message.HasField("event") and event.job.state in (RUNNING, COMPLETED):
            into.append((received - event.event_time.ToNanoseconds()) / 1e9)


def submit_to_result(gateways: Gateways, runs: int) -> tuple[list[float], Delays]:
    """Sequential Bell jobs submitted on the last replica, watched on every one."""
    stubs = [gateways.stub([address]) for address in gateways.addresses]
    delays = Delays()
    totals = []
    with ThreadPoolExecutor(len(stubs)) as watchers:
        for _ in range(runs):
            start = time.perf_counter()
            submitted = stubs[-1].SubmitJob(submit_request(), timeout=30)
            job_id, token = submitted.job.id, submitted.resume_token
            watched = [
                watchers.submit(
                    watch_states, stub, job_id, token, delays.leading if i == 0 else delays.other
                )
                for i, stub in enumerate(stubs)
            ]
            watched[-1].result()  # the submitting replica's stream: the client's own view
            stubs[-1].GetJobResult(job_service_pb2.GetJobResultRequest(job_id=job_id), timeout=30)
            totals.append(time.perf_counter() - start)
            for future in watched:
                future.result()
    return totals, delays


def quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {statistics.median(values) * 1000:6.1f} p99 {cuts[98] * 1000:6.1f} ms"


def measure(gateways: Gateways, arguments: argparse.Namespace, raw_address: str) -> None:
    jobs, in_flight = arguments.jobs, arguments.in_flight
    cpu_before = gateways.cpu_seconds()
    rate, last = accepted_per_second(gateways, jobs, in_flight)
    cpu_accepting = gateways.cpu_seconds() - cpu_before
    draining = time.perf_counter()
    wait_final(gateways.stub(gateways.addresses[:1]), last.job.id)
    drained = time.perf_counter() - draining
    cpu_to_final = gateways.cpu_seconds() - cpu_before
    # After the drain, so the gateways idle while the raw server runs.
    shape = CallShape(submit_request().ByteSize(), (last.ByteSize(),))
    raw = raw_per_second(raw_address, shape, jobs, in_flight)
    totals, delays = submit_to_result(gateways, arguments.runs)
    where = "a replica that does not lead" if len(gateways.served) > 1 else "the gateway"
    print(f"\n{gateways.name}:")
    accepted = f"  accepted: {rate:7,.0f} jobs/s ({jobs} jobs, {in_flight} in flight)"
    print(beside_text(accepted, rate, f"raw unary {shape}: {raw:,.0f} calls/s", raw))
    print(f"  the last of them final {drained:.1f} s after the last was accepted")
    print(
        f"  gateway CPU per job: {cpu_accepting / jobs * 1000:.2f} ms while accepting, "
        f"{cpu_to_final / jobs * 1000:.2f} ms until the last was final"
    )
    print(f"  submit to result, submitted on {where}: {quantiles(totals)}")
    print(f"  state change to watcher on the leading replica:  {quantiles(delays.leading)}")
    if delays.other:
        print(f"  state change to watcher on another replica:      {quantiles(delays.other)}")


def main() -> None:
    arguments = parse()
    print(f"{arguments.jobs} Bell jobs accepted, then {arguments.runs} submitted one by one")
    with tempfile.TemporaryDirectory() as root, raw_unary_server() as raw_address:
        with started("SQLite", 1, None, Path(root)) as gateways:
            measure(gateways, arguments, raw_address)
        for replicas in (1, 3):
            with fresh_database() as database:
                print_durability(database)
                name = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
                with started(name, replicas, database, Path(root)) as gateways:
                    measure(gateways, arguments, raw_address)


def print_durability(database: str) -> None:
    """Prints the server's durability settings: the PostgreSQL figures depend on them."""
    with psycopg.connect(database, autocommit=True) as db:
        settings = [
            (name, db.execute(f"SHOW {name}").fetchone())
            for name in ("synchronous_commit", "fsync")
        ]
    print("PostgreSQL: " + ", ".join(f"{name}={row[0] if row else '?'}" for name, row in settings))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=positive, default=1000)
    parser.add_argument("--in-flight", type=positive, default=64)
    parser.add_argument("--runs", type=positive, default=50)
    return parser.parse_args()


if __name__ == "__main__":
    main()
