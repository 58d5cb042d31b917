"""A Bell job's submit-to-result time through the gateway, against Aer run in process.

Through the gateway: SubmitJob (QPY of a Bell circuit transpiled for Aer), follow WatchJob
from the submit's resume token until the stream ends after the final event, then
GetJobResult; timed from before SubmitJob to after GetJobResult. Directly:
``AerSimulator().run(circuit, shots=...).result().get_counts()``. Prints medians, p90s, the
ratio of the medians, and where the gateway's time goes. The gateway runs embedded, on a
thread of this process, as in the tests; its simulations run in its worker process.

Then the raw ceiling (bench/ceiling.py): the same three calls, with the same message sizes,
to a bare grpc.aio server on a thread of this process; each gateway figure is printed beside
it as a ratio, with Aer's own time added to the raw calls where the gateway runs Aer.

    .venv/bin/python bench/bell_latency.py [--runs 100] [--warmup 5] [--shots 1024]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import grpc
from ceiling import beside, measure_calls
from qiskit import QuantumCircuit, transpile
from qiskit_aer import AerSimulator
from raw_server import CallShape
from shared import embedded_gateway, loopback_credentials, positive

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

BACKEND = "aer_simulator"


@dataclass(frozen=True)
class GatewayRun:
    """One job through the gateway: seconds from before SubmitJob to each milestone."""

    submitted: float
    final_event: float
    result: float
    # Server-side steps, from the final job's time_per_step (seconds).
    admission: float
    queued: float
    running: float
    # Receipt of the final event (time.time()) minus its event_time: the stream's delay.
    delivery: float
    # Message sizes of its SubmitJob, WatchJob and GetJobResult, for the raw ceiling.
    shapes: tuple[CallShape, ...]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=positive, default=100, help="measured runs of each (N)")
    parser.add_argument("--warmup", type=int, default=5, help="discarded runs of each first")
    parser.add_argument("--shots", type=positive, default=1024, help="shots per job")
    return parser.parse_args()


def bell_for_aer() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    # Transpiled once, outside the timings, so both sides run the very same circuit.
    transpiled: QuantumCircuit = transpile(circuit, AerSimulator())
    return transpiled


def run_direct(simulator: AerSimulator, circuit: QuantumCircuit, shots: int) -> float:
    start = time.perf_counter()
    simulator.run(circuit, shots=shots).result().get_counts()
    return time.perf_counter() - start


def run_gateway(
    stub: job_service_pb2_grpc.JobServiceStub, circuit_qpy: bytes, shots: int
) -> GatewayRun:
    request = job_service_pb2.SubmitJobRequest(
        backend=BACKEND,
        circuits=[job_pb2.Circuit(qpy=circuit_qpy)],
        run_options=job_pb2.RunOptions(shots=shots),
    )
    start = time.perf_counter()
    submitted = stub.SubmitJob(request, timeout=30)
    after_submit = time.perf_counter()
    watch = job_service_pb2.WatchJobRequest(
        job_id=submitted.job.id, resume_token=submitted.resume_token
    )
    final, delivery, event_sizes = follow_to_final(stub, watch)
    after_final = time.perf_counter()
    fetch = job_service_pb2.GetJobResultRequest(job_id=final.id)
    result = stub.GetJobResult(fetch, timeout=30)
    end = time.perf_counter()
    if final.state != job_pb2.JOB_STATE_COMPLETED or not result.result.results[0].counts:
        raise RuntimeError(f"job {final.id} ended {job_pb2.JobState.Name(final.state)}")
    return GatewayRun(
        submitted=after_submit - start,
        final_event=after_final - start,
        result=end - start,
        delivery=delivery,
        shapes=(
            CallShape(request.ByteSize(), (submitted.ByteSize(),)),
            CallShape(watch.ByteSize(), event_sizes, stream=True),
            CallShape(fetch.ByteSize(), (result.ByteSize(),)),
        ),
        **server_steps(final),
    )


def follow_to_final(
    stub: job_service_pb2_grpc.JobServiceStub, request: job_service_pb2.WatchJobRequest
) -> tuple[job_pb2.Job, float, tuple[int, ...]]:
    """Reads the stream to its end (the server closes it after the final event).

    Returns the final job, the final event's delay (receipt minus event_time), and the
    size in bytes of each message the stream sent.
    """
    final: tuple[job_pb2.Job, float] | None = None
    sizes: list[int] = []
    for message in stub.WatchJob(request, timeout=60):
        received = time.time_ns()
        sizes.append(message.ByteSize())
        if message.HasField("event") and message.event.job.final:
            delay = (received - message.event.event_time.ToNanoseconds()) / 1e9
            final = (message.event.job, delay)
    if final is None:
        raise RuntimeError(f"the stream of job {request.job_id} ended without a final event")
    return (*final, tuple(sizes))


def server_steps(job: job_pb2.Job) -> dict[str, float]:
    """Admission (CREATING to QUEUED), time QUEUED, and time RUNNING, in seconds."""
    steps = {name: stamp.ToNanoseconds() / 1e9 for name, stamp in job.time_per_step.items()}
    return {
        "admission": steps["QUEUED"] - steps["CREATING"],
        "queued": steps["RUNNING"] - steps["QUEUED"],
        "running": steps["COMPLETED"] - steps["RUNNING"],
    }


def p90(values: list[float]) -> float:
    if len(values) < 2:  # quantiles needs two points
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(name: str, values: list[float]) -> str:
    return f"{name} median {ms(statistics.median(values))} p90 {ms(p90(values))}"


def measure_gateway(circuit_qpy: bytes, args: argparse.Namespace) -> list[GatewayRun]:
    with (
        embedded_gateway() as gateway,
        grpc.secure_channel(gateway.address, loopback_credentials()) as channel,
    ):
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        # The first job also pays for starting the simulator's worker process.
        for _ in range(args.warmup):
            run_gateway(stub, circuit_qpy, args.shots)
        return [run_gateway(stub, circuit_qpy, args.shots) for _ in range(args.runs)]


def measure_direct(circuit: QuantumCircuit, args: argparse.Namespace) -> list[float]:
    simulator = AerSimulator()
    for _ in range(args.warmup):
        run_direct(simulator, circuit, args.shots)
    return [run_direct(simulator, circuit, args.shots) for _ in range(args.runs)]


def report(runs: list[GatewayRun], direct: list[float], args: argparse.Namespace) -> None:
    total = [run.result for run in runs]
    ratio = statistics.median(total) / statistics.median(direct)
    print(
        f"bell job, {args.shots} shots, N={args.runs} | {summary('gateway', total)} | "
        f"{summary('direct Aer', direct)} | ratio {ratio:.1f}x"
    )
    print("gateway time, measured from before SubmitJob (client clock):")
    print(f"  {summary('SubmitJob response', [run.submitted for run in runs])}")
    print(f"  {summary('final event received', [run.final_event for run in runs])}")
    print(f"  {summary('GetJobResult response', total)}")
    print("gateway steps, from the job's time_per_step (server clock):")
    print(f"  {summary('CREATING -> QUEUED', [run.admission for run in runs])}")
    print(f"  {summary('QUEUED -> RUNNING', [run.queued for run in runs])}")
    print(f"  {summary('RUNNING -> COMPLETED', [run.running for run in runs])}")
    delivery = [run.delivery for run in runs]
    print(f"  {summary('final event_time -> received by client', delivery)}")


Row = tuple[str, list[float], str, list[float]]


def ceiling_rows(runs: list[GatewayRun], direct: list[float], raw: list[list[float]]) -> list[Row]:
    """(gateway step, its seconds per run, the ceiling's name, the ceiling's seconds per run).

    Where the gateway runs Aer, run i of direct Aer is added to raw run i: the ratio is then
    what the gateway costs beyond the transport and the simulation.
    """
    submit, watch, fetch = runs[-1].shapes
    with_aer = list(zip(raw, direct, strict=True))
    return [
        (f"SubmitJob, {submit}", [run.submitted for run in runs], "raw unary", [r[0] for r in raw]),
        (
            f"WatchJob to the final event, {watch}",
            [run.final_event - run.submitted for run in runs],
            "raw stream + Aer",
            [r[1] + aer for r, aer in with_aer],
        ),
        (
            f"GetJobResult, {fetch}",
            [run.result - run.final_event for run in runs],
            "raw unary",
            [r[2] for r in raw],
        ),
        (
            "submit -> result",
            [run.result for run in runs],
            "raw calls + Aer",
            [sum(r) + aer for r, aer in with_aer],
        ),
    ]


def report_ceiling(runs: list[GatewayRun], direct: list[float], raw: list[list[float]]) -> None:
    print(
        f"beside the raw ceiling (bare grpc.aio, the same message sizes, this run, N={len(raw)}):"
    )
    for step, gateway, name, ceiling in ceiling_rows(runs, direct, raw):
        print(f"  {step}")
        for figure, measure in (("median", statistics.median), ("p90", p90)):
            print(f"    {beside(figure, measure(gateway) * 1000, name, measure(ceiling) * 1000)}")


def main() -> None:
    args = parse_args()
    circuit = bell_for_aer()
    runs = measure_gateway(circuit_to_proto(circuit).qpy, args)
    direct = measure_direct(circuit, args)
    # Every run's calls had these sizes but for a few bytes of ids and stamps.
    raw = measure_calls(runs[-1].shapes, args.runs, args.warmup)
    report(runs, direct, args)
    report_ceiling(runs, direct, raw)


if __name__ == "__main__":
    main()
