"""What the store holds after the run, read with SQL, not through the gateway.

The same queries run on the SQLite file and on the PostgreSQL database; the gateway's own
answers are what the run checks against this.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

FINAL_STATES = frozenset(
    {"COMPLETED", "CANCELLED", "ERROR_CREATING_JOB", "ERROR_VALIDATING_JOB", "ERROR_RUNNING_JOB"}
)


@dataclass(frozen=True)
class Store:
    """Where the run's gateways keep their state: a SQLite file or a PostgreSQL URL."""

    sqlite_path: Path | None = None
    database: str | None = None

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        if self.database:
            with psycopg.connect(self.database, autocommit=True) as db:
                return db.execute(query).fetchall()
        assert self.sqlite_path is not None
        with closing(sqlite3.connect(self.sqlite_path)) as db:
            return db.execute(query).fetchall()


@dataclass
class StoredJob:
    """One job as stored: its row, its event history and whether it has a result."""

    state: str
    sequence: int
    history: list[tuple[int, str]] = field(default_factory=list)
    """(sequence, state) of each event, in log order."""
    error: str = ""
    """The error message of its last event, if any."""
    has_result: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def states(store: Store) -> dict[str, str]:
    """Each job's state now (the run polls this until every job is final)."""
    return dict(store.rows("SELECT id, state FROM jobs"))


def read(store: Store) -> dict[str, StoredJob]:
    """Every job with its history, by id."""
    jobs = {
        job_id: StoredJob(state, sequence)
        for job_id, state, sequence in store.rows("SELECT id, state, sequence FROM jobs")
    }
    events = store.rows("SELECT job_id, sequence, snapshot FROM events ORDER BY revision")
    for job_id, sequence, snapshot in events:
        document = json.loads(snapshot)
        job = jobs.setdefault(job_id, StoredJob("(no row)", 0))
        job.history.append((sequence, document["state"]))
        job.error = (document.get("error") or {}).get("message", "")
    for (job_id,) in store.rows("SELECT job_id FROM results"):
        if job_id in jobs:
            jobs[job_id].has_result = True
    return jobs


def request_count(store: Store) -> int:
    """Idempotency keys stored: one per job a submission made."""
    return int(store.rows("SELECT count(*) FROM requests")[0][0])


def integrity_check(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file: ``ok``, or what is broken."""
    with closing(sqlite3.connect(path)) as db:
        return "; ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))
