"""A short chaos run, as CI makes it every time (``bench/chaos.py`` is the full one).

20 jobs of mixed size and backend, 10 watchers and 3 kill -9s of a real ``serve`` process,
restarted on its state each time: every job ends DONE exactly once (or says it was
interrupted), no retried submission makes a second job, no watcher misses or repeats an
event, and the SQLite file is sound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.chaos.run import Config, run
from tests.postgres import fresh_database

JOBS, WATCHERS, KILLS = 20, 10, 3
DEADLINE_S = 90.0
"""Past it the run stops waiting and reports what is not final (pytest's timeout is 120 s)."""


@contextmanager
def _database(store: str) -> Iterator[str | None]:
    if store == "sqlite":
        yield None
        return
    with fresh_database() as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_kill_9_at_random_moments_loses_no_job_and_no_event(tmp_path: Path, store: str) -> None:
    with _database(store) as database:
        config = Config(JOBS, WATCHERS, KILLS, database=database, deadline_s=DEADLINE_S)
        report = run(config, tmp_path)
    tally = report.tally
    assert tally.problems == []
    assert (report.kills.kills, report.restarts) == (KILLS, KILLS)
    assert tally.jobs_completed + tally.jobs_interrupted == JOBS
    assert (tally.jobs_stuck, tally.jobs_made_twice) == (0, 0)
    assert (tally.events_lost, tally.events_duplicated, tally.watchers_unfinished) == (0, 0, 0)
    assert report.integrity == ("ok" if store == "sqlite" else "n/a (PostgreSQL)")
