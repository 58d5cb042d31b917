"""The long fuzz run: random and mutated requests to every RPC of a real ``serve`` process.

The strategies are the short run's (``tests/fuzz``); here ``--workers`` processes each draw
and send calls, in batches of hypothesis examples with seeds of their own, until ``--inputs``
calls are sent or ``--minutes`` pass. One more worker sends only calls without a valid
token: the gateway holds a host's failed authentications up to 5 s each
(``FailureThrottle``), so they go at their own slow pace, not holding up the rest. A call
that breaks the property is minimised by hypothesis and printed. At the end the gateway
must still be SERVING and, once stopped, its store consistent. It prints inputs tried,
inputs/s, the statuses and the gateway's resident memory at the start, its peak and at
the end. Exit status 1 on any failure.

    .venv/bin/python bench/fuzz_api.py [--inputs 100000] [--minutes 30] [--workers 6]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import HypothesisWarning
from shared import BENCH_TOKEN, positive

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fuzz import consistency, harness
from tests.fuzz.calls import Call, any_calls
from tests.fuzz.gateway import rss_kib, serving
from tests.fuzz.known import FUZZ_SETTINGS, Known, learn
from tests.processes import Served, free_port

BATCH = 200
"""Examples per hypothesis run: a worker checks the clock and the count between runs."""
SAMPLE_EVERY_S = 2.0


@dataclass
class Tally:
    """What one worker (or all of them) sent and saw."""

    inputs: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    anonymous: int = 0
    """Of ``inputs``, the calls without a valid token."""
    failures: list[str] = field(default_factory=list)
    """Each failing case as hypothesis left it: the problem and the minimised call."""

    def add(self, other: Tally) -> None:
        self.inputs += other.inputs
        self.anonymous += other.anonymous
        self.codes.update(other.codes)
        self.failures += other.failures


@dataclass(frozen=True)
class Job:
    """One worker's share of the run."""

    address: str
    known: Known
    seed: int
    inputs: int
    """Of the whole run: a worker stops when all of them together have sent this many."""
    stop_at: float
    authenticated: bool


def main() -> int:
    arguments = _parser().parse_args()
    root = Path(tempfile.mkdtemp(prefix="igw-fuzz-"))
    served = _serve(root)
    try:
        known = learn(served.address, BENCH_TOKEN, root / "state")
        started = time.monotonic()
        tally, rss = _fuzz(served, known, arguments, started)
        elapsed = time.monotonic() - started
        still_serving = serving(served.address)
        rss.append(rss_kib(served.process.pid))
    finally:
        served.stop(signal.SIGTERM)
    problems = consistency.problems(root / "state" / "gateway.sqlite3")
    jobs = consistency.job_count(root / "state" / "gateway.sqlite3")
    ok = _print(tally, elapsed, rss, still_serving, problems, jobs)
    if ok:
        shutil.rmtree(root)
    else:
        print(f"state and the gateway's log kept in {root}")
    return 0 if ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=positive, default=100_000, help="calls to send")
    parser.add_argument("--minutes", type=float, default=30.0, help="stop after this long")
    parser.add_argument("--workers", type=positive, default=6, help="processes with tokens")
    parser.add_argument("--seed", type=int, default=None, help="fixes the workers' seeds")
    return parser


def _serve(root: Path) -> Served:
    environment = {
        "IBMQ_GATEWAY_BOOTSTRAP_TOKEN": BENCH_TOKEN,
        "IBMQ_GATEWAY_FAKE_DEVICES": "fake_manila,fake_brisbane",
        **{f"IBMQ_GATEWAY_{name.upper()}": str(value) for name, value in FUZZ_SETTINGS.items()},
    }
    return Served(root / "state", free_port(), env=environment, log=root / "gateway.log")


def _fuzz(
    served: Served, known: Known, arguments: argparse.Namespace, started: float
) -> tuple[Tally, list[int]]:
    """Runs the workers; returns their tally and the gateway's RSS (start, samples...)."""
    chooser = random.Random(arguments.seed)
    stop_at = time.time() + arguments.minutes * 60
    jobs = [
        Job(
            served.address, known, chooser.getrandbits(32), arguments.inputs, stop_at, authenticated
        )
        for authenticated in [True] * arguments.workers + [False]
    ]
    rss = [rss_kib(served.process.pid)]
    # Spawned, not forked: the parent's gRPC channels do not survive a fork.
    context = multiprocessing.get_context("spawn")
    sent = context.Value("q", 0)
    with context.Pool(len(jobs), initializer=_share, initargs=(sent,)) as pool:
        pending = pool.map_async(_work, jobs)
        while not pending.ready():
            pending.wait(SAMPLE_EVERY_S)
            rss.append(rss_kib(served.process.pid))
        tally = Tally()
        for part in pending.get():
            tally.add(part)
    return tally, rss


_sent: Any = None
"""The run's count of calls sent, shared by the workers."""


def _share(sent: Any) -> None:
    global _sent
    _sent = sent


def _work(job: Job) -> Tally:
    """One worker: hypothesis runs of ``BATCH`` examples until its share or time is up."""
    tally = Tally()
    chooser = random.Random(job.seed)
    # A drawn huge string or QPY file makes hypothesis warn about its repr, once per batch.
    warnings.simplefilter("ignore", HypothesisWarning)
    with grpc.insecure_channel(job.address) as channel:
        while _sent.value < job.inputs and time.time() < job.stop_at:
            _batch(channel, job, chooser.getrandbits(32), tally)
    return tally


def _batch(channel: grpc.Channel, job: Job, batch_seed: int, tally: Tally) -> None:
    failing: list[tuple[str, Call]] = []

    @seed(batch_seed)
    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(any_calls(job.known, authenticated=job.authenticated))
    def answered(call: Call) -> None:
        if _sent.value >= job.inputs or time.time() >= job.stop_at:
            return  # the rest of the batch is drawn but not sent
        outcome = harness.send(channel, call)
        tally.inputs += 1
        with _sent.get_lock():
            _sent.value += 1
        tally.anonymous += not call.authenticated
        tally.codes[outcome.code.name] += 1
        if outcome.problem:
            failing.append((outcome.problem, call))
        harness.judge(call, outcome)

    try:
        answered()
    except Exception as error:  # hypothesis re-raises the minimised case's error last
        problem, call = failing[-1] if failing else (repr(error), None)
        tally.failures.append(f"seed {batch_seed}: {problem}\n    {call!r}")


def _print(
    tally: Tally,
    elapsed: float,
    rss: list[int],
    still_serving: bool,
    problems: list[str],
    jobs: int,
) -> bool:
    codes = ", ".join(f"{name} {count}" for name, count in tally.codes.most_common())
    for label, value in (
        ("inputs tried", f"{tally.inputs} in {elapsed:.0f} s ({tally.inputs / elapsed:.1f}/s), "
                         f"{tally.anonymous} of them without a valid token"),
        ("statuses", codes),
        ("gateway RSS", f"{rss[0] / 1024:.0f} MiB at start, {max(rss) / 1024:.0f} MiB peak, "
                        f"{rss[-1] / 1024:.0f} MiB at the end"),
        ("serving afterwards", "yes" if still_serving else "NO"),
        ("jobs in the store", jobs),
        ("store problems", len(problems)),
        ("failing cases", len(tally.failures)),
    ):  # fmt: skip
        print(f"{label:>20}: {value}")
    for problem in problems[:20]:
        print(f"  STORE {problem}")
    for failure in tally.failures:
        print(f"  FAIL {failure}")
    ok = still_serving and not problems and not tally.failures
    print("PASS" if ok else "FAIL")
    return ok


if __name__ == "__main__":
    sys.exit(main())
