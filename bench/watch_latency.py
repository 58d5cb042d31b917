"""Delay from a job's change on the server to its receipt by WatchJob clients, 1,000 at once.

The gateway runs in this process (concurrency 1). A separate watcher process opens the
WatchJob streams with grpc.aio, so that client work does not compete for the gateway's GIL.

Scenario: short "blocker" jobs hold the single slot while J Bell jobs wait QUEUED; the watcher
process opens W streams, spread evenly over the J jobs, each from its job's SubmitJob
resume_token. Once every stream has received its first message the queued blockers are
cancelled (each cancel moves every Bell job up the queue: a burst of QUEUE_INFO_CHANGED
events) and the Bell jobs run one after another. Every event is timed on receipt as
time.time() minus its event_time: both processes read the same machine clock, and event_time
is stamped inside the store's write transaction, so the delay includes the durable commit.
Events stamped before every stream was open are left out: some streams got them by replay.

Then the raw ceiling (bench/ceiling.py): a bare grpc.aio server in a process of its own,
the same number of streams from another process over the same channels, one message of
the gateway events' mean size fanned out to all of them per round. Each gateway latency and
the gateway's memory per stream are printed beside the raw figure as a ratio.

    .venv/bin/python bench/watch_latency.py [--watchers 1000] [--jobs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from ceiling import FanoutRun, fanout_lines, fanout_ratio_lines, measure_fanout
from google.protobuf import duration_pb2
from qiskit import QuantumCircuit
from rpc_probe import Probe
from shared import (
    BELL_QASM3,
    embedded_gateway,
    loopback_credentials,
    positive,
    rss_kib,
    separate_channel,
)

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from ibmq_gateway.server.ops.app import Gateway

BACKEND = "aer_simulator"
# Messages each raw fan-out stream gets: about as many as a gateway watcher's events here.
_CEILING_ROUNDS = 20
# Extra seconds, beyond --timeout, the parent waits for the watcher process to report.
_REPORT_GRACE = 30.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--watchers", type=positive, default=1000, help="WatchJob streams (W)")
    parser.add_argument("--jobs", type=positive, default=20, help="Bell jobs watched (J)")
    parser.add_argument("--shots", type=positive, default=1024, help="shots per Bell job")
    parser.add_argument(
        "--streams-per-channel",
        type=positive,
        default=100,
        help="streams multiplexed on one channel (one TCP connection each)",
    )
    parser.add_argument(
        "--blockers",
        type=int,
        default=60,
        help="slot-holding jobs (0.3 to 1 s each here) queued ahead while the streams open",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds any stream may stay open"
    )
    parser.add_argument(
        "--heartbeat", type=float, default=5.0, help="heartbeat interval each stream asks for"
    )
    parser.add_argument(
        "--probe-calls",
        type=positive,
        default=1000,
        help="sequential GetJob calls timed idle and while all streams are open",
    )
    return parser.parse_args()


# -- the watcher process ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A stream to open: the job, its submit resume token, and the job's sequence there."""

    job_id: str
    token: str
    sequence: int


@dataclass
class Tally:
    """What the watcher process saw over all its streams (one event loop: no locks)."""

    expected: int
    all_started: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0
    open_now: int = 0
    max_open: int = 0
    ready_ns: int | None = None
    # (event_time in ns, receipt minus event_time in ms, kind of event) per received event.
    samples: list[tuple[int, float, str]] = field(default_factory=list)
    before_ready: int = 0
    heartbeats: int = 0
    # Per heartbeat: ms past the interval since the stream's previous message was received.
    heartbeat_late: list[float] = field(default_factory=list)
    gaps: int = 0
    event_bytes: int = 0
    duplicates: int = 0
    ended: collections.Counter[str] = field(default_factory=collections.Counter)

    def note_started(self) -> None:
        """Counts a stream that got its first message (or ended without one)."""
        self.started += 1
        if self.started >= self.expected:
            self.all_started.set()

    def report(self) -> dict[str, Any]:
        """Plain data: the parent cannot unpickle classes of the spawned child's main module."""
        return {
            "samples": self.samples,
            "before_ready": self.before_ready,
            "heartbeats": self.heartbeats,
            "heartbeat_late": self.heartbeat_late,
            "gaps": self.gaps,
            "event_bytes": self.event_bytes,
            "duplicates": self.duplicates,
            "ended": dict(self.ended),
            "max_open": self.max_open,
        }


@dataclass(frozen=True)
class Watching:
    """How the watcher process's streams are opened."""

    address: str
    per_channel: int
    timeout: float
    heartbeat: float


def watcher_process(plan: Watching, targets: list[Target], pipe: Connection) -> None:
    """The watcher process: sends ("ready", ...) once all streams are open, then ("done", ...)."""
    tally = asyncio.run(watch_all(plan, targets, pipe))
    pipe.send(("done", tally.report()))
    pipe.close()


async def watch_all(plan: Watching, targets: list[Target], pipe: Connection) -> Tally:
    tally = Tally(expected=len(targets))
    channel_count = -(-len(targets) // plan.per_channel)
    channels = [separate_channel(plan.address, index) for index in range(channel_count)]
    stubs = [job_service_pb2_grpc.JobServiceStub(ch) for ch in channels]
    began = time.perf_counter()
    tasks = [
        asyncio.create_task(watch_one(stubs[index // plan.per_channel], target, plan, tally))
        for index, target in enumerate(targets)
    ]
    if targets:
        await tally.all_started.wait()
    # Every stream is subscribed now: whatever is stamped later reaches each of them live.
    tally.ready_ns = time.time_ns()
    opening = time.perf_counter() - began
    pipe.send(("ready", {"open": tally.open_now, "seconds": opening, "channels": channel_count}))
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close(None)
    return tally


async def watch_one(
    stub: job_service_pb2_grpc.JobServiceStub, target: Target, plan: Watching, tally: Tally
) -> None:
    """Follows one job until the server ends the stream; records every event's delay."""
    interval = duration_pb2.Duration()
    interval.FromNanoseconds(round(plan.heartbeat * 1e9))
    request = job_service_pb2.WatchJobRequest(
        job_id=target.job_id, resume_token=target.token, heartbeat_interval=interval
    )
    last_sequence, started, outcome = target.sequence, False, "OK without a final event"
    tally.open_now += 1
    tally.max_open = max(tally.max_open, tally.open_now)
    previous_ns = time.time_ns()
    try:
        async for message in stub.WatchJob(request, timeout=plan.timeout):
            received_ns = time.time_ns()
            if not started:
                started = True
                tally.note_started()
            silence_ms, previous_ns = (received_ns - previous_ns) / 1e6, received_ns
            if not message.HasField("event"):
                tally.heartbeats += 1
                tally.heartbeat_late.append(silence_ms - plan.heartbeat * 1e3)
                continue
            tally.event_bytes += message.ByteSize()
            record_delay(tally, message.event, received_ns)
            last_sequence = check_sequence(tally, last_sequence, message.event.sequence)
            if message.event.job.final:
                outcome = "OK after the final event"
    except grpc.aio.AioRpcError as error:
        outcome = f"{error.code().name}: {error.details()}"
    finally:
        tally.open_now -= 1
        tally.ended[outcome] += 1
        if not started:
            tally.note_started()


def record_delay(tally: Tally, event: job_pb2.JobEvent, received_ns: int) -> None:
    event_ns = event.event_time.ToNanoseconds()
    if tally.ready_ns is None or event_ns < tally.ready_ns:
        tally.before_ready += 1
        return
    tally.samples.append((event_ns, (received_ns - event_ns) / 1e6, event_kind(event)))


def event_kind(event: job_pb2.JobEvent) -> str:
    if event.type == job_pb2.JOB_EVENT_TYPE_STATE_CHANGED:
        return "state " + job_pb2.JobState.Name(event.job.state).removeprefix("JOB_STATE_")
    return job_pb2.JobEventType.Name(event.type).removeprefix("JOB_EVENT_TYPE_")


def check_sequence(tally: Tally, last: int, sequence: int) -> int:
    """Counts lost and repeated events: a job's sequence numbers are gapless from 1."""
    if sequence <= last:
        tally.duplicates += 1
        return last
    tally.gaps += sequence - last - 1
    return sequence


# -- the gateway process ---------------------------------------------------------------------


@dataclass
class Phase:
    """The gateway's side of the run: memory, subscriptions and jobs at each step."""

    rss_kib: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)
    blockers_started_at_ready: int = 0
    blockers_cancelled: int = 0
    # time.time_ns() when the last queued blocker's cancel returned.
    cancels_ended_ns: int = 0
    jobs_completed: int = 0
    # Milliseconds of each sequential GetJob call from the probe process, idle and loaded.
    probes: dict[str, list[float]] = field(default_factory=dict)


async def subscription_count(gateway: Gateway) -> int:
    # Read on the gateway's loop, which owns the bus.
    return gateway.bus.subscriber_count


def blocker_circuit() -> QuantumCircuit:
    """A 20-qubit statevector circuit: about 1 s of simulation on this machine."""
    width, layers = 20, 4
    circuit = QuantumCircuit(width, width, name="blocker")
    for layer in range(layers):
        for qubit in range(width):
            circuit.rx(0.1 * (qubit + layer + 1), qubit)
        for qubit in range(width - 1):
            circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit


def submit(
    stub: job_service_pb2_grpc.JobServiceStub, circuit: job_pb2.Circuit, shots: int
) -> job_service_pb2.SubmitJobResponse:
    request = job_service_pb2.SubmitJobRequest(
        backend=BACKEND, circuits=[circuit], run_options=job_pb2.RunOptions(shots=shots)
    )
    response: job_service_pb2.SubmitJobResponse = stub.SubmitJob(request, timeout=30)
    return response


def wait_final(stub: job_service_pb2_grpc.JobServiceStub, job_id: str) -> job_pb2.Job:
    request = job_service_pb2.WatchJobRequest(job_id=job_id)
    for message in stub.WatchJob(request, timeout=60):
        if message.HasField("event") and message.event.job.final:
            job: job_pb2.Job = message.event.job
            return job
    raise RuntimeError(f"the stream of job {job_id} ended before a final event")


def states(stub: job_service_pb2_grpc.JobServiceStub, job_ids: list[str]) -> list[int]:
    return [
        stub.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=30).job.state
        for job_id in job_ids
    ]


def cancel_queued(stub: job_service_pb2_grpc.JobServiceStub, job_ids: list[str]) -> int:
    """Cancels the blockers still waiting; the running one finishes (a cancelled simulation
    would run on, unheard, beside the Bell jobs)."""
    cancelled = 0
    for job_id, state in zip(job_ids, states(stub, job_ids), strict=True):
        if state != job_pb2.JOB_STATE_QUEUED:
            continue
        try:
            stub.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id), timeout=30)
            cancelled += 1
        except grpc.RpcError as error:
            # It started (or even ended) since its state was read: it runs to the end.
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
    return cancelled


def spread(jobs: list[job_service_pb2.SubmitJobResponse], watchers: int) -> list[Target]:
    """W streams over the jobs, round robin, each from its job's submit resume token."""
    return [
        Target(response.job.id, response.resume_token, response.job.sequence)
        for response in (jobs[index % len(jobs)] for index in range(watchers))
    ]


def receive(pipe: Connection, kind: str, timeout: float) -> dict[str, Any]:
    if not pipe.poll(timeout):
        raise TimeoutError(f"the watcher process sent no {kind!r} within {timeout:.0f} s")
    got, payload = pipe.recv()
    if got != kind:
        raise RuntimeError(f"expected {kind!r} from the watcher process, got {got!r}")
    data: dict[str, Any] = payload
    return data


def run(args: argparse.Namespace, embedded: EmbeddedGateway, phase: Phase) -> dict[str, Any]:
    """Runs the scenario against a started gateway; returns the watcher process's report."""
    assert embedded.gateway is not None
    gateway = embedded.gateway
    with grpc.secure_channel(embedded.address, loopback_credentials()) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        bell = job_pb2.Circuit(qasm3=BELL_QASM3)
        # Starts the simulator's worker process, so that no measured job pays for it.
        wait_final(stub, submit(stub, bell, args.shots).job.id)
        phase.rss_kib["idle"] = rss_kib()
        blocker = circuit_to_proto(blocker_circuit())
        blockers = [submit(stub, blocker, 1).job.id for _ in range(args.blockers)]
        jobs = [submit(stub, bell, args.shots) for _ in range(args.jobs)]
        phase.rss_kib["jobs queued, no streams"] = rss_kib()
        with Probe(embedded.address, jobs[0].job.id) as probe:
            phase.probes["idle"] = probe.time_calls(args.probe_calls)
            context = multiprocessing.get_context("spawn")  # gRPC's threads would not survive fork
            ours, theirs = context.Pipe()
            plan = Watching(
                embedded.address, args.streams_per_channel, args.timeout, args.heartbeat
            )
            watcher = context.Process(
                target=watcher_process, args=(plan, spread(jobs, args.watchers), theirs)
            )
            watcher.start()
            ready = receive(ours, "ready", args.timeout)
            phase.rss_kib[f"{ready['open']} streams open"] = rss_kib()
            phase.subscriptions["all streams open"] = embedded.call(subscription_count(gateway))
            phase.probes[f"{ready['open']} streams open"] = probe.time_calls(args.probe_calls)
        phase.blockers_started_at_ready = sum(
            state != job_pb2.JOB_STATE_QUEUED for state in states(stub, blockers)
        )
        phase.blockers_cancelled = cancel_queued(stub, blockers)
        phase.cancels_ended_ns = time.time_ns()

        done = receive(ours, "done", args.timeout + _REPORT_GRACE)
        watcher.join(_REPORT_GRACE)
        phase.rss_kib["streams ended"] = rss_kib()
        phase.subscriptions["streams ended"] = embedded.call(subscription_count(gateway))
        job_ids = [response.job.id for response in jobs]
        phase.jobs_completed = states(stub, job_ids).count(job_pb2.JOB_STATE_COMPLETED)
        return {**done, "ready": ready}


# -- the report ------------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_line(name: str, delays: list[float]) -> str:
    ordered = sorted(delays)
    if not ordered:
        return f"  {name:<28} no samples"
    figures = " ".join(
        f"{label} {percentile(ordered, fraction):7.1f}"
        for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    )
    return f"  {name:<28} n={len(ordered):<6} {figures} max {ordered[-1]:7.1f} ms"


def latency_groups(phase: Phase, samples: list[tuple[int, float, str]]) -> dict[str, list[float]]:
    """Delays in ms: of all events, by phase of the run, and by kind of event."""
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    for _, delay, kind in samples:
        by_kind[kind].append(delay)
    ended = phase.cancels_ended_ns
    return {
        "all events": [delay for _, delay, _ in samples],
        f"during {phase.blockers_cancelled} cancels": [d for t, d, _ in samples if t <= ended],
        "while the Bell jobs ran": [d for t, d, _ in samples if t > ended],
        **{kind: by_kind[kind] for kind in sorted(by_kind)},
    }


def print_latencies(groups: dict[str, list[float]]) -> None:
    print("event_time -> receipt by a watcher (every event of every stream after all opened):")
    for name, delays in groups.items():
        print(latency_line(name, delays))


def print_report(args: argparse.Namespace, phase: Phase, report: dict[str, Any]) -> None:
    ready = report["ready"]
    print(
        f"watch latency: W={args.watchers} streams over J={args.jobs} Bell jobs "
        f"({args.shots} shots), {ready['channels']} channels, concurrency 1"
    )
    print(
        f"streams open at once: {report['max_open']} (watcher side), "
        f"{phase.subscriptions['all streams open']} (gateway subscriptions); "
        f"all opened in {ready['seconds']:.2f} s"
    )
    print_latencies(latency_groups(phase, report["samples"]))
    print(
        f"left out (stamped before all streams were open): {report['before_ready']}; "
        f"heartbeats: {report['heartbeats']}; blockers: {phase.blockers_started_at_ready} "
        f"had started by then, {phase.blockers_cancelled} cancelled"
    )
    if phase.blockers_started_at_ready >= args.blockers:
        print("WARNING: no blocker was left waiting: Bell jobs may have run before all streams")
        print("were open, and their events are then left out; raise --blockers")
    ended = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report["ended"].items()))
    print(f"streams ended: {ended}")
    print(
        f"lost events (sequence gaps): {report['gaps']}; repeated: {report['duplicates']}; "
        f"Bell jobs completed: {phase.jobs_completed}/{args.jobs}; "
        f"gateway subscriptions left: {phase.subscriptions['streams ended']}"
    )
    print_memory(phase, args.watchers)
    print_heartbeats(args.heartbeat, report["heartbeat_late"])
    print_probes(phase.probes)


def print_heartbeats(interval: float, late: list[float]) -> None:
    print(f"heartbeats (each stream asked for one after {interval:g} s of silence):")
    print(latency_line("received past the interval", late))


def print_probes(probes: dict[str, list[float]]) -> None:
    """Other RPCs' latency while the streams are open, against the same calls idle."""
    calls = len(next(iter(probes.values()), []))
    print(f"other RPCs: {calls} sequential GetJob calls from a client process of its own:")
    idle_p99 = percentile(sorted(probes["idle"]), 0.99)
    for name, delays in probes.items():
        ordered = sorted(delays)
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        ratio = "" if name == "idle" else f", p99 {p99 / idle_p99:.2f}x idle"
        print(f"  {name:<28} p50 {p50:6.2f} p99 {p99:6.2f} max {ordered[-1]:6.2f} ms{ratio}")


def print_memory(phase: Phase, watchers: int) -> None:
    rss = phase.rss_kib
    print("gateway process VmRSS: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in rss.items()))
    per_stream = kib_per_stream(phase, watchers)
    if per_stream is not None:
        print(f"  about {per_stream:.1f} KiB per open stream")


def kib_per_stream(phase: Phase, watchers: int) -> float | None:
    rss = phase.rss_kib
    opened = [v for k, v in rss.items() if k.endswith("streams open")]
    if not opened or not watchers:
        return None
    return (opened[0] - rss["jobs queued, no streams"]) / watchers


def print_ceiling(phase: Phase, report: dict[str, Any], fanout: FanoutRun, watchers: int) -> None:
    print("\n".join(fanout_lines(fanout)))
    groups = latency_groups(phase, report["samples"])
    print("\n".join(fanout_ratio_lines(groups, fanout, kib_per_stream(phase, watchers))))


def mean_event_size(report: dict[str, Any]) -> int:
    """Bytes of the gateway's average WatchJob event, the size of the raw fan-out's message."""
    events = len(report["samples"]) + int(report["before_ready"])
    return max(8, round(int(report["event_bytes"]) / max(1, events)))


def main() -> None:
    args = parse_args()
    phase = Phase()
    with embedded_gateway(concurrency=1) as embedded:
        report = run(args, embedded, phase)
    # After the gateway has stopped, so that the two do not compete for the two cores.
    size = mean_event_size(report)
    fanout = measure_fanout(args.watchers, args.streams_per_channel, _CEILING_ROUNDS, size)
    print_report(args, phase, report)
    print_ceiling(phase, report, fanout, args.watchers)


if __name__ == "__main__":
    main()
