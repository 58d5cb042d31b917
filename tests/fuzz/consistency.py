"""The store after a fuzz run: every job's event history gapless and ending in its state.

Read with SQL by the chaos run's ledger, not through the gateway, so a gateway that answers
well but stored badly is still caught.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos import ledger


def problems(sqlite_path: Path) -> list[str]:
    """What is wrong with the store (an empty list when it is consistent)."""
    found = [f"{job_id}: {problem}" for job_id, job in _jobs(sqlite_path) if (problem := _of(job))]
    integrity = ledger.integrity_check(sqlite_path)
    if integrity != "ok":
        found.append(f"PRAGMA integrity_check: {integrity}")
    return found


def job_count(sqlite_path: Path) -> int:
    return len(ledger.states(ledger.Store(sqlite_path)))


def _jobs(sqlite_path: Path) -> list[tuple[str, ledger.StoredJob]]:
    return sorted(ledger.read(ledger.Store(sqlite_path)).items())


def _of(job: ledger.StoredJob) -> str:
    sequences = [sequence for sequence, _ in job.history]
    if not sequences:
        return f"no events, row in {job.state}"
    if sequences != list(range(1, len(sequences) + 1)):
        return f"history has gaps or repeats: {sequences}"
    if job.sequence != sequences[-1]:
        return f"row at sequence {job.sequence}, history ends at {sequences[-1]}"
    last_state = job.history[-1][1]
    if last_state != job.state:
        return f"row in {job.state}, last event in {last_state}"
    return ""
