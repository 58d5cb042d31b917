"""Per-user limits, checked before a job is created, so that nothing is half-made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.errors import QuotaExceededError

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import User
    from ibmq_gateway.server.core.settings import Settings
    from ibmq_gateway.server.jobs.submission import Submission

_ACTIVE_JOBS = "jobs queued or running at once"


@dataclass(frozen=True)
class Quotas:
    """The limits every user but an admin works within."""

    active_jobs: int
    circuits_per_job: int
    shots: int
    request_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        """The quotas the settings configure."""
        return cls(
            active_jobs=settings.quota_active_jobs,
            circuits_per_job=settings.quota_circuits_per_job,
            shots=settings.quota_shots,
            request_bytes=settings.quota_request_bytes,
        )

    def check_request(self, user: User, request_bytes: int) -> None:
        """Raises QuotaExceededError for a request larger than the user may send."""
        self._check(user, "request size in bytes", self.request_bytes, request_bytes)

    def check_submission(self, user: User, submission: Submission, active_jobs: int) -> None:
        """Raises QuotaExceededError if the job would take the user past a limit."""
        self._check(user, "circuits per job", self.circuits_per_job, len(submission.circuits))
        shots = submission.run_options.shots
        if shots is not None:
            self._check(user, "shots per circuit", self.shots, shots)
        self._check(user, _ACTIVE_JOBS, self.active_jobs, active_jobs + 1)

    def active_limit(self, user: User) -> int | None:
        """The most jobs ``user`` may have queued or running at once (None: no limit)."""
        return None if user.admin else self.active_jobs

    def past_active_limit(self, user: User, active: int) -> QuotaExceededError:
        """The refusal of a job to a user who has ``active`` jobs queued or running."""
        return QuotaExceededError(user.name, _ACTIVE_JOBS, self.active_jobs, active + 1)

    @staticmethod
    def _check(user: User, limit: str, value: int, asked: int) -> None:
        if not user.admin and asked > value:
            raise QuotaExceededError(user.name, limit, value, asked)
