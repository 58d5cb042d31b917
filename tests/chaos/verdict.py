"""What the chaos run must show, checked against the store: every job final, each DONE
exactly once (or ended with an error that says it was interrupted), no job made twice, and
every watcher given every event of its job after its starting point, once, in order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.chaos.clients import Submission, Watch
from tests.chaos.ledger import StoredJob

_ERRORS = frozenset({"ERROR_CREATING_JOB", "ERROR_VALIDATING_JOB", "ERROR_RUNNING_JOB"})


@dataclass
class Tally:
    """The counts the run prints, and every problem found (none in a good run)."""

    jobs_completed: int = 0
    jobs_interrupted: int = 0
    jobs_run_again: int = 0
    jobs_stuck: int = 0
    jobs_made_twice: int = 0
    events_checked: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    watchers_unfinished: int = 0
    problems: list[str] = field(default_factory=list)


def judge(
    submissions: list[Submission], watches: list[Watch], stored: dict[str, StoredJob]
) -> Tally:
    """Checks the submissions, the stored jobs and the watchers; returns the tally."""
    tally = Tally()
    _check_submissions(submissions, stored, tally)
    for job_id, job in stored.items():
        _check_job(job_id, job, tally)
    for watch in watches:
        _check_watch(watch, stored.get(watch.job_id), tally)
    return tally


def _check_submissions(
    submissions: list[Submission], stored: dict[str, StoredJob], tally: Tally
) -> None:
    for index, submission in enumerate(submissions):
        if submission.error:
            tally.problems.append(f"submission {index} failed: {submission.error}")
    answered = {s.job_id for s in submissions if s.job_id}
    # A job no answer names was made by an attempt whose retry made another one.
    tally.jobs_made_twice = len(stored.keys() - answered)
    if tally.jobs_made_twice:
        tally.problems.append(f"{tally.jobs_made_twice} jobs stored that no submission got")
    if missing := answered - stored.keys():
        tally.problems.append(f"answered but not stored: {sorted(missing)[:5]}")


def _check_job(job_id: str, job: StoredJob, tally: Tally) -> None:
    sequences = [sequence for sequence, _ in job.history]
    states = [state for _, state in job.history]
    if sequences != list(range(1, len(sequences) + 1)) or job.sequence != len(sequences):
        tally.problems.append(f"{job_id}: history {sequences}, row at {job.sequence}")
    moves = [state for i, state in enumerate(states) if i == 0 or state != states[i - 1]]
    # Queue-position updates repeat QUEUED; a run starts only from the queue.
    if moves.count("RUNNING") > moves.count("QUEUED"):
        tally.problems.append(f"{job_id}: ran without being queued again: {moves}")
    tally.jobs_run_again += moves.count("RUNNING") > 1
    if not job.final:
        tally.jobs_stuck += 1
        tally.problems.append(f"{job_id}: stuck in {job.state}")
    elif states.count("COMPLETED") == 1 and job.state == "COMPLETED" and job.has_result:
        tally.jobs_completed += 1
    elif job.state in _ERRORS and "interrupt" in job.error.lower() and "COMPLETED" not in states:
        tally.jobs_interrupted += 1
    else:
        tally.problems.append(f"{job_id}: ended {job.state} ({job.error!r}) after {moves}")


def _check_watch(watch: Watch, job: StoredJob | None, tally: Tally) -> None:
    tally.events_checked += len(watch.seen)
    if not watch.finished:
        tally.watchers_unfinished += 1
        tally.problems.append(f"watcher of {watch.job_id} never saw the final event")
    if job is None:
        tally.problems.append(f"watcher of {watch.job_id}: no such job stored")
        return
    expected = _expected(watch, (sequence for sequence, _ in job.history))
    lost = len(set(expected) - set(watch.seen))
    duplicated = len(watch.seen) - len(set(watch.seen))
    tally.events_lost += lost
    tally.events_duplicated += duplicated
    if watch.seen != expected:
        tally.problems.append(
            f"watcher of {watch.job_id} saw {watch.seen}, stored {expected}"
            f" ({lost} lost, {duplicated} duplicated, {watch.breaks} reconnects)"
        )


def _expected(watch: Watch, stored: Iterable[int]) -> list[int]:
    """The stored sequences the watcher should have seen, in order."""
    if watch.after is not None:
        return [sequence for sequence in stored if sequence > watch.after]
    # Started without a token: from the state it was first shown.
    first = watch.seen[0] if watch.seen else 1
    return [sequence for sequence in stored if sequence >= first]
