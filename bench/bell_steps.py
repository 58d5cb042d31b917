"""Where a Bell job's time goes inside the gateway, step by step.

Runs Bell jobs as ``bell_latency.py`` does (embedded gateway, SubmitJob, WatchJob to the
final event, GetJobResult) with the gateway's own methods for each step wrapped, for this
run only, in a clock: authentication, SubmitJob, the circuits' parse, the store's commits,
the executor's run and its worker's round trip, the result's encoding, GetJobResult. Prints
each step's start and end as medians from before SubmitJob, in the order they come, and
Aer's own time for the simulation (``time_taken_execute`` in its result).

    .venv/bin/python bench/bell_steps.py [--runs 60] [--warmup 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from bell_latency import bell_for_aer, run_gateway
from shared import embedded_gateway, loopback_credentials, positive

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.server.api import auth, servicers
from ibmq_gateway.server.executors.local.executor import LocalExecutor
from ibmq_gateway.server.jobs import circuit_parser, manager, runs
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from ibmq_gateway.v1 import job_service_pb2_grpc

# (owner, attribute, step): coroutine functions timed from call to return.
STEPS: list[tuple[Any, str, str]] = [
    (auth.AuthInterceptor, "_resolve", "token check"),
    (servicers.JobService, "SubmitJob", "SubmitJob"),
    (circuit_parser.CircuitParser, "parse", "parse circuits"),
    (SqliteJobStore, "create_job", "commit: create"),
    (SqliteJobStore, "apply", "commit: state change"),
    (manager, "execute", "run"),
    (LocalExecutor, "_simulate", "worker round trip"),
    (runs, "_document", "encode result"),
    (servicers.JobService, "GetJobResult", "GetJobResult"),
]

marks: list[tuple[str, float]] = []
aer_seconds: list[float] = []


def timed(function: Callable[..., Any], step: str) -> Callable[..., Any]:
    @functools.wraps(function)
    async def clocked(*args: Any, **kwargs: Any) -> Any:
        marks.append((f"{step} >", time.perf_counter()))
        try:
            return await function(*args, **kwargs)
        finally:
            marks.append((f"{step} <", time.perf_counter()))

    return clocked


def note_aer_time(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def noted(job: Any, result: Any, **kwargs: Any) -> Any:
        if result is not None:
            aer_seconds.append(result.metadata["time_taken_execute"])
        return await function(job, result, **kwargs)

    return noted


def instrument() -> None:
    runs._document = note_aer_time(runs._document)
    for owner, name, step in STEPS:
        setattr(owner, name, timed(getattr(owner, name), step))


def offsets(start: float) -> dict[str, float]:
    """This run's marks as milliseconds after ``start``; repeated steps numbered in order."""
    seen: Counter[str] = Counter()
    named = {}
    for mark, moment in marks:
        seen[mark] += 1
        key = mark if seen[mark] == 1 else f"{mark} #{seen[mark]}"
        named[key] = (moment - start) * 1000
    return named


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive, default=60, help="measured jobs")
    parser.add_argument("--warmup", type=int, default=5, help="discarded jobs first")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    instrument()
    circuit_qpy = circuit_to_proto(bell_for_aer()).qpy
    per_mark: dict[str, list[float]] = {}
    totals = []
    with (
        embedded_gateway() as gateway,
        grpc.secure_channel(gateway.address, loopback_credentials()) as channel,
    ):
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        for index in range(args.warmup + args.runs):
            marks.clear()
            start = time.perf_counter()
            run_gateway(stub, circuit_qpy, 1024)
            if index >= args.warmup:
                totals.append((time.perf_counter() - start) * 1000)
                for mark, ms in offsets(start).items():
                    per_mark.setdefault(mark, []).append(ms)
    report(per_mark, totals, aer_seconds[args.warmup :], args.runs)


def report(
    per_mark: dict[str, list[float]], totals: list[float], aer: list[float], count: int
) -> None:
    print(f"bell job steps inside the gateway, N={count}: median ms after before-SubmitJob")
    rows = sorted((statistics.median(values), mark) for mark, values in per_mark.items())
    for ms, mark in rows:
        # A step some runs took and others did not (a run too long to share its commits).
        some = (
            f"  (in {len(per_mark[mark])} of {count} runs)" if len(per_mark[mark]) < count else ""
        )
        print(f"  {ms:6.2f}  {mark}{some}")
    print(f"  {statistics.median(totals):6.2f}  GetJobResult answered (client)")
    print(
        f"Aer's own simulation (time_taken_execute): median {statistics.median(aer) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
