"""A chaos run: jobs and watchers while the gateway is killed with kill -9 at random moments.

It starts a real ``ibmq-gateway serve`` and sends ``--jobs`` jobs of mixed size and backend
(Bell pairs on Aer, noisy circuits on ``fake_manila``, 20-qubit statevector circuits),
``--watchers`` WatchJob streams resumed after every disconnect with their last token, and
``--kills`` kill -9s (right after a burst of submissions, on a job's state change, at a
random moment), restarting the gateway on the same state and port each time. Submissions
cut by a kill are sent again with the same request id. At the end it checks the store:
every job final, each DONE exactly once (or ended with an error saying it was
interrupted), no job made twice, every watcher given every event of its job once and in
order, and (SQLite) ``PRAGMA integrity_check``. Exit status 1 when a check fails.

    .venv/bin/python bench/chaos.py [--jobs 200 --watchers 100 --kills 10]
        [--database postgresql://127.0.0.1:5432/postgres [--replicas 3]]

With ``--database`` it runs on a throwaway database made on that PostgreSQL server (the
URL's database is only where it connects to make it) and drops it afterwards; with
``--replicas`` several gateways share it and a random one is killed each time.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from shared import positive

# The chaos machinery lives with the tests (CI runs a short chaos), from the repo's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.chaos.run import Config, Report, run

DATABASE_PREFIX = "igw_chaos_"


def main() -> int:
    arguments = _parser().parse_args()
    if arguments.replicas > 1 and not arguments.database:
        sys.exit("--replicas needs --database (replicas share one PostgreSQL database)")
    root = Path(tempfile.mkdtemp(prefix="igw-chaos-"))
    with _database(arguments.database) as database:
        config = Config(
            jobs=arguments.jobs,
            watchers=arguments.watchers,
            kills=arguments.kills,
            replicas=arguments.replicas,
            database=database,
            seed=arguments.seed,
            deadline_s=arguments.deadline,
        )
        try:
            report = run(config, root)
        except BaseException:
            print(f"FAIL: the run broke off (state and gateway logs kept in {root})")
            raise
    _print(report, root)
    if report.ok:
        shutil.rmtree(root)
    return 0 if report.ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=positive, default=200)
    parser.add_argument("--watchers", type=positive, default=100)
    parser.add_argument("--kills", type=positive, default=10)
    parser.add_argument("--database", help="a PostgreSQL server's URL (default: SQLite)")
    parser.add_argument("--replicas", type=positive, default=1)
    parser.add_argument("--seed", type=int, default=0, help="fixes the jobs and kill choices")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the run")
    return parser


@contextlib.contextmanager
def _database(server: str | None) -> Iterator[str | None]:
    """A new database on ``server`` for the run, dropped afterwards (None: SQLite)."""
    if not server:
        yield None
        return
    name = DATABASE_PREFIX + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(statement.format(sql.Identifier(name)))


def _print(report: Report, root: Path) -> None:
    config, tally, kills = report.config, report.tally, report.kills
    store = "SQLite" if config.database is None else f"PostgreSQL, {config.replicas} replica(s)"
    triggers = ", ".join(f"{count} {name}" for name, count in sorted(kills.by_trigger.items()))
    for label, value in (
        ("store", store),
        ("jobs", f"{config.jobs} ({tally.jobs_completed} DONE once, "
                 f"{tally.jobs_interrupted} ended as interrupted, "
                 f"{tally.jobs_run_again} ran again after a kill)"),
        ("watchers", f"{config.watchers} ({report.watcher_reconnects} reconnects)"),
        ("kills survived", f"{kills.kills} ({triggers}; "
                           f"{kills.with_submissions_in_flight} with SubmitJob calls in flight)"),
        ("restarts", report.restarts),
        ("submissions retried", f"{report.submission_retries} "
                                f"({report.deduplicated} answered by an earlier commit)"),
        ("jobs made twice", tally.jobs_made_twice),
        ("events checked", tally.events_checked),
        ("events lost / duplicated", f"{tally.events_lost} / {tally.events_duplicated}"),
        ("watchers without their final event", tally.watchers_unfinished),
        ("jobs stuck", tally.jobs_stuck),
        ("integrity_check", report.integrity),
        ("wall time", f"{report.wall_s:.1f} s"),
    ):  # fmt: skip
        print(f"{label:>36}: {value}")
    for problem in tally.problems[:20]:
        print(f"  PROBLEM {problem}")
    if len(tally.problems) > 20:
        print(f"  ... and {len(tally.problems) - 20} more problems")
    print("PASS" if report.ok else f"FAIL (state and gateway logs kept in {root})")


if __name__ == "__main__":
    sys.exit(main())
