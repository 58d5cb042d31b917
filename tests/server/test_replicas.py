"""Three ``serve`` replicas on one PostgreSQL database, killed with kill -9 mid-run.

Jobs go in through a round-robin channel over all replicas; watchers follow them on every
replica and move to another with their resume token when theirs dies. Whatever is killed,
every job ends DONE exactly once and every watcher sees every event of its job exactly
once, in order.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg
import pytest

from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.chaos.clients import CHANNEL_OPTIONS, RETRIED
from tests.conftest import TEST_TOKEN
from tests.helpers import BELL_QASM3
from tests.postgres import fresh_database
from tests.processes import Served, free_port

JOBS = 200
WATCHERS = 50
REPLICAS = 3
LEASE_S = 4.0
"""Short: the runs of a killed replica are taken over this long after its last renewal."""
DEADLINE_S = 180.0
"""The whole run's bound: past it, whatever has not finished is reported stuck."""

# Past the run's own bound, so a stuck job is reported by state, not as a bare timeout.
pytestmark = pytest.mark.timeout(DEADLINE_S + 60)


@dataclass
class Watcher:
    """Follows one job from its first event to its final one, across replicas."""

    job_id: str
    token: str
    home: int
    sequences: list[int] = field(default_factory=list)
    reconnects: int = 0
    finished: bool = False


class Replicas:
    """The ``serve`` processes of one database, started and killed by the test."""

    def __init__(self, tmp_path: Path, database: str) -> None:
        self._tmp_path = tmp_path
        self.database = database
        self.ports = [free_port() for _ in range(REPLICAS)]
        self.processes: list[Served | None] = [None] * REPLICAS

    def start(self, index: int) -> None:
        state = self._tmp_path / f"replica-{index}"
        self.processes[index] = Served(
            state,
            self.ports[index],
            log=self._tmp_path / f"replica-{index}.log",
            env={
                "IBMQ_GATEWAY_DATABASE": self.database,
                "IBMQ_GATEWAY_CONCURRENCY": "2",
                "IBMQ_GATEWAY_HEARTBEAT_INTERVAL": "1",
                "IBMQ_GATEWAY_LEASE_TIME": str(LEASE_S),
            },
        )

    def kill(self, index: int) -> None:
        served = self.processes[index]
        if served is not None:
            served.kill()

    def leader(self) -> int:
        """The replica holding the dispatch lock (its connection names its pid)."""
        pid = _dispatch_lock_holder(self.database)
        return next(
            index
            for index, served in enumerate(self.processes)
            if served is not None and served.process.pid == pid
        )

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.ports[index]}"

    def all_addresses(self) -> str:
        return "ipv4:" + ",".join(self.address(index) for index in range(REPLICAS))

    def close(self) -> None:
        for index in range(REPLICAS):
            self.kill(index)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    with fresh_database() as database:
        started = Replicas(tmp_path, database)
        try:
            for index in range(REPLICAS):  # the first to start leads
                started.start(index)
            yield started
        finally:
            started.close()


def _dispatch_lock_holder(database: str) -> int | None:
    with psycopg.connect(database, autocommit=True) as db:
        row = db.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND a.datname = current_database()"
        ).fetchone()
    return int(row[0].split()[-1]) if row else None


def _channel(target: str) -> grpc.Channel:
    credentials = grpc.composite_channel_credentials(
        grpc.local_channel_credentials(), grpc.access_token_call_credentials(TEST_TOKEN)
    )
    options = [*CHANNEL_OPTIONS, ("grpc.lb_policy_name", "round_robin")]
    return grpc.secure_channel(target, credentials, options=options)


def _submit_all(target: str, count: int, on_submitted: Callable[[], None]) -> list[tuple[str, str]]:
    """Submits ``count`` Bell jobs over every replica, retrying each (same request id)
    while replicas die or restart; returns each job's id and creation resume token."""
    channel = _channel(target)
    stub = job_service_pb2_grpc.JobServiceStub(channel)

    def one(_: int) -> tuple[str, str]:
        request = job_service_pb2.SubmitJobRequest(
            backend="aer_simulator",
            circuits=[job_pb2.Circuit(qasm3=BELL_QASM3)],
            run_options=job_pb2.RunOptions(shots=256),
            request_id=str(uuid.uuid4()),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                response = stub.SubmitJob(request, timeout=10, wait_for_ready=True)
                on_submitted()
                return response.job.id, response.resume_token
            except grpc.RpcError as error:
                if error.code() not in RETRIED or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    with ThreadPoolExecutor(8) as pool:
        job_ids = list(pool.map(one, range(count)))
    channel.close()
    return job_ids


def _follow(watcher: Watcher, replicas: Replicas, stop_at: float) -> None:
    """Reads the watcher's stream to the end, moving on to the next replica with its last
    token whenever the stream breaks."""
    replica = watcher.home
    while time.monotonic() < stop_at and not watcher.finished:
        channel = _channel(replicas.address(replica))
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        request = job_service_pb2.WatchJobRequest(job_id=watcher.job_id, resume_token=watcher.token)
        try:
            for message in stub.WatchJob(request, timeout=max(stop_at - time.monotonic(), 1)):
                watcher.token = message.resume_token
                if message.HasField("event"):
                    watcher.sequences.append(message.event.job.sequence)
                    watcher.finished = message.event.job.final
            if not watcher.finished:  # ended without its final event (max age): go on
                continue
        except grpc.RpcError:
            watcher.reconnects += 1
            replica = (replica + 1) % REPLICAS
            time.sleep(0.2)
        finally:
            channel.close()


def _histories(database: str) -> dict[str, list[tuple[int, str]]]:
    """Every job's stored events as (sequence, state), in sequence order."""
    with psycopg.connect(database, autocommit=True) as db:
        rows = db.execute(
            "SELECT job_id, sequence, snapshot FROM events ORDER BY revision"
        ).fetchall()
    histories: dict[str, list[tuple[int, str]]] = {}
    for job_id, sequence, snapshot in rows:
        histories.setdefault(job_id, []).append((sequence, json.loads(snapshot)["state"]))
    return histories


def _run(replicas: Replicas, kill: Callable[[], None]) -> None:
    """Submits while watchers follow, calls ``kill`` once a third is in, checks everything."""
    stop_at = time.monotonic() + DEADLINE_S
    submitted, third = Counter[str](), threading.Event()

    def count() -> None:
        submitted["jobs"] += 1
        if submitted["jobs"] >= JOBS // 3:
            third.set()

    target = replicas.all_addresses()
    watched = _submit_all(target, WATCHERS, count)
    # From each creation's token: every later event of the job must reach its watcher.
    watchers = [
        Watcher(job_id, token, home=i % REPLICAS) for i, (job_id, token) in enumerate(watched)
    ]
    threads = [threading.Thread(target=_follow, args=(w, replicas, stop_at)) for w in watchers]

    def kill_at_a_third() -> None:
        if third.wait(60):
            kill()

    killer = threading.Thread(target=kill_at_a_third)
    for thread in (*threads, killer):
        thread.start()
    rest = _submit_all(target, JOBS - WATCHERS, count)
    killer.join(60)
    assert third.is_set()
    for thread in threads:
        thread.join(max(stop_at - time.monotonic(), 0))

    database = replicas.database
    job_ids = [job_id for job_id, _ in (*watched, *rest)]
    histories = _wait_all_final(database, job_ids, stop_at)
    for job_id in job_ids:
        states = [state for _, state in histories[job_id]]
        sequences = [sequence for sequence, _ in histories[job_id]]
        assert sequences == list(range(1, len(sequences) + 1)), (job_id, sequences)
        assert states[-1] == "COMPLETED" and states.count("COMPLETED") == 1, (job_id, states)
        # Each run ends before another starts: RUNNING again only after QUEUED again
        # (queue-position updates repeat QUEUED; moves are changes of state).
        moves = [state for i, state in enumerate(states) if i == 0 or state != states[i - 1]]
        assert moves.count("RUNNING") == moves.count("QUEUED"), (job_id, moves)
    stuck = [w.job_id for w in watchers if not w.finished]
    assert not stuck, f"watchers that never saw their final event: {stuck}"
    for watcher in watchers:
        stored = [sequence for sequence, _ in histories[watcher.job_id]]
        assert watcher.sequences == stored[1:], watcher  # all after CREATING, once, in order


def _leases(database: str, job_ids: list[str]) -> list[tuple[str, str | None]]:
    """(job id, holder) of each lease row of ``job_ids``."""
    with psycopg.connect(database, autocommit=True) as db:
        rows = db.execute(
            "SELECT job_id, holder FROM run_leases WHERE job_id = ANY(%s)", (job_ids,)
        ).fetchall()
    return [(str(job_id), holder) for job_id, holder in rows]


def _wait_all_final(
    database: str, job_ids: list[str], stop_at: float
) -> dict[str, list[tuple[int, str]]]:
    finals = {"COMPLETED", "CANCELLED", "ERROR_RUNNING_JOB", "ERROR_VALIDATING_JOB"}
    while True:
        histories = _histories(database)
        open_jobs = [j for j in job_ids if histories.get(j, [(0, "")])[-1][1] not in finals]
        if not open_jobs:
            return histories
        states = Counter(histories.get(j, [(0, "none")])[-1][1] for j in open_jobs)
        assert time.monotonic() < stop_at, (
            f"jobs stuck: {dict(states)}; their leases: {_leases(database, open_jobs)}"
        )
        time.sleep(0.5)


def test_a_killed_leading_replica_loses_no_job_and_no_event(replicas: Replicas) -> None:
    killed: list[int | None] = []

    def kill_the_leader() -> None:
        leader = replicas.leader()
        killed.append(_pid_of(replicas, leader))
        replicas.kill(leader)

    _run(replicas, kill_the_leader)
    # Another replica took over and finished what the killed one had not.
    assert _dispatch_lock_holder(replicas.database) not in (None, *killed)


def test_a_replica_killed_while_running_jobs_has_them_finished_by_others(
    replicas: Replicas,
) -> None:
    held: list[str] = []

    def kill_a_runner() -> None:
        index, jobs = _freeze_a_runner(replicas)
        held.extend(jobs)
        replicas.kill(index)

    _run(replicas, kill_a_runner)
    assert held, "the killed replica held no run"
    # Its leases expired and other replicas ran those jobs to the end (checked by _run);
    # nothing is left under its name.
    assert not _leases(replicas.database, held)


def _freeze_a_runner(replicas: Replicas) -> tuple[int, list[str]]:
    """Stops (SIGSTOP) a replica that does not lead while it holds run leases; returns it
    and the jobs whose leases it holds, exactly: a stopped process releases nothing."""
    deadline = time.monotonic() + 60
    leader = replicas.leader()
    while time.monotonic() < deadline:
        for index, served in enumerate(replicas.processes):
            if index == leader or served is None:
                continue
            os.kill(served.process.pid, signal.SIGSTOP)
            jobs = _leases_of(replicas.database, served.process.pid)
            if jobs:
                return index, jobs
            os.kill(served.process.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("no replica but the leader ever held a run lease")


def _leases_of(database: str, pid: int) -> list[str]:
    """The jobs whose runs the process ``pid`` holds (its lease names carry its pid)."""
    with psycopg.connect(database, autocommit=True) as db:
        rows = db.execute(
            "SELECT job_id FROM run_leases WHERE split_part(holder, ':', 2) = %s", (str(pid),)
        ).fetchall()
    return [str(job_id) for (job_id,) in rows]


def test_every_replica_restarted_at_once_loses_no_job_and_no_event(replicas: Replicas) -> None:
    def restart_all() -> None:
        for index in range(REPLICAS):
            replicas.kill(index)
        with ThreadPoolExecutor(REPLICAS) as starting:  # all at once, as after a power cut
            list(starting.map(replicas.start, range(REPLICAS)))

    _run(replicas, restart_all)


def _pid_of(replicas: Replicas, index: int) -> int | None:
    served = replicas.processes[index]
    return served.process.pid if served is not None else None
